"""What the customer's repair page shows, read in two statements after the repair itself.

The page shows the repair's public history, the customer's thread, its invoices and payments,
the estimate (its lines, or the approved charges), the drop-off appointment, the photos and the
people named: ``load_lists`` reads all of them at once, then the billing service adds up the
totals. Each list is the one its service defines, so the page and the services agree on what
is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from ..domain_errors import Conflict
from ..loading import Rows, load_lists
from ..models import (
    Appointment,
    Invoice,
    InvoiceStatus,
    Message,
    Payment,
    PaymentStatus,
    RequestPhoto,
    ServiceRequest,
    StatusChange,
    User,
)
from ..services import drop_off, messages
from ..services.billing import balances, estimates, payments, stripe_gateway
from ..services.billing.summaries import BillingSummary


@dataclass
class RepairPage:
    """The parts of the repair page that come from the database."""

    timeline: list[StatusChange]
    thread: list[Message]
    summary: BillingSummary
    appointment: Optional[Appointment]
    estimate: Optional[estimates.EstimateView]
    deposit: Optional[int]
    # The customer and the technician: the session keeps only weak references, so naming them
    # on the page reads nothing more only while someone holds them.
    people: list[User]


def read(service_request: ServiceRequest, *, photos: bool) -> RepairPage:
    """Everything the page shows of ``service_request`` (and its ``photos`` when the viewer may
    see them, as ``service_request.photos``)."""
    r = service_request
    people = [i for i in (r.customer_id, r.technician_id) if i is not None]
    lists = [
        Rows(
            StatusChange,
            [StatusChange.service_request_id == r.id, StatusChange.is_public.is_(True)],
            [StatusChange.id],
        ),
        # The customer's view of the thread, whoever looks: staff notes never show here.
        messages.thread_rows(r, staff=False),
        Rows(
            Invoice,
            [Invoice.service_request_id == r.id, Invoice.status == InvoiceStatus.ISSUED],
            [Invoice.issued_at, Invoice.id],
        ),
        Rows(
            Payment,
            [Payment.service_request_id == r.id, Payment.status == PaymentStatus.SUCCEEDED],
            [Payment.succeeded_at, Payment.id],
        ),
        estimates.line_rows(r),
        estimates.charge_rows(r),
        drop_off.scheduled_rows(r),
        payments.deposit_rows(r),
        # The customer and the technician (``RepairPage.people``).
        Rows(User, [User.id.in_(people)]),
        Rows(RequestPhoto, [RequestPhoto.service_request_id == r.id if photos else sa.false()]),
    ]
    timeline, thread, invoices, paid, lines, charges, scheduled, deposits, named, shots = (
        load_lists(*lists, options=[messages.SENDERS])
    )
    if photos:
        set_committed_value(r, "photos", shots)
    invoiced, paid_total = balances.totals_by_request([r.id])[r.id]
    summary = BillingSummary(invoiced, paid_total, invoiced - paid_total, invoices, paid)
    return RepairPage(
        timeline=timeline,
        thread=thread,
        summary=summary,
        appointment=drop_off.drop_off_appointment(r, scheduled),
        estimate=estimates.customer_view(r, lines, charges),
        deposit=_deposit_due(r, summary, taken=bool(deposits)),
        people=named,
    )


def _deposit_due(r: ServiceRequest, summary: BillingSummary, *, taken: bool) -> Optional[int]:
    """A booking deposit, when the shop takes them online and nothing is owed or invoiced."""
    if summary.balance > 0 or not stripe_gateway.stripe_enabled():
        return None
    try:
        return payments.deposit_due(r, invoiced=summary.invoiced, taken=taken)
    except Conflict:
        return None

"""What the back office's repair page shows, read in three statements after the repair itself.

The page shows the repair's history, the whole thread, payments, appointments, parts, warranty
claims, the people named, the estimate, charges, invoices and labour, and the parts and
technicians its forms offer: ``load_lists`` reads the forms' choices, then all the rest at once
(the money through ``billing.ledger``, whose rules then read nothing more), then the billing
service adds up the totals.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ..loading import Rows, load_lists
from ..models import (
    Appointment,
    EstimateLine,
    Message,
    Part,
    Role,
    ServiceRequest,
    StatusChange,
    User,
)
from ..services import messages
from ..services.billing import estimates, ledger
from ..services.billing.ledger import RepairMoney

# The forms' part pickers offer at most this many parts in stock.
PART_CHOICES = 500


@dataclass
class RequestPage:
    """The rows the repair page shows."""

    history: list[StatusChange]
    thread: list[Message]
    appointments: list[Appointment]
    claims: list[ServiceRequest]
    technicians: list[User]
    parts: list[Part]  # in stock, by SKU (reserving a part)
    priced_parts: list[Part]  # in stock, by name (an estimate's part line)
    estimate_lines: list[EstimateLine]
    money: RepairMoney
    # The customer, technician, no-charge decider and the original repair of a warranty claim:
    # the session holds them only weakly, so the page holds them while it is shown.
    named: list

    @property
    def unread(self) -> bool:
        """Whether the thread has messages no staff member has read yet."""
        return any(m.read_by_staff_at is None for m in self.thread)


def read(req: ServiceRequest, viewer: User) -> RequestPage:
    """Everything the repair page shows of ``req`` to ``viewer`` (staff)."""
    people = [i for i in (req.customer_id, req.technician_id, req.no_charge_by_id) if i]
    in_stock = Part.on_hand - Part.reserved > 0
    # The forms' choices: long lists of two narrow tables, read on their own so that their
    # rows do not carry every other table's columns.
    technicians, parts, priced = load_lists(
        Rows(
            User,
            [User.role == Role.TECHNICIAN, User.active.is_(True)],
            [User.full_name, User.id],
        ),
        Rows(Part, [in_stock], [Part.sku], limit=PART_CHOICES),
        Rows(Part, [in_stock], [Part.name, Part.id], limit=PART_CHOICES),
    )
    lists = [
        Rows(StatusChange, [StatusChange.service_request_id == req.id], [StatusChange.id]),
        messages.thread_rows(req, staff=viewer.is_staff),
        Rows(Appointment, [Appointment.service_request_id == req.id], [Appointment.start]),
        Rows(ServiceRequest, [ServiceRequest.warranty_of_id == req.id], [ServiceRequest.id]),
        estimates.line_rows(req),
        Rows(User, [User.id.in_(people)]),
        Rows(
            ServiceRequest,
            [ServiceRequest.id == req.warranty_of_id if req.warranty_of_id else sa.false()],
        ),
        *ledger.lists(req),
    ]
    found = load_lists(
        *lists,
        options=[
            sa.orm.joinedload(StatusChange.actor),
            messages.SENDERS,
            sa.orm.joinedload(User.customer_profile),
            *ledger.OPTIONS,
        ],
    )
    history, thread, appointments, claims, lines, named, original = found[:7]
    return RequestPage(
        history=history,
        thread=thread,
        appointments=appointments,
        claims=claims,
        technicians=technicians,
        parts=parts,
        priced_parts=priced,
        estimate_lines=lines,
        money=ledger.assemble(req, found[7:]),
        named=[*named, *original],
    )

"""What a customer's repairs cost, what was paid and the documents behind it, for the
customer's pages (account, history, repair page): totals from the balances, issued invoices
and received payments, for many repairs in two statements."""

from __future__ import annotations

from dataclasses import dataclass

from ...loading import Rows, load_lists
from ...models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    ServiceRequest,
)
from . import balances


@dataclass
class BillingSummary:
    """What a repair cost, what was paid, and the documents behind it."""

    invoiced: int
    paid: int
    balance: int
    invoices: list[Invoice]
    payments: list[Payment]


def billing_summaries(service_requests) -> dict[int, BillingSummary]:
    """Totals (from the billing service) and documents for many requests in two statements:
    the issued invoices and succeeded payments together, then the totals."""
    ids = [r.id for r in service_requests]
    if not ids:
        return {}
    issued, paid = load_lists(
        Rows(
            Invoice,
            [Invoice.service_request_id.in_(ids), Invoice.status == InvoiceStatus.ISSUED],
            [Invoice.issued_at, Invoice.id],
        ),
        Rows(
            Payment,
            [Payment.service_request_id.in_(ids), Payment.status == PaymentStatus.SUCCEEDED],
            [Payment.succeeded_at, Payment.id],
        ),
    )
    invoices: dict[int, list[Invoice]] = {rid: [] for rid in ids}
    for inv in issued:
        invoices[inv.service_request_id].append(inv)
    payments: dict[int, list[Payment]] = {rid: [] for rid in ids}
    for pay in paid:
        payments[pay.service_request_id].append(pay)
    totals = balances.totals_by_request(ids)
    return {
        rid: BillingSummary(
            totals[rid][0],
            totals[rid][1],
            totals[rid][0] - totals[rid][1],
            invoices[rid],
            payments[rid],
        )
        for rid in ids
    }


def billing_summary(service_request: ServiceRequest) -> BillingSummary:
    """Totals and documents of one request."""
    return billing_summaries([service_request])[service_request.id]

"""What the money rules read about one repair, read at once.

Asked alone, each rule reads its own rows: the charges read the approved lines, the parts and
the labour; the next invoice reads the earlier invoices, their credit notes and lines; what is
due reads the totals. A page that shows all of it (the back office's repair page, the counter)
reads a ``RepairMoney`` instead and passes it to the rules, which then read nothing more:
``lists`` are its rows, to read together with the page's own (``loading.load_lists``), and
``assemble`` adds the totals (billing's balance rule, one statement).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from ...loading import Rows, load_lists
from ...models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LabourEntry,
    Payment,
    RepairCharge,
    RequestPart,
    ServiceRequest,
)
from . import balances

# Joined loads the rows need for what pages show of them.
OPTIONS = (sa.orm.joinedload(RequestPart.part), sa.orm.joinedload(LabourEntry.technician))


@dataclass
class RepairMoney:
    """A repair's money as the rules read it."""

    charges: list[RepairCharge]  # the approved estimate's lines
    parts: list[RequestPart]  # reserved for or used in the repair, with their parts
    labour: list[LabourEntry]  # recorded bench labour, with who did it
    documents: list[Invoice]  # issued invoices and credit notes, oldest first, with their lines
    payments: list[Payment]  # every payment, oldest first
    invoiced: int  # balances.invoiced_total
    paid: int  # balances.paid_total

    @property
    def balance(self) -> int:
        """``balances.balance_due``."""
        return self.invoiced - self.paid

    def issued_invoices(self) -> list[Invoice]:
        """``issuing.issued_invoices``: the invoices, not the credit notes."""
        return [doc for doc in self.documents if doc.kind == InvoiceKind.INVOICE]

    def credited(self, invoice: Invoice) -> tuple[int, int]:
        """``issuing.credited``: (net, tax) its credit notes took off ``invoice``."""
        notes = [
            doc
            for doc in self.documents
            if doc.kind == InvoiceKind.CREDIT_NOTE and doc.credit_for_id == invoice.id
        ]
        return sum(n.subtotal for n in notes), sum(n.tax for n in notes)


def lists(request: ServiceRequest) -> list[Rows]:
    """The rows of ``RepairMoney``, to read with others (in this order, then ``assemble``)."""
    issued = sa.and_(
        Invoice.service_request_id == request.id, Invoice.status == InvoiceStatus.ISSUED
    )
    return [
        Rows(RepairCharge, [RepairCharge.service_request_id == request.id], [RepairCharge.id]),
        Rows(RequestPart, [RequestPart.service_request_id == request.id], [RequestPart.id]),
        Rows(LabourEntry, [LabourEntry.service_request_id == request.id], [LabourEntry.id]),
        Rows(Invoice, [issued], [Invoice.id]),
        Rows(
            InvoiceLine,
            [InvoiceLine.invoice_id.in_(sa.select(Invoice.id).where(issued))],
            [InvoiceLine.id],
        ),
        Rows(Payment, [Payment.service_request_id == request.id], [Payment.id]),
    ]


def assemble(request: ServiceRequest, found: list[list]) -> RepairMoney:
    """``RepairMoney`` from the rows of ``lists`` (as ``load_lists`` returns them)."""
    charges, parts, labour, documents, lines, payments = found
    by_invoice: dict[int, list[InvoiceLine]] = {doc.id: [] for doc in documents}
    for line in lines:
        by_invoice[line.invoice_id].append(line)
    for doc in documents:
        set_committed_value(doc, "lines", by_invoice[doc.id])
    invoiced, paid = balances.totals_by_request([request.id])[request.id]
    return RepairMoney(charges, parts, labour, documents, payments, invoiced, paid)


def read(request: ServiceRequest) -> RepairMoney:
    """A repair's ``RepairMoney`` on its own (two statements)."""
    return assemble(request, load_lists(*lists(request), options=OPTIONS))

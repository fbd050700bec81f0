"""What the back office's repair page shows, read in three statements after the repair itself.

The page shows the repair's history, the whole thread, payments, appointments, parts, warranty
claims, the people named, the estimate, charges, invoices and labour, and the parts and
technicians its forms offer: one narrow statement reads the forms' choices (as plain rows: a
thousand ORM objects cost more CPU than the rest of the page's rows), ``load_lists`` all the
rest at once (the money through ``billing.ledger``, whose rules then read nothing more), then
the billing service adds up the totals.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ..extensions import db
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
    technicians: list[sa.Row]  # id, name (the technician's full name)
    parts: list[sa.Row]  # in stock, by SKU (reserving a part): id, sku, name, price, available
    priced_parts: list[sa.Row]  # the same, by name (an estimate's part line)
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
    technicians, parts, priced = choices()
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


def choices() -> tuple[list[sa.Row], list[sa.Row], list[sa.Row]]:
    """The forms' choices in one statement of plain rows: active technicians by name (id, name)
    and the parts in stock by SKU and by name (id, sku, name, price, available; at most
    PART_CHOICES of each)."""
    in_stock = Part.on_hand - Part.reserved > 0
    parts = [Part.id, Part.sku, Part.name, Part.price, (Part.on_hand - Part.reserved)]
    people = [
        User.id,
        sa.cast(sa.null(), Part.sku.type),
        User.full_name,
        sa.cast(sa.null(), Part.price.type),
        sa.cast(sa.null(), Part.on_hand.type),
    ]
    arms = []
    for which, (columns, where, order) in enumerate(
        (
            (people, [User.role == Role.TECHNICIAN, User.active.is_(True)], [User.full_name]),
            (parts, [in_stock], [Part.sku]),
            (parts, [in_stock], [Part.name]),
        )
    ):
        position = sa.func.row_number().over(order_by=[*order, columns[0]])
        names = ("id", "sku", "name", "price", "available")
        ranked = (
            sa.select(
                sa.literal(which).label("which"),
                *(column.label(name) for column, name in zip(columns, names, strict=True)),
                position.label("position"),
            )
            .where(*where)
            .subquery()
        )
        arms.append(sa.select(ranked).where(ranked.c.position <= PART_CHOICES))
    union = sa.union_all(*arms).subquery()
    found: tuple[list, list, list] = ([], [], [])
    for row in db.session.execute(sa.select(union).order_by(union.c.which, union.c.position)):
        found[row.which].append(row)
    return found

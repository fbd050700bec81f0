"""The counter: find a repair, take what it owes in one or several payments, complete it.

Staff take the money (cash with change, the shop's card terminal, bank transfer) through
``payments.record_offline_payment``. An admin's counter payment counts at once; a
technician's waits for an admin's verification, as every counter payment did before the
counter existed. Completion goes through ``repairs.move_by``, so the workflow and the
completion rule decide, and their refusal is shown as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

import sqlalchemy as sa

from ...domain_errors import Conflict, DomainError, NotFound, ValidationFailed
from ...extensions import db
from ...formatting import format_money
from ...models import (
    CustomerProfile,
    InvoiceLine,
    Notification,
    NotificationStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    RepairStatus,
    ServiceRequest,
    User,
    utcnow,
)
from .. import audit, notifications, repairs, search, tracking
from . import amounts, balances, charges, invoices, payments, totals
from .ledger import RepairMoney

SEARCH_LIMIT = 20
MAX_SEARCH = 300
# Statuses the counter lists first: devices waiting in the shop for their owner (a dispatched
# device has already left).
HANDOVER_STATUSES = (RepairStatus.READY_FOR_PICKUP, RepairStatus.PAYMENT_PENDING)
_REFERENCE_RE = re.compile(r"^(?:FMP)?[\s-]*[0-9A-Z]{6}$", re.IGNORECASE)
_TICKET_PATH_RE = re.compile(r"/track/([A-Za-z0-9_-]{16,64})/?$")
_PHONE_CHARS = " -().+/"


# ---------------------------------------------------------------- finding the repair


def in_scope(viewer: User) -> sa.ColumnElement[bool]:
    """The repairs a staff member handles at the counter: those they may see in the back
    office (``repairs.visible_to``); customers none."""
    return repairs.visible_to(viewer) if viewer.is_staff else sa.false()


def get_repair(viewer: User, request_id: int) -> ServiceRequest:
    """A repair the viewer may take payment for, else NotFound (no hint it exists)."""
    if not viewer.is_staff:
        raise NotFound("No such service request.")
    return repairs.get_for(viewer, request_id)


def ticket_token(text: str) -> Optional[str]:
    """The tracking token in a scanned job-ticket QR (the repair's tracking link), or None."""
    if "/track/" not in text:
        return None
    path = urlsplit(text.strip()).path if "://" in text else text.strip()
    match = _TICKET_PATH_RE.search(path)
    return match.group(1) if match else None


def _phone_digits(column: sa.ColumnElement) -> sa.ColumnElement:
    for char in _PHONE_CHARS:
        column = sa.func.replace(column, char, "")
    return column


def find_repairs(viewer: User, text: Optional[str]) -> list[ServiceRequest]:
    """Repairs matching what was typed or scanned at the counter: a job ticket's QR code, a
    reference, a customer's name or email, or a phone number in any format. Devices waiting
    to go home come first. Raises ValidationFailed when nothing usable was typed."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(
            "Type a reference, a name or a phone number, or scan the job ticket.",
            fields={"q": ["Required."]},
        )
    if len(text) > MAX_SEARCH:
        raise ValidationFailed(
            "That is too long to be a reference, a name or a phone number.",
            fields={"q": [f"At most {MAX_SEARCH} characters."]},
        )
    stmt = sa.select(ServiceRequest).where(in_scope(viewer))
    token = ticket_token(text)
    if token is not None:
        stmt = stmt.where(ServiceRequest.tracking_token == token)
    elif _REFERENCE_RE.match(text) and (
        exact := db.session.scalar(
            stmt.where(ServiceRequest.reference == tracking.normalise_reference(text))
        )
    ):
        return [exact]
    else:
        clause = _words_or_phone(text)
        if clause is None:
            raise ValidationFailed(
                "Type a reference, a name or a phone number, or scan the job ticket.",
                fields={"q": ["Required."]},
            )
        stmt = stmt.where(clause)
    handover = sa.case((ServiceRequest.status.in_(HANDOVER_STATUSES), 0), else_=1)
    stmt = stmt.order_by(handover, ServiceRequest.created_at.desc()).limit(SEARCH_LIMIT)
    return list(db.session.scalars(stmt.options(sa.orm.joinedload(ServiceRequest.customer))))


def _words_or_phone(text: str) -> Optional[sa.ColumnElement[bool]]:
    """Every word in the back office's search text, or a phone number compared by digits."""
    words = [c for c in (search.matches(w) for w in text.split()) if c is not None]
    clause = sa.and_(*words) if words else None
    digits = re.sub(r"\D", "", text)
    if len(digits) >= tracking.MIN_PHONE_DIGITS and not text.strip(_PHONE_CHARS + "0123456789"):
        stored = _phone_digits(CustomerProfile.phone)
        # A local number typed for an international one matches, and the other way round.
        by_phone = ServiceRequest.customer_id.in_(
            sa.select(CustomerProfile.user_id).where(
                sa.or_(
                    stored.like(f"%{digits}"),
                    sa.and_(
                        sa.func.length(stored) >= tracking.MIN_PHONE_DIGITS,
                        sa.literal(digits).like(sa.literal("%") + stored),
                    ),
                )
            )
        )
        clause = by_phone if clause is None else sa.or_(clause, by_phone)
    return clause


def ready_for_handover(viewer: User, limit: int = SEARCH_LIMIT) -> tuple[list[ServiceRequest], int]:
    """Repairs waiting to go home, oldest ready first (the counter's queue, up to ``limit``),
    and how many there are in all."""
    waiting = sa.and_(in_scope(viewer), ServiceRequest.status.in_(HANDOVER_STATUSES))
    rows = list(
        db.session.scalars(
            sa.select(ServiceRequest)
            .where(waiting)
            .options(sa.orm.joinedload(ServiceRequest.customer))
            .order_by(ServiceRequest.ready_at.asc().nulls_last(), ServiceRequest.id)
            .limit(limit)
        )
    )
    if len(rows) < limit:
        return rows, len(rows)
    return rows, int(db.session.scalar(sa.select(sa.func.count()).where(waiting)) or 0)


# ---------------------------------------------------------------- what is owed


def awaiting_verification(request: ServiceRequest, money: Optional[RepairMoney] = None) -> int:
    """Counter money recorded for a repair and not verified yet (it does not count yet).
    ``money``: the repair's money when already read (``ledger``)."""
    if money is not None:
        return sum(
            p.amount
            for p in money.payments
            if p.status == PaymentStatus.PENDING and p.method in payments.OFFLINE_METHODS
        )
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Payment.amount), 0)).where(
                Payment.service_request_id == request.id,
                Payment.status == PaymentStatus.PENDING,
                Payment.method.in_(payments.OFFLINE_METHODS),
            )
        )
        or 0
    )


def left_to_take(request: ServiceRequest, money: Optional[RepairMoney] = None) -> int:
    """What the counter may still take: the balance due minus money waiting for verification,
    so two cashiers cannot take the same balance twice."""
    due = balances.balance_due(request) if money is None else money.balance
    return max(due - awaiting_verification(request, money), 0)


@dataclass
class Uninvoiced:
    """Charges of a repair that no invoice bills yet: the lines its next invoice would have."""

    lines: list[InvoiceLine]

    @property
    def subtotal(self) -> int:
        return sum(line.net_amount for line in self.lines)

    @property
    def tax(self) -> int:
        return sum(line.tax_amount for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal + self.tax


def uninvoiced(
    request: ServiceRequest, money: Optional[RepairMoney] = None
) -> Optional[Uninvoiced]:
    """What ``invoices.issue_invoice`` would bill now, or None when every charge is invoiced
    (or there is none): the counter then offers to issue that invoice."""
    if request.no_charge or not charges.current_charges(request, money):
        return None
    pending = Uninvoiced(invoices.draft_lines(request, money))
    return pending if pending.total > 0 else None


# ---------------------------------------------------------------- taking money


@dataclass
class Taken:
    """What happened at the counter: the payment, the change to hand back, the completion."""

    payment: Payment
    tendered: int
    change: int
    completed: bool = False
    not_completed: Optional[str] = None  # why the repair was not completed, when it was asked

    @property
    def counted(self) -> bool:
        return self.payment.status == PaymentStatus.SUCCEEDED


def read_amount(raw: Optional[str], field: str, errors: dict[str, list[str]]) -> Optional[int]:
    """An amount typed at the counter ('79', '79.00', '79,5') in minor units; None when left
    blank. A wrong one adds a message for ``field`` to ``errors``."""
    text = (raw or "").strip()
    if not text:
        return None
    amount = amounts.parse_amount(text, totals.currency())
    if amount is None:
        most = format_money(amounts.MAX_AMOUNT, totals.currency())
        errors.setdefault(field, []).append(
            f"Enter an amount such as 79.00 (more than zero, at most {most})."
        )
    return amount


def take_payment(
    request: ServiceRequest,
    actor: User,
    *,
    method: str,
    amount: Optional[str] = None,
    tendered: Optional[str] = None,
    reference: Optional[str] = None,
    complete: bool = False,
) -> Taken:
    """Take money at the counter for a repair, as typed there (amounts are text).

    ``amount`` is what goes against the balance (blank: all that is left; a part payment is
    typed); ``tendered`` is the cash handed over (blank: the exact amount), never less than
    the amount. Nothing is
    saved when the input is refused. With ``complete``, a repair whose balance reaches zero
    moves to completed; a refused move leaves the payment in place and says why.
    """
    errors: dict[str, list[str]] = {}
    if method not in payments.OFFLINE_METHODS:
        labels = ", ".join(payments.method_label(m) for m in payments.OFFLINE_METHODS)
        errors["method"] = [f"Choose how the customer pays: {labels}."]
    applied = read_amount(amount, "amount", errors)
    cash = read_amount(tendered, "tendered", errors) if method == PaymentMethod.CASH else None
    if errors:
        raise ValidationFailed("Some fields need attention.", fields=errors)
    # One payment at a time per repair: a second cashier waits here, then sees the new balance.
    db.session.scalar(
        sa.select(ServiceRequest.id).where(ServiceRequest.id == request.id).with_for_update()
    )
    open_amount = left_to_take(request)
    if open_amount <= 0:
        waiting = awaiting_verification(request)
        if waiting:
            raise Conflict(
                f"Nothing is left to take on {request.reference}: "
                f"{format_money(waiting)} waits for an admin's verification."
            )
        raise Conflict(f"There is nothing to pay on {request.reference} right now.")
    if applied is None:
        applied = open_amount
    if applied > open_amount:
        most = format_money(open_amount)
        raise ValidationFailed(
            f"At most {most} is left to pay on {request.reference}.",
            fields={"amount": [f"At most {most}."]},
        )
    if cash is None:
        cash = applied
    if cash < applied:
        message = (
            f"The cash handed over ({format_money(cash)}) is less than the amount to pay "
            f"({format_money(applied)})."
        )
        raise ValidationFailed(message, fields={"tendered": [message]})
    payment = payments.record_offline_payment(
        request, amount=applied, method=method, actor=actor, reference=reference
    )
    if method == PaymentMethod.CASH:
        payment.tendered = cash
    if actor.is_admin:
        payments.verify_payment(payment, actor)
        settle_verification_alerts(payment)
    taken = Taken(payment=payment, tendered=cash, change=cash - applied)
    audit.record(
        actor,
        "counter_payment",
        payment,
        after={"amount": applied, "tendered": cash, "change": taken.change, "method": method},
    )
    if complete:
        _complete_if_paid(request, actor, taken)
    return taken


def settle_verification_alerts(payment: Payment) -> None:
    """An admin took the money themselves: the "payment to verify" alerts are answered."""
    db.session.execute(
        sa.update(Notification)
        .where(
            Notification.event == "payment_to_verify",
            Notification.dedup_key.like(f"payment\\_to\\_verify:{payment.id}:%", escape="\\"),
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow(), status=NotificationStatus.READ)
        .execution_options(synchronize_session=False)
    )


def _complete_if_paid(request: ServiceRequest, actor: User, taken: Taken) -> None:
    if not taken.counted:
        taken.not_completed = (
            "The payment waits for an admin's verification; "
            "the repair can be completed once it is verified."
        )
        return
    try:
        with db.session.begin_nested():
            repairs.move_by(
                actor, request, RepairStatus.COMPLETED, "Paid and collected at the counter."
            )
    except DomainError as exc:
        taken.not_completed = exc.message
        return
    taken.completed = True


# ---------------------------------------------------------------- receipts


def email_receipt(payment: Payment, actor: User) -> Notification:
    """E-mail a received payment's receipt (PDF) to its customer, through the outbox."""
    if payment.status != PaymentStatus.SUCCEEDED:
        raise Conflict("A receipt exists once the payment is received (verified).")
    customer = payment.customer
    if customer is None or not customer.email:
        raise Conflict("The buyer left no e-mail address: print the receipt instead.")
    sent_at = utcnow()
    rows = notifications.notify(
        customer,
        "receipt_sent",
        dedup_key=f"receipt_sent:{payment.id}:{sent_at:%Y%m%d%H%M%S}",
        service_request=payment.service_request,
        context={"attachments": [{"kind": "receipt", "payment_id": payment.id}]},
        channels=["email"],
        values={"payment": payment},
    )
    if not rows:
        raise Conflict("The receipt was just sent; wait a moment before sending it again.")
    audit.record(actor, "receipt_emailed", payment, after={"to": customer.email})
    return rows[0]

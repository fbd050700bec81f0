"""The counter checkout: find a repair, take its balance, hand over the receipt, complete it.

Each form posts to one endpoint that calls one service function (services/billing's counter,
sales and invoices, or services/repairs), commits, and redirects back; a refused form is shown
again with its errors and what was typed.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Optional

import sqlalchemy as sa
from flask import abort, flash, redirect, request, session
from flask_admin import expose
from flask_login import current_user

from .. import workflow
from ..database import reads_outside_transaction
from ..domain_errors import DomainError, NotFound
from ..extensions import db
from ..loading import Rows, load_lists
from ..models import Payment, RepairStatus, ServiceRequest, User
from ..services import repairs
from ..services.billing import balances, counter, invoices, ledger, payments, sales
from .base import STAFF, SecuredPage, commit_or_flash

# The outcome of the last payment, shown once on the next page (like a flash message).
LAST_TAKEN = "counter_taken"
# Rows a new walk-in sale starts with (the page's script adds more).
SALE_ROWS = 3


def _methods() -> list[tuple[str, str]]:
    return [(m, payments.method_label(m)) for m in payments.OFFLINE_METHODS]


def _read_repair(req: ServiceRequest) -> tuple[ledger.RepairMoney, list[User]]:
    """The repair's money, its customer and who took its payments, in two statements (the
    people are returned to be held while the page is shown: the session holds them weakly)."""
    # One IN over a UNION, not "id = customer OR id IN (recorders)": PostgreSQL estimated the
    # OR at half of all users and hash-joined the whole table twice (22 of 28 ms on 20k users).
    people = sa.union(
        sa.select(sa.literal(req.customer_id)),
        sa.select(Payment.recorded_by_id).where(Payment.service_request_id == req.id),
    )
    found = load_lists(
        *ledger.lists(req),
        Rows(User, [User.id.in_(people)]),
        options=[*ledger.OPTIONS, sa.orm.joinedload(User.customer_profile)],
    )
    return ledger.assemble(req, found[:-1]), found[-1]


class CheckoutView(SecuredPage):
    """The counter: staff take payments (a technician's wait for an admin's verification)."""

    access = STAFF

    # -- finding the repair

    @expose("/")
    def index(self):
        text = request.args.get("q")
        found: list[ServiceRequest] = []
        error: Optional[str] = None
        status = 200
        if text is not None:
            try:
                found = counter.find_repairs(current_user, text)
            except DomainError as exc:
                error, status = exc.message, exc.status
            else:
                if len(found) == 1:
                    return redirect(self.get_url(".repair_page", request_id=found[0].id))
                if not found:
                    error, status = f"Nothing matches “{text.strip()}”.", 404
        ready, waiting = counter.ready_for_handover(current_user)
        return (
            self.render(
                "admin/checkout/index.html",
                q=text or "",
                found=found,
                error=error,
                ready=ready,
                waiting=waiting,
                totals=balances.totals_by_request(r.id for r in [*found, *ready]),
            ),
            status,
        )

    # -- one repair at the counter

    def _repair_or_404(self, request_id: int) -> ServiceRequest:
        try:
            return counter.get_repair(current_user, request_id)
        except NotFound:
            abort(404)

    def _back(self, req: ServiceRequest):
        return redirect(self.get_url(".repair_page", request_id=req.id))

    def _render_repair(self, req: ServiceRequest, *, form=None, error=None, status=200):
        # ``people`` are held while the page renders (see ``_read_repair``).
        money, people = _read_repair(req)
        taken = session.pop(LAST_TAKEN, None)
        last = db.session.get(Payment, taken["payment_id"]) if taken else None
        return (
            self.render(
                "admin/checkout/repair.html",
                req=req,
                invoices=money.documents,
                uninvoiced=counter.uninvoiced(req, money),
                payments=money.payments,
                balance=money.balance,
                waiting=counter.awaiting_verification(req, money),
                left=counter.left_to_take(req, money),
                can_complete=repairs.may_move(current_user, req)
                and workflow.is_legal_move(req.status, RepairStatus.COMPLETED),
                methods=_methods(),
                form=form or {},
                error=error,
                taken=taken if last is not None and last.service_request_id == req.id else None,
                last=last,
            ),
            status,
        )

    @expose("/repair/<int:request_id>")
    @reads_outside_transaction
    def repair_page(self, request_id: int):
        return self._render_repair(self._repair_or_404(request_id))

    @expose("/repair/<int:request_id>/pay", methods=["POST"])
    def pay(self, request_id: int):
        req = self._repair_or_404(request_id)
        form = request.form
        try:
            taken = counter.take_payment(
                req,
                current_user,
                method=form.get("method", ""),
                amount=form.get("amount"),
                tendered=form.get("tendered"),
                reference=form.get("reference"),
                complete=form.get("complete") == "y",
            )
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            return self._render_repair(req, form=form, error=exc, status=exc.status)
        session[LAST_TAKEN] = {
            "payment_id": taken.payment.id,
            "tendered": taken.tendered,
            "change": taken.change,
            "completed": taken.completed,
            "not_completed": taken.not_completed,
        }
        return self._back(req)

    @expose("/repair/<int:request_id>/invoice", methods=["POST"])
    def issue_invoice(self, request_id: int):
        req = self._repair_or_404(request_id)
        commit_or_flash(lambda: invoices.issue_invoice(req, current_user), "Invoice issued.")
        return self._back(req)

    @expose("/repair/<int:request_id>/complete", methods=["POST"])
    def complete(self, request_id: int):
        req = self._repair_or_404(request_id)
        commit_or_flash(
            lambda: repairs.move_by(
                current_user, req, RepairStatus.COMPLETED, "Collected at the counter."
            ),
            f"{req.reference} is completed.",
        )
        return self._back(req)

    @expose("/receipt/<int:payment_id>/email", methods=["POST"])
    def email_receipt(self, payment_id: int):
        payment = db.session.get(Payment, payment_id)
        if payment is None or payment.service_request_id is None:
            abort(404)
        req = self._repair_or_404(payment.service_request_id)
        ok = commit_or_flash(lambda: counter.email_receipt(payment, current_user))
        if ok:
            flash(f"The receipt is on its way to {payment.customer.email}.", "success")
        return self._back(req)

    # -- walk-in sales

    @expose("/sale", methods=["GET", "POST"])
    def sale(self):
        form = request.form if request.method == "POST" else {}
        rows = list(
            zip_longest(
                request.form.getlist("part_id"), request.form.getlist("quantity"), fillvalue=""
            )
        )
        preview, error, status = None, None, 200
        if request.method == "POST":
            try:
                if form.get("step") == "review":
                    preview = sales.basket(rows).totals
                else:
                    sold = sales.sell(
                        current_user,
                        rows,
                        method=form.get("method", ""),
                        tendered=form.get("tendered"),
                        reference=form.get("reference"),
                        bill_to_name=form.get("bill_to_name"),
                    )
                    db.session.commit()
                    return redirect(self.get_url(".sale_page", invoice_id=sold.invoice.id))
            except DomainError as exc:
                db.session.rollback()
                error, status = exc, exc.status
        shown = [row for row in rows if row[0]]
        shown += [("", "1")] * max(SALE_ROWS - len(shown), 0 if preview else 1)
        return (
            self.render(
                "admin/checkout/sale.html",
                parts=sales.sellable_parts(),
                rows=shown,
                preview=preview,
                methods=_methods(),
                form=form,
                error=error,
                recent=sales.recent_sales(),
            ),
            status,
        )

    @expose("/sale/<int:invoice_id>")
    def sale_page(self, invoice_id: int):
        try:
            invoice = sales.get_sale(current_user, invoice_id)
        except NotFound:
            abort(404)
        return self.render(
            "admin/checkout/sold.html",
            invoice=invoice,
            payment=sales.payment_of(invoice),
        )

"""The repair page's billing forms: build and send the estimate, record labour, issue invoices,
decide no-charge. Each form posts here, calls one service, commits and goes back to the page."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Optional

from flask import abort, current_app, flash, request
from flask_admin import expose
from flask_login import current_user

from ..domain_errors import ValidationFailed
from ..extensions import db
from ..models import (
    EstimateLine,
    LineKind,
    Part,
    RepairStatus,
    ServiceRequest,
)
from ..services.billing import amounts, approvals, charges, estimates, invoices, labour
from .base import commit_or_flash, parse_id
from .request_page import RequestPage


def parse_hours(raw: Optional[str]) -> Optional[int]:
    """Hours typed on a form ('1.5', '0,75', '2') as whole minutes; None when empty.

    Raises ValidationFailed for anything else (text, negative, zero, over 100 hours).
    """
    text = (raw or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        hours = Decimal(text)
    except InvalidOperation:
        hours = Decimal("NaN")
    if not hours.is_finite() or not 0 < hours <= 100:
        raise ValidationFailed(
            "Give the hours as a number such as 1.5.", fields={"hours": ["Such as 1.5."]}
        )
    minutes = int((hours * 60).to_integral_value())
    if minutes < 1:
        raise ValidationFailed("Give at least one minute.", fields={"hours": ["Too short."]})
    return minutes


def _amount(raw: Optional[str]) -> Optional[int]:
    """A typed amount in minor units; None when empty; 0 (refused by the service) if wrong."""
    if not (raw or "").strip():
        return None
    return amounts.parse_amount(raw, current_app.config["SHOP_CURRENCY"]) or 0


def billing_context(req: ServiceRequest, page: RequestPage) -> dict:
    """What the repair page shows about money: estimate, charges, invoices, labour (from the
    rows the page read, ``request_page``)."""
    money = page.money
    view = estimates.staff_view(req, page.estimate_lines)
    draft = invoices.draft_lines(req, money)
    return {
        "estimate_editable": req.status not in estimates.LOCKED_STATUSES,
        "estimate": view,
        "estimate_lines": list(zip(page.estimate_lines, view.totals.lines, strict=True)),
        "charged": charges.charges_totals(req, money),
        "approved_charges": bool(money.charges),
        "invoices": money.documents,
        "next_invoice_total": sum(line.net_amount + line.tax_amount for line in draft),
        "labour_entries": money.labour,
        "completion_blocker": charges.completion_blocker(req, money)
        if req.status in (RepairStatus.READY_FOR_PICKUP, RepairStatus.DISPATCHED)
        else None,
        "priced_parts": page.priced_parts,
        "labour_rate": current_app.config["LABOUR_RATE"],
        "tax_rate_bp": current_app.config["TAX_RATE_BP"],
    }


class RequestBillingMixin:
    """Billing endpoints of the service request view (see ``RequestDetailMixin``)."""

    def _estimate_form(self, request_id: int, add) -> object:
        req = self._request_or_404(request_id)
        commit_or_flash(lambda: add(req), "Estimate line added (not sent yet).")
        return self._back(req)

    @expose("/view/<int:request_id>/estimate/part", methods=["POST"])
    def post_estimate_part(self, request_id: int):
        form = request.form
        part_id = parse_id(form.get("part_id", ""))
        part = db.session.get(Part, part_id) if part_id else None
        if part is None:
            req = self._request_or_404(request_id)
            flash("Choose a part from the list.", "error")
            return self._back(req)
        quantity = parse_id(form.get("quantity", "1")) or 0
        return self._estimate_form(
            request_id,
            lambda req: estimates.add_part_line(
                req, part, quantity, current_user, tax_exempt=form.get("tax_exempt") == "y"
            ),
        )

    @expose("/view/<int:request_id>/estimate/labour", methods=["POST"])
    def post_estimate_labour(self, request_id: int):
        form = request.form

        def add(req):
            estimates.add_labour_line(
                req,
                actor=current_user,
                description=form.get("description"),
                minutes=parse_hours(form.get("hours")),
                amount=_amount(form.get("amount")),
                tax_exempt=form.get("tax_exempt") == "y",
            )

        return self._estimate_form(request_id, add)

    @expose("/view/<int:request_id>/estimate/<kind>", methods=["POST"])
    def post_estimate_amount(self, request_id: int, kind: str):
        if kind not in (LineKind.FEE, LineKind.DISCOUNT):
            abort(404)
        form = request.form
        add_line = estimates.add_fee_line if kind == LineKind.FEE else estimates.add_discount_line
        return self._estimate_form(
            request_id,
            lambda req: add_line(
                req,
                actor=current_user,
                description=form.get("description", ""),
                amount=_amount(form.get("amount")) or 0,
                tax_exempt=form.get("tax_exempt") == "y",
            ),
        )

    @expose("/view/<int:request_id>/estimate/lines/<int:line_id>/remove", methods=["POST"])
    def post_estimate_remove(self, request_id: int, line_id: int):
        req = self._request_or_404(request_id)
        line = db.session.get(EstimateLine, line_id) if parse_id(line_id) else None
        if line is None or line.service_request_id != req.id:
            abort(404)
        commit_or_flash(lambda: estimates.remove_line(line, current_user), "Line removed.")
        return self._back(req)

    @expose("/view/<int:request_id>/estimate/send", methods=["POST"])
    def post_estimate_send(self, request_id: int):
        req = self._request_or_404(request_id)
        commit_or_flash(
            lambda: approvals.send_estimate(req, current_user),
            "Estimate sent: the customer approves or declines it on their repair page.",
        )
        return self._back(req)

    @expose("/view/<int:request_id>/labour", methods=["POST"])
    def post_labour(self, request_id: int):
        req = self._request_or_404(request_id)
        form = request.form

        def record():
            minutes = parse_hours(form.get("hours"))
            labour.record_labour(
                req,
                description=form.get("description", ""),
                minutes=minutes or 0,
                amount=_amount(form.get("amount")),
                actor=current_user,
            )

        commit_or_flash(record, "Labour recorded.")
        return self._back(req)

    @expose("/view/<int:request_id>/invoice", methods=["POST"])
    def post_invoice(self, request_id: int):
        req = self._request_or_404(request_id)
        commit_or_flash(lambda: invoices.issue_invoice(req, current_user), "Invoice issued.")
        return self._back(req)

    @expose("/view/<int:request_id>/invoice/deposit", methods=["POST"])
    def post_deposit_invoice(self, request_id: int):
        req = self._request_or_404(request_id)
        amount = _amount(request.form.get("amount")) or 0
        commit_or_flash(
            lambda: invoices.issue_deposit_invoice(req, amount=amount, actor=current_user),
            "Deposit invoice issued.",
        )
        return self._back(req)

    @expose("/view/<int:request_id>/no-charge", methods=["POST"])
    def post_no_charge(self, request_id: int):
        req = self._request_or_404(request_id)
        if not current_user.is_admin:
            abort(403)
        if request.form.get("action") == "clear":
            commit_or_flash(
                lambda: charges.clear_no_charge(req, actor=current_user),
                "The repair is billed as usual again.",
            )
        else:
            commit_or_flash(
                lambda: charges.mark_no_charge(
                    req, reason=request.form.get("reason", ""), actor=current_user
                ),
                "Marked no-charge: it can be completed without payment.",
            )
        return self._back(req)

"""Payments: list and filters, verify a counter payment, refund (full or partial), and
resolve a Stripe payment held for review (accept the reported amount, or reject it)."""

from __future__ import annotations

from flask import current_app, flash, request
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_login import current_user

from ..formatting import decimal_amount, format_money, local_time
from ..labels import PAYMENT_METHOD, PAYMENT_STATE, label, options
from ..models import Payment, PaymentStatus
from ..services.billing import amounts, balances, payments, refunds, review
from .base import SecuredModelView
from .filters import DateFromFilter, DateToFilter


def _status(payment: Payment) -> str:
    """The status; a held payment says both figures (expected and what Stripe reported)."""
    if payment.status == PaymentStatus.NEEDS_REVIEW:
        return f"Needs review: {review.summary(payment)}"
    return label(PAYMENT_STATE, payment.status)


def parse_amount(raw: str | None) -> int | None:
    """'12.50' → 1250 minor units in the shop's currency; None when it is not an amount."""
    return amounts.parse_amount(raw, current_app.config["SHOP_CURRENCY"])


def _paid_for(payment: Payment) -> str:
    """The repair's reference, or the walk-in sale's invoice number."""
    if payment.service_request is not None:
        return payment.service_request.reference
    return f"Sale {payment.invoice.number}" if payment.invoice is not None else "—"


def _payer(payment: Payment) -> str:
    """The customer, or the name a walk-in buyer gave."""
    if payment.customer is not None:
        return payment.customer.full_name
    name = payment.invoice.bill_to_name if payment.invoice is not None else None
    return name or "Walk-in customer"


class PaymentView(SecuredModelView):
    """Money received; changes only through services/billing (payments, refunds, review)."""

    can_create = False
    can_edit = False
    can_delete = False
    can_export = True
    column_list = (
        "created_at",
        "service_request",
        "customer",
        "method",
        "purpose",
        "amount",
        "status",
        "reference",
        "recorded_by",
        "verified_by",
        "balance",
    )
    column_default_sort = ("created_at", True)
    column_sortable_list = ("created_at", "amount", "status", "method")
    column_searchable_list = ("service_request.reference", "customer.email", "reference")
    search_hint = "repair reference, customer email or payment reference"
    column_formatters = {
        "created_at": lambda v, c, m, n: local_time(m.created_at),
        "service_request": lambda v, c, m, n: _paid_for(m),
        "customer": lambda v, c, m, n: _payer(m),
        "amount": lambda v, c, m, n: format_money(m.amount, m.currency),
        "status": lambda v, c, m, n: _status(m),
        "method": lambda v, c, m, n: label(PAYMENT_METHOD, m.method),
        "purpose": lambda v, c, m, n: m.purpose.capitalize(),
        "recorded_by": lambda v, c, m, n: m.recorded_by.full_name if m.recorded_by else "",
        "verified_by": lambda v, c, m, n: m.verified_by.full_name if m.verified_by else "",
        "balance": lambda v, c, m, n: format_money(
            balances.balance_due(m.service_request)
            if m.service_request is not None
            else balances.invoice_balance(m.invoice)
        ),
    }
    column_labels = {"balance": "Balance", "service_request": "For"}
    # Spreadsheets get decimal amounts ("79.00") with the currency code beside them.
    column_export_list = (*column_list, "currency")
    column_formatters_export = {
        **column_formatters,
        "amount": lambda v, c, m, n: decimal_amount(m.amount, m.currency),
        # The machine values stay in the spreadsheet's method, purpose and status columns.
        "method": lambda v, c, m, n: m.method,
        "purpose": lambda v, c, m, n: m.purpose,
        "status": lambda v, c, m, n: m.status,
        "balance": lambda v, c, m, n: decimal_amount(
            balances.balance_due(m.service_request)
            if m.service_request is not None
            else balances.invoice_balance(m.invoice),
            m.currency,
        ),
        "currency": lambda v, c, m, n: m.currency.upper(),
    }

    def __init__(self, **kwargs):
        self.column_filters = [
            FilterEqual(Payment.status, "Status", options=options(PAYMENT_STATE)),
            FilterEqual(Payment.method, "Method", options=options(PAYMENT_METHOD)),
            DateFromFilter(Payment.created_at, "Date"),
            DateToFilter(Payment.created_at, "Date"),
        ]
        super().__init__(Payment, **kwargs)

    @action("verify", "Verify", "Mark the selected counter payments as received?")
    def action_verify(self, ids):
        """An admin confirms counter payments (cash, card terminal, bank transfer)."""
        self.run_each(
            ids,
            "verify",
            lambda p: payments.verify_payment(p, current_user),
            "Verified",
            label=lambda p: f"Payment {p.id}",
        )

    @action(
        "accept_reported",
        "Accept Stripe's amount",
        "Count the selected held payments for the amount Stripe reported?",
    )
    def action_accept_reported(self, ids):
        """Resolve held Stripe payments by counting what Stripe really charged."""
        self.run_each(
            ids,
            "accept_reported",
            lambda p: review.accept_reported(p, current_user),
            "Accepted the amount Stripe reported",
            label=lambda p: f"Payment {p.id}",
        )

    @action("reject_review", "Reject held payment")
    def action_reject_review(self, ids):
        """Resolve held Stripe payments by refusing them (with a reason)."""
        selected = self.load(ids)
        if not selected:
            return None
        if "reason" not in request.form:
            return self.render(
                "admin/payments/reject_review_form.html",
                selected=selected,
                summaries={p.id: review.summary(p) for p in selected},
            )
        self.run_each(
            [str(p.id) for p in selected],
            "reject_review",
            lambda p: review.reject(p, current_user, request.form.get("reason")),
            "Rejected; refund any money taken in the Stripe Dashboard",
            label=lambda p: f"Payment {p.id}",
        )
        return None

    @action("refund", "Refund")
    def action_refund(self, ids):
        """Refund one payment, fully or partly."""
        selected = self.load(ids)
        if len(selected) != 1:
            flash("Refund one payment at a time.", "error")
            return None
        payment = selected[0]
        if "amount" not in request.form:
            return self.render(
                "admin/payments/refund_form.html",
                payment=payment,
                refundable=balances.refundable_amount(payment),
            )
        amount = parse_amount(request.form.get("amount"))
        if amount is None:
            flash("Give a positive amount.", "error")
            return None
        self.run_each(
            [str(payment.id)],
            "refund",
            lambda p: refunds.refund(
                p, amount=amount, actor=current_user, reason=request.form.get("reason")
            ),
            f"Refunded {format_money(amount, payment.currency)}",
            label=lambda p: f"Payment {p.id}",
        )
        return None

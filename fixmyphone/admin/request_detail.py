"""The request page: timeline, parts, payments, messages, check-in, and its small forms.

Every form posts to one endpoint that calls one service function, commits, and redirects back.
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, request
from flask_admin import expose
from flask_login import current_user

from .. import workflow
from ..database import reads_outside_transaction
from ..domain_errors import DomainError, ValidationFailed
from ..extensions import db
from ..labels import PAYMENT_METHOD, options
from ..models import (
    DEVICE_TYPES,
    OFFLINE_METHODS,
    MovementKind,
    Part,
    RequestPart,
    ServiceRequest,
    User,
)
from ..services import check_in, inventory, messages, passcodes, repairs, tickets, warranty
from ..services.billing import payments
from . import request_page
from .base import commit_or_flash, parse_id
from .filters import parse_local_date
from .payments import parse_amount
from .request_billing import billing_context


class RequestDetailMixin:
    """Adds ``/view/<id>`` and its form endpoints to the service request view."""

    def _request_or_404(self, request_id: int) -> ServiceRequest:
        """The repair if it is in the viewer's scope (the view's ``get_one``), else 404."""
        return self.get_one(request_id)

    def _back(self, req: ServiceRequest):
        return redirect(self.get_url(".request_page", request_id=req.id))

    @expose("/view/<int:request_id>")
    @reads_outside_transaction
    def request_page(self, request_id: int, passcode: str | None = None):
        req = self._request_or_404(request_id)
        page = request_page.read(req, current_user)
        html = self.render(
            "admin/requests/detail.html",
            req=req,
            history=page.history,
            thread=page.thread,
            lines=page.money.parts,
            payments=page.money.payments,
            appointments=page.appointments,
            balance=page.money.balance,
            next_statuses=workflow.allowed_moves(req.status),
            parts=page.parts,
            technicians=page.technicians,
            may_move=repairs.may_move(current_user, req),
            under_warranty=warranty.under_warranty(req),
            claims=page.claims,
            intake_parts=check_in.INTAKE_PARTS,
            intake_states=check_in.INTAKE_STATES,
            passcode=passcode,
            payment_methods=options(PAYMENT_METHOD, OFFLINE_METHODS),
            device_types=DEVICE_TYPES,
            **billing_context(req, page),
        )
        # Read once shown; committing earlier would expire everything the page read.
        if page.unread:
            messages.mark_read(req, current_user)
            db.session.commit()
        return html

    @expose("/view/<int:request_id>/message", methods=["POST"])
    def post_message(self, request_id: int):
        req = self._request_or_404(request_id)
        internal = request.form.get("visibility", "public") == "internal"
        commit_or_flash(
            lambda: messages.post_message(
                req, current_user, request.form.get("body", ""), internal=internal
            ),
            "Internal note added." if internal else "Message sent to the customer.",
        )
        return self._back(req)

    @expose("/view/<int:request_id>/status", methods=["POST"])
    def post_status(self, request_id: int):
        req = self._request_or_404(request_id)

        def move():
            due = None
            if raw := (request.form.get("estimated_completion") or "").strip():
                try:
                    due = parse_local_date(raw)
                except ValueError as exc:
                    raise ValidationFailed("Give the due date as YYYY-MM-DD.") from exc
            repairs.move_by(
                current_user,
                req,
                request.form.get("status", ""),
                request.form.get("note") or None,
                estimated_completion=due,
                public=request.form.get("visibility", "public") != "internal",
            )

        commit_or_flash(move, "Status changed.")
        return self._back(req)

    @expose("/view/<int:request_id>/assign", methods=["POST"])
    def post_assign(self, request_id: int):
        req = self._request_or_404(request_id)
        if not current_user.is_admin:
            abort(403)
        key = parse_id(request.form.get("technician_id", ""))
        tech = db.session.get(User, key) if key else None
        commit_or_flash(
            lambda: repairs.assign_technician(req, tech, current_user), "Technician assigned."
        )
        return self._back(req)

    @expose("/view/<int:request_id>/intake", methods=["POST"])
    def post_intake(self, request_id: int):
        req = self._request_or_404(request_id)
        form = request.form

        def save():
            check_in.record_intake(
                req,
                current_user,
                checks={key: form.get(key, "") for key in check_in.INTAKE_PARTS},
                water_damage=form.get("water_damage") == "y",
                passcode_given=bool(form.get("passcode")) or form.get("passcode_given") == "y",
                notes=form.get("notes"),
            )
            if form.get("passcode"):
                passcodes.set_passcode(req, form.get("passcode"), current_user)
            if form.get("location"):
                check_in.set_location(req, form.get("location", ""), current_user)

        commit_or_flash(save, "Intake checklist saved.")
        return self._back(req)

    @expose("/view/<int:request_id>/device", methods=["POST"])
    def post_device(self, request_id: int):
        req = self._request_or_404(request_id)
        form = request.form
        commit_or_flash(
            lambda: repairs.update_device(
                req,
                current_user,
                device_type=form.get("device_type", ""),
                brand=form.get("brand", ""),
                model=form.get("model", ""),
                imei=form.get("imei"),
                issue_description=form.get("issue_description", ""),
            ),
            "Device details saved.",
        )
        return self._back(req)

    @expose("/view/<int:request_id>/location", methods=["POST"])
    def post_location(self, request_id: int):
        req = self._request_or_404(request_id)
        commit_or_flash(
            lambda: check_in.set_location(req, request.form.get("location", ""), current_user),
            "Location updated.",
        )
        return self._back(req)

    @expose("/view/<int:request_id>/passcode", methods=["POST"])
    def post_passcode(self, request_id: int):
        req = self._request_or_404(request_id)
        commit_or_flash(
            lambda: passcodes.set_passcode(req, request.form.get("passcode"), current_user),
            "Passcode saved (encrypted).",
        )
        return self._back(req)

    @expose("/view/<int:request_id>/passcode/reveal", methods=["POST"])
    def post_reveal(self, request_id: int):
        req = self._request_or_404(request_id)
        try:
            value = passcodes.reveal(req, current_user)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return self._back(req)
        if value is None:
            flash("No passcode is stored for this device.", "info")
            return self._back(req)
        return self.request_page(request_id, passcode=value)

    @expose("/view/<int:request_id>/parts", methods=["POST"])
    def post_reserve(self, request_id: int):
        req = self._request_or_404(request_id)
        part_id = parse_id(request.form.get("part_id", ""))
        part = db.session.get(Part, part_id) if part_id else None
        if part is None:
            flash("Choose a part.", "error")
            return self._back(req)
        quantity = parse_id(request.form.get("quantity", "1")) or 0
        commit_or_flash(
            lambda: inventory.reserve_part(req, part, quantity, current_user),
            f"Reserved {quantity} × {part.sku}.",
        )
        return self._back(req)

    @expose("/view/<int:request_id>/parts/<int:line_id>/<op>", methods=["POST"])
    def post_part_line(self, request_id: int, line_id: int, op: str):
        req = self._request_or_404(request_id)
        line = db.session.get(RequestPart, line_id) if parse_id(line_id) else None
        if (
            line is None
            or line.service_request_id != req.id
            or op not in (MovementKind.CONSUME, MovementKind.RELEASE)
        ):
            abort(404)
        fn = inventory.consume_part if op == MovementKind.CONSUME else inventory.release_part
        commit_or_flash(lambda: fn(line, current_user), f"Part {op}d.")
        return self._back(req)

    @expose("/view/<int:request_id>/warranty", methods=["POST"])
    def post_warranty(self, request_id: int):
        req = self._request_or_404(request_id)
        if not current_user.is_admin:
            abort(403)
        created: list[ServiceRequest] = []
        ok = commit_or_flash(
            lambda: created.append(
                warranty.open_claim(req, request.form.get("issue_description", ""), current_user)
            )
        )
        if ok:
            flash(f"Warranty claim {created[0].reference} opened (no charge).", "success")
            return self._back(created[0])
        return self._back(req)

    @expose("/view/<int:request_id>/payment", methods=["POST"])
    def post_payment(self, request_id: int):
        req = self._request_or_404(request_id)
        amount = parse_amount(request.form.get("amount"))
        commit_or_flash(
            lambda: payments.record_offline_payment(
                req,
                amount=amount or 0,
                method=request.form.get("method", ""),
                actor=current_user,
                reference=request.form.get("reference"),
            ),
            "Payment recorded; an admin verifies it on the Payments page.",
        )
        return self._back(req)

    @expose("/view/<int:request_id>/ticket.pdf")
    def ticket(self, request_id: int):
        req = self._request_or_404(request_id)
        return Response(
            tickets.job_ticket_pdf(req),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{req.reference}.pdf"'},
        )

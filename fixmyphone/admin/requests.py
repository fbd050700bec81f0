"""Service requests: the filtered list, bulk actions, and (in request_detail) the detail page."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, current_app, flash, has_app_context, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm import Query

from .. import workflow
from ..database import reads_outside_transaction
from ..extensions import db
from ..formatting import local_time
from ..models import Role, ServiceRequest, User
from ..services import messages, repairs, tickets
from ..services import search as search_text
from ..services.billing import amounts, approvals
from .base import STAFF, SecuredModelView, parse_id
from .filters import DateFromFilter, DateToFilter, IntEqualFilter, OverdueFilter
from .request_billing import RequestBillingMixin
from .request_detail import RequestDetailMixin


def technician_options() -> list[tuple[str, str]]:
    """Active technicians as (id, name) choices (none while the app is being built)."""
    if not has_app_context():
        return []
    rows = db.session.execute(
        sa.select(User.id, User.full_name)
        .where(User.role == Role.TECHNICIAN, User.active)
        .order_by(User.full_name)
    ).all()
    return [(str(i), name) for i, name in rows]


def _reference_link(view, context, model, name):
    url = view.get_url(".request_page", request_id=model.id)
    return Markup('<a href="{}">{}</a>').format(url, model.reference)


# The list's total counts up to here; past it the pager shows "10,000+" pages' worth. A search
# word that matches most of a chain's history would otherwise count every match on every page.
COUNT_CAP = 10_000


class AtLeast(int):
    """A count that stopped at the cap: a number for the pager, "10,000+" on the page."""

    def __str__(self) -> str:
        return f"{int(self):,}+"


class CappedCount(Query):
    """Flask-Admin's count query, counting matches only up to COUNT_CAP (+1 to know it went
    past): filters and search still chain onto it as onto any query."""

    def scalar(self):
        matches = self.with_entities(sa.literal(1)).limit(COUNT_CAP + 1).subquery()
        total = self.session.execute(sa.select(sa.func.count()).select_from(matches)).scalar()
        return AtLeast(COUNT_CAP) if total > COUNT_CAP else total


class ServiceRequestView(RequestDetailMixin, RequestBillingMixin, SecuredModelView):
    """Repairs. Technicians see only the ones assigned to them."""

    access = STAFF
    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    can_export = True
    list_template = "admin/requests/list.html"
    column_list = (
        "reference",
        "status",
        "customer",
        "technician",
        "brand",
        "model",
        "location",
        "estimated_completion",
        "created_at",
    )
    column_export_list = column_list
    column_labels = {
        "created_at": "Opened",
        "estimated_completion": "Due",
        "imei": "IMEI",
        "customer.full_name": "customer name",
        "customer.email": "email",
        "customer.customer_profile.phone": "phone",
    }
    column_default_sort = ("created_at", True)
    column_sortable_list = (
        "reference",
        "status",
        "brand",
        "model",
        "estimated_completion",
        "created_at",
        ("customer", "customer.full_name"),
        ("technician", "technician.full_name"),
    )
    # What the search box searches: these values are copied into ServiceRequest.search_text,
    # which the search reads (services/search.py keeps the two in step).
    column_searchable_list = (
        "reference",
        "imei",
        "brand",
        "model",
        "customer.full_name",
        "customer.email",
        "customer.customer_profile.phone",
    )
    search_hint = "reference, IMEI, brand, model, customer name, email or phone"
    column_formatters = {
        "reference": _reference_link,
        "status": lambda v, c, m, n: workflow.label(m.status),
        "customer": lambda v, c, m, n: m.customer.full_name,
        "technician": lambda v, c, m, n: m.technician.full_name if m.technician else "—",
        "estimated_completion": lambda v, c, m, n: local_time(m.estimated_completion),
        "created_at": lambda v, c, m, n: local_time(m.created_at),
    }
    column_formatters_export = {
        "status": lambda v, c, m, n: m.status,
        "customer": lambda v, c, m, n: m.customer.email,
        "technician": lambda v, c, m, n: m.technician.email if m.technician else "",
    }

    def __init__(self, **kwargs):
        self.column_filters = [
            FilterEqual(ServiceRequest.status, "Status", options=list(workflow.STATUSES.items())),
            IntEqualFilter(ServiceRequest.technician_id, "Technician", options=technician_options),
            DateFromFilter(ServiceRequest.created_at, "Opened"),
            DateToFilter(ServiceRequest.created_at, "Opened"),
            FilterLike(ServiceRequest.brand, "Brand"),
            OverdueFilter(),
        ]
        super().__init__(ServiceRequest, **kwargs)

    @expose("/")
    @reads_outside_transaction
    def index_view(self):
        # The technician filter lists today's technicians, not those at start-up.
        self._refresh_filters_cache()
        return super().index_view()

    # -- row scope: repairs.visible_to (technicians work on their assigned repairs only)

    def _scoped(self, query):
        return query.filter(repairs.visible_to(current_user))

    def get_query(self):
        return self._scoped(super().get_query())

    def get_count_query(self):
        return self._scoped(
            CappedCount([sa.func.count()], session=db.session()).select_from(self.model)
        )

    # -- search: each word a case-insensitive substring of a searched column (see services/search)

    def _apply_search(self, query, count_query, joins, count_joins, search):
        """One LIKE per word on search_text, which holds every column_searchable_list value
        (PostgreSQL: one trigram index; a broad word lets the created_at index stop early)."""
        for term in search.split():
            clause = search_text.matches(term)
            if clause is None:
                continue
            query = query.filter(clause)
            if count_query is not None:
                count_query = count_query.filter(clause)
        return query, count_query, joins, count_joins

    def is_action_allowed(self, name: str) -> bool:
        if name == "assign":
            return current_user.is_admin
        return super().is_action_allowed(name)

    def _action_form(self, action_name: str, ids, **extra):
        """Ask for the action's parameter; the form posts back to the same action."""
        return self.render(
            "admin/requests/action_form.html",
            action_name=action_name,
            ids=ids,
            selected=self.load(ids),
            statuses=workflow.STATUSES,
            technicians=technician_options(),
            **extra,
        )

    @action("assign", "Assign technician")
    def action_assign(self, ids):
        """Give the selected repairs to one technician."""
        tech_id = request.form.get("technician_id")
        if tech_id is None:
            return self._action_form("assign", ids)
        technician = None
        if tech_id:
            key = parse_id(tech_id)
            technician = db.session.get(User, key) if key else None
            if technician is None:
                flash("Choose a technician.", "error")
                return None
        self.run_each(
            ids,
            "assign",
            lambda r: repairs.assign_technician(r, technician, current_user),
            "Assigned",
            label=lambda r: r.reference,
        )
        return None

    @action("move_status", "Move status")
    def action_move_status(self, ids):
        """Move each selected repair; illegal moves are refused one by one with the reason."""
        target = request.form.get("status")
        if target is None:
            return self._action_form("move_status", ids)
        note = (request.form.get("note") or "").strip() or None

        self.run_each(
            ids,
            "move_status",
            lambda req: repairs.move_by(current_user, req, target, note),
            f"Moved to {workflow.label(target)}",
            label=lambda r: r.reference,
        )
        return None

    @action("send_quote", "Send quote")
    def action_send_quote(self, ids):
        """Send the same quote to each selected repair's customer."""
        raw = request.form.get("amount")
        if raw is None:
            return self._action_form("send_quote", ids)
        # An unreadable amount becomes 0, which send_quote refuses per repair with its reason.
        amount = amounts.parse_amount(raw, current_app.config["SHOP_CURRENCY"]) or 0
        details = request.form.get("details") or ""
        self.run_each(
            ids,
            "send_quote",
            lambda r: approvals.send_single_amount(
                r, amount=amount, details=details, actor=current_user
            ),
            "Quote sent",
            label=lambda r: r.reference,
        )
        return None

    @action("note", "Add note")
    def action_note(self, ids):
        """An internal note (staff only) or a public message to each customer."""
        body = request.form.get("body")
        if body is None:
            return self._action_form("note", ids)
        internal = request.form.get("visibility", "internal") != "public"
        self.run_each(
            ids,
            "note",
            lambda r: messages.post_message(r, current_user, body, internal=internal),
            "Internal note added" if internal else "Message sent",
            label=lambda r: r.reference,
        )
        return None

    @action("print_ticket", "Print job ticket")
    def action_print_ticket(self, ids):
        """One PDF with a job ticket page per selected repair."""
        selected = self.load(ids)
        if not selected:
            flash("Select at least one repair.", "error")
            return None
        pdf = tickets.job_tickets_pdf(selected)
        name = selected[0].reference if len(selected) == 1 else "job-tickets"
        return Response(
            pdf,
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
        )

"""Inventory: parts (stock changes only through the ledger), movements, low stock, CSV."""

from __future__ import annotations

from flask import Response, flash, redirect, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_login import current_user

from ..extensions import db
from ..models import Part, StockMovement
from ..services import inventory
from ..services.errors import DomainError
from ..templating import format_money, local_time
from .base import SecuredModelView


class PartView(SecuredModelView):
    """Spare parts: on hand, reserved, available, reorder level."""

    can_delete = False
    can_export = True
    list_template = "admin/parts/list.html"
    column_list = (
        "sku",
        "name",
        "on_hand",
        "reserved",
        "available",
        "reorder_level",
        "price",
        "sellable",
    )
    column_export_list = column_list
    column_searchable_list = ("sku", "name", "compatible_models")
    column_sortable_list = ("sku", "name", "on_hand", "reserved", "reorder_level", "price")
    column_formatters = {
        "price": lambda v, c, m, n: format_money(m.price),
        "available": lambda v, c, m, n: m.available,
    }
    column_formatters_export = {"available": lambda v, c, m, n: m.available}
    # Stock counts change only through receive/adjust/reserve/consume (the ledger).
    form_columns = (
        "sku",
        "name",
        "compatible_models",
        "cost",
        "price",
        "reorder_level",
        "sellable",
    )
    column_labels = {"sellable": "Sold at the counter"}
    column_descriptions = {
        "cost": "minor units (cents)",
        "price": "minor units (cents)",
        "sellable": "An accessory the counter checkout may sell without a repair",
    }

    def __init__(self, **kwargs):
        super().__init__(Part, **kwargs)

    def _quantity_form(self, name: str, ids, label: str):
        return self.render(
            "admin/parts/quantity_form.html",
            action_name=name,
            ids=ids,
            selected=self.load(ids),
            label=label,
        )

    def _quantity(self, *, allow_negative: bool) -> int | None:
        raw = (request.form.get("quantity") or "").strip()
        try:
            value = int(raw)
        except ValueError:
            return None
        return value if (allow_negative or value > 0) else None

    @action("receive", "Receive stock")
    def action_receive(self, ids):
        """Add delivered units to each selected part."""
        if "quantity" not in request.form:
            return self._quantity_form("receive", ids, "Units received")
        qty = self._quantity(allow_negative=False)
        if qty is None:
            flash("Give a positive number of units.", "error")
            return None
        note = request.form.get("note")
        self.run_each(
            ids,
            "receive",
            lambda p: inventory.receive(p, qty, current_user, note),
            "Received",
            label=lambda p: p.sku,
        )
        return None

    @action("adjust", "Adjust count")
    def action_adjust(self, ids):
        """Correct the count after a stock-take (negative removes units)."""
        if "quantity" not in request.form:
            return self._quantity_form("adjust", ids, "Change (+/-)")
        qty = self._quantity(allow_negative=True)
        if not qty:
            flash("Give a non-zero whole number.", "error")
            return None
        note = request.form.get("note")
        self.run_each(
            ids,
            "adjust",
            lambda p: inventory.adjust(p, qty, current_user, note),
            "Adjusted",
            label=lambda p: p.sku,
        )
        return None

    @expose("/low-stock")
    def low_stock(self):
        return self.render("admin/parts/low_stock.html", parts=inventory.low_stock_parts())

    @expose("/export.csv")
    def export_parts(self):
        return Response(
            inventory.export_csv(),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="parts.csv"'},
        )

    @expose("/import", methods=["GET", "POST"])
    def import_parts(self):
        if request.method == "GET":
            return self.render("admin/parts/import.html")
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("Choose a CSV file.", "error")
            return redirect(self.get_url(".import_parts"))
        try:
            text = upload.read().decode("utf-8-sig")
            created, updated, problems = inventory.import_csv(text, current_user)
            db.session.commit()
        except UnicodeDecodeError:
            db.session.rollback()
            flash("The file is not UTF-8 text.", "error")
            return redirect(self.get_url(".import_parts"))
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(self.get_url(".import_parts"))
        flash(f"Imported: {created} new, {updated} updated.", "success")
        for problem in problems[:20]:
            flash(problem, "error")
        return redirect(self.get_url(".index_view"))


class StockMovementView(SecuredModelView):
    """The stock ledger, read-only."""

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    can_export = True
    column_list = (
        "created_at",
        "part",
        "kind",
        "quantity",
        "on_hand_after",
        "reserved_after",
        "service_request_id",
        "actor_id",
        "note",
    )
    column_default_sort = ("id", True)
    column_formatters = {
        "created_at": lambda v, c, m, n: local_time(m.created_at),
        "part": lambda v, c, m, n: m.part.sku,
    }
    column_searchable_list = ("part.sku", "note")

    def __init__(self, **kwargs):
        kinds = ("receive", "adjust", "reserve", "release", "consume", "sale", "return")
        self.column_filters = [
            FilterEqual(StockMovement.kind, "Kind", options=[(k, k) for k in kinds])
        ]
        super().__init__(StockMovement, **kwargs)

"""Inventory: parts (stock changes only through the ledger), movements, low stock, CSV."""

from __future__ import annotations

from flask import Response, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_login import current_user
from markupsafe import Markup

from ..domain_errors import DomainError
from ..extensions import db
from ..formatting import decimal_amount, format_money, local_time
from ..labels import MOVEMENT, options
from ..models import Part, StockMovement
from ..services import inventory, parts_csv
from .base import SecuredModelView
from .money_field import MoneyField


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
    column_export_list = (*column_list, "currency")
    column_searchable_list = ("sku", "name", "compatible_models")
    search_hint = "SKU, part name or compatible models"
    column_sortable_list = ("sku", "name", "on_hand", "reserved", "reorder_level", "price")
    column_formatters = {
        "price": lambda v, c, m, n: format_money(m.price),
        "available": lambda v, c, m, n: m.available,
    }
    column_formatters_export = {
        "available": lambda v, c, m, n: m.available,
        # A decimal price with its currency, as spreadsheets expect money.
        "price": lambda v, c, m, n: decimal_amount(m.price),
        "currency": lambda v, c, m, n: current_app.config["SHOP_CURRENCY"].upper(),
    }
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
    # Money is typed and shown as money ("49.99"), stored in minor units.
    form_overrides = {"cost": MoneyField, "price": MoneyField}
    column_descriptions = {
        "cost": "What the part costs the shop, before tax (e.g. 24.50)",
        "price": "What the customer pays, before tax (e.g. 49.99)",
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
            parts_csv.export_csv(),
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
            created, updated, problems = parts_csv.import_csv(text, current_user)
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
    """The stock ledger, read-only: which part, what happened, the signed change to on-hand
    stock and (for reservations) to reserved stock, for which repair, by whom and why."""

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    can_export = True
    column_list = (
        "created_at",
        "part",
        "kind",
        "on_hand_change",
        "reserved_change",
        "on_hand_after",
        "reserved_after",
        "actor",
        "service_request",
    )
    column_labels = {
        "created_at": "When",
        "kind": "Movement",
        "on_hand_change": "On hand ±",
        "reserved_change": "Reserved ±",
        "on_hand_after": "On hand after",
        "reserved_after": "Reserved after",
        "service_request": "Why",
        "actor": "Who",
        "note": "Note",
    }
    column_descriptions = {
        "on_hand_change": "Units added to (+) or taken from (−) the shelf",
        "reserved_change": "Units set aside for (+) or no longer held for (−) a repair",
    }
    column_select_related_list = (
        StockMovement.part,
        StockMovement.service_request,
        StockMovement.actor,
    )
    column_display_actions = False
    column_default_sort = [("created_at", True), ("id", True)]
    column_sortable_list = ("created_at", "kind")
    column_formatters = {
        "created_at": lambda v, c, m, n: local_time(m.created_at),
        "part": lambda v, c, m, n: f"{m.part.name} ({m.part.sku})",
        "kind": lambda v, c, m, n: inventory.movement_label(m.kind),
        "on_hand_change": lambda v, c, m, n: _signed(inventory.movement_changes(m)[0]),
        "reserved_change": lambda v, c, m, n: _signed(inventory.movement_changes(m)[1]),
        "service_request": lambda v, c, m, n: _why(m),
        "actor": lambda v, c, m, n: m.actor.full_name if m.actor else "System",
    }
    # Spreadsheets get plain numbers and the machine value of the kind next to its label.
    column_export_list = (
        "created_at",
        "part_sku",
        "part",
        "kind",
        "movement_code",
        "on_hand_change",
        "reserved_change",
        "on_hand_after",
        "reserved_after",
        "service_request",
        "actor",
        "note",
    )
    column_formatters_export = {
        "created_at": lambda v, c, m, n: local_time(m.created_at, "%Y-%m-%d %H:%M"),
        "part_sku": lambda v, c, m, n: m.part.sku,
        "part": lambda v, c, m, n: m.part.name,
        "kind": lambda v, c, m, n: inventory.movement_label(m.kind),
        "movement_code": lambda v, c, m, n: m.kind,
        "on_hand_change": lambda v, c, m, n: _plain(inventory.movement_changes(m)[0]),
        "reserved_change": lambda v, c, m, n: _plain(inventory.movement_changes(m)[1]),
        "service_request": lambda v, c, m, n: (
            m.service_request.reference if m.service_request else ""
        ),
        "actor": lambda v, c, m, n: m.actor.full_name if m.actor else "System",
        "note": lambda v, c, m, n: m.note or "",
    }
    column_searchable_list = ("part.sku", "part.name", "service_request.reference", "note")

    def search_placeholder(self) -> str:
        return "Part name or SKU, repair reference, note"

    def __init__(self, **kwargs):
        self.column_filters = [
            FilterEqual(StockMovement.kind, "Movement", options=options(MOVEMENT))
        ]
        super().__init__(StockMovement, **kwargs)


def _signed(change: int | None) -> str:
    """+3, −1 (a real minus sign), or a dash where the row changes nothing of that kind."""
    if change is None:
        return "—"
    return f"+{change}" if change > 0 else f"\u2212{-change}" if change < 0 else "0"


def _plain(change: int | None) -> int | str:
    # A number, not text: the export's formula guard leaves numbers alone.
    return "" if change is None else change


def _why(movement: StockMovement):
    """The repair it was for (a link) and the note, whichever there are."""
    note = movement.note or ""
    if movement.service_request is None:
        return note or "—"
    url = url_for("admin_requests.request_page", request_id=movement.service_request_id)
    link = Markup('<a href="{}">{}</a>').format(url, movement.service_request.reference)
    return Markup("{} · {}").format(link, note) if note else link

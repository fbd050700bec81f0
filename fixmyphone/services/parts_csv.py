"""The parts list as a spreadsheet: export it, edit it, import it back (by SKU). Stock changes
from an import go through the ledger like any other."""

from __future__ import annotations

import csv
import io
from typing import Optional

import sqlalchemy as sa

from ..domain_errors import Conflict, ValidationFailed
from ..extensions import db
from ..models import Part, User
from . import audit, exports
from .inventory import adjust, receive

CSV_FIELDS = ("sku", "name", "compatible_models", "cost", "price", "on_hand", "reorder_level")


def export_csv() -> str:
    """The parts list as CSV (with reserved and available for information)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_FIELDS, "reserved", "available"])
    for part in db.session.scalars(sa.select(Part).order_by(Part.sku)):
        row = [
            part.sku,
            part.name,
            part.compatible_models or "",
            part.cost,
            part.price,
            part.on_hand,
            part.reorder_level,
            part.reserved,
            part.available,
        ]
        writer.writerow([exports.safe_cell(value) for value in row])
    return out.getvalue()


def import_csv(text: str, actor: Optional[User]) -> tuple[int, int, list[str]]:
    """Create or update parts from CSV (by SKU); stock changes go through the ledger.

    Returns (created, updated, problems); a row with a problem is skipped, the others apply.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = {"sku", "name"} - set(reader.fieldnames or [])
    if missing:
        raise ValidationFailed(f"The CSV needs the columns: {', '.join(sorted(missing))}.")
    created = updated = 0
    problems: list[str] = []
    for number, row in enumerate(reader, start=2):
        try:
            values = _parse_row(row)
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        part = db.session.scalar(sa.select(Part).where(Part.sku == values["sku"]))
        target = values.pop("on_hand", None)
        if part is None:
            part = Part(**values, on_hand=0, reserved=0)
            db.session.add(part)
            db.session.flush()
            created += 1
        else:
            for key, value in values.items():
                setattr(part, key, value)
            updated += 1
        if target is not None and target != part.on_hand:
            try:
                if target > part.on_hand:
                    receive(part, target - part.on_hand, actor, note="CSV import")
                else:
                    adjust(part, target - part.on_hand, actor, note="CSV import")
            except Conflict as exc:
                problems.append(f"line {number}: {exc.message}")
    audit.record(
        actor,
        "parts_imported",
        None,
        object_type="Part",
        after={"created": created, "updated": updated, "problems": len(problems)},
    )
    return created, updated, problems


def _parse_row(row: dict) -> dict:
    sku = exports.read_cell((row.get("sku") or "").strip())
    name = exports.read_cell((row.get("name") or "").strip())
    if not sku or not name:
        raise ValueError("sku and name are required")
    if len(sku) > 40 or len(name) > 200:
        raise ValueError("sku (40) or name (200) too long")
    values: dict = {"sku": sku, "name": name}
    if "compatible_models" in row:
        models = exports.read_cell((row.get("compatible_models") or "").strip())
        values["compatible_models"] = models or None
    for key in ("cost", "price", "on_hand", "reorder_level"):
        raw = (row.get(key) or "").strip()
        if raw == "":
            continue
        if not raw.lstrip("-").isdigit() or int(raw) < 0:
            raise ValueError(f"{key} must be a whole number ≥ 0")
        values[key] = int(raw)
    return values

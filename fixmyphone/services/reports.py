"""Back-office reports for a period, computed in SQL (aggregates and GROUP BY; SQLite and
PostgreSQL alike). Periods are half-open: ``start <= t < end``, UTC (services/periods.py)."""

from __future__ import annotations

import csv
import io
import math
from typing import Optional

import sqlalchemy as sa

from ..extensions import db
from ..models import (
    Part,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    RequestPart,
    RequestPartStatus,
    ServiceRequest,
    User,
    utcnow,
)
from . import exports
from .billing import books
from .periods import Period, bucket, dialect, within

REWORK_WINDOW_DAYS = 30


def _seconds_between(earlier, later):
    """``later - earlier`` in seconds, as SQL."""
    if dialect() == "postgresql":
        return sa.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


# ---------------------------------------------------------------- money


def revenue(period: Period, grouping: str = "day") -> list[dict]:
    """Money received per day/week/month: succeeded payments, refunds, and net received."""
    pay_bucket = bucket(Payment.succeeded_at, grouping, period)
    paid = db.session.execute(
        sa.select(pay_bucket, sa.func.sum(Payment.amount), sa.func.count(Payment.id))
        .where(Payment.status == PaymentStatus.SUCCEEDED, within(Payment.succeeded_at, period))
        .group_by(pay_bucket)
    ).all()
    ref_bucket = bucket(Refund.created_at, grouping, period)
    refunded = db.session.execute(
        sa.select(ref_bucket, sa.func.sum(Refund.amount))
        .where(Refund.status == RefundStatus.SUCCEEDED, within(Refund.created_at, period))
        .group_by(ref_bucket)
    ).all()
    rows: dict[str, dict] = {}
    for label, amount, count in paid:
        rows[str(label)] = {"period": str(label), "payments": int(count), "received": int(amount)}
    for label, amount in refunded:
        row = rows.setdefault(str(label), {"period": str(label), "payments": 0, "received": 0})
        row["refunded"] = int(amount)
    out = []
    for label in sorted(rows):
        row = rows[label]
        row.setdefault("refunded", 0)
        row["net"] = row["received"] - row["refunded"]
        out.append(row)
    return out


def revenue_by_method(period: Period) -> list[dict]:
    """Succeeded payments per method in the period."""
    result = db.session.execute(
        sa.select(Payment.method, sa.func.count(Payment.id), sa.func.sum(Payment.amount))
        .where(Payment.status == PaymentStatus.SUCCEEDED, within(Payment.succeeded_at, period))
        .group_by(Payment.method)
        .order_by(sa.func.sum(Payment.amount).desc(), Payment.method)
    ).all()
    return [{"method": m, "payments": int(c), "received": int(a)} for m, c, a in result]


# ---------------------------------------------------------------- repairs


def requests_by_status(period: Period) -> list[dict]:
    """Requests opened in the period, by their current status."""
    result = db.session.execute(
        sa.select(ServiceRequest.status, sa.func.count(ServiceRequest.id))
        .where(within(ServiceRequest.created_at, period))
        .group_by(ServiceRequest.status)
        .order_by(sa.func.count(ServiceRequest.id).desc(), ServiceRequest.status)
    ).all()
    return [{"status": s, "count": int(c)} for s, c in result]


def turnaround(period: Period) -> dict:
    """Check-in → ready, for repairs that became ready in the period: count, mean, 90th pct.

    The percentile is the nearest-rank one, read with ORDER BY … OFFSET so no row list is
    loaded: the value at position ceil(0.9 × n).
    """
    seconds = _seconds_between(ServiceRequest.checked_in_at, ServiceRequest.ready_at)
    where = sa.and_(
        ServiceRequest.checked_in_at.is_not(None),
        ServiceRequest.ready_at.is_not(None),
        within(ServiceRequest.ready_at, period),
    )
    count, mean = db.session.execute(
        sa.select(sa.func.count(ServiceRequest.id), sa.func.avg(seconds)).where(where)
    ).one()
    count = int(count or 0)
    if not count:
        return {"count": 0, "mean_hours": None, "p90_hours": None}
    rank = math.ceil(0.9 * count)
    p90 = db.session.scalar(
        sa.select(seconds).where(where).order_by(seconds).offset(rank - 1).limit(1)
    )
    return {
        "count": count,
        "mean_hours": round(float(mean) / 3600, 2),
        "p90_hours": round(float(p90) / 3600, 2),
    }


def repairs_per_technician(period: Period) -> list[dict]:
    """Repairs completed in the period per technician, with warranty reworks counted against
    the technician of the original repair (reworks opened in the period)."""
    done = (
        sa.select(ServiceRequest.technician_id.label("tid"), sa.func.count().label("n"))
        .where(
            ServiceRequest.technician_id.is_not(None), within(ServiceRequest.completed_at, period)
        )
        .group_by(ServiceRequest.technician_id)
        .subquery()
    )
    original = sa.orm.aliased(ServiceRequest)
    claim = sa.orm.aliased(ServiceRequest)
    reworks = (
        sa.select(original.technician_id.label("tid"), sa.func.count(claim.id).label("n"))
        .join(original, claim.warranty_of_id == original.id)
        .where(original.technician_id.is_not(None), within(claim.created_at, period))
        .group_by(original.technician_id)
        .subquery()
    )
    result = db.session.execute(
        sa.select(
            User.id,
            User.full_name,
            sa.func.coalesce(done.c.n, 0),
            sa.func.coalesce(reworks.c.n, 0),
        )
        .outerjoin(done, done.c.tid == User.id)
        .outerjoin(reworks, reworks.c.tid == User.id)
        .where(sa.or_(done.c.n.is_not(None), reworks.c.n.is_not(None)))
        .order_by(sa.func.coalesce(done.c.n, 0).desc(), User.full_name)
    ).all()
    return [
        {"technician_id": i, "technician": name, "completed": int(d), "reworks": int(r)}
        for i, name, d, r in result
    ]


def top_device_models(period: Period, limit: int = 10) -> list[dict]:
    """The most repaired brand/model pairs among requests opened in the period."""
    count = sa.func.count(ServiceRequest.id)
    result = db.session.execute(
        sa.select(ServiceRequest.brand, ServiceRequest.model, count)
        .where(within(ServiceRequest.created_at, period))
        .group_by(ServiceRequest.brand, ServiceRequest.model)
        .order_by(count.desc(), ServiceRequest.brand, ServiceRequest.model)
        .limit(limit)
    ).all()
    return [{"brand": b, "model": m, "count": int(c)} for b, m, c in result]


def top_parts(period: Period, limit: int = 10) -> list[dict]:
    """Parts used (consumed) in repairs, by quantity, for lines created in the period."""
    qty = sa.func.sum(RequestPart.quantity)
    result = db.session.execute(
        sa.select(Part.sku, Part.name, qty)
        .join(Part, RequestPart.part_id == Part.id)
        .where(
            RequestPart.status == RequestPartStatus.CONSUMED, within(RequestPart.created_at, period)
        )
        .group_by(Part.id, Part.sku, Part.name)
        .order_by(qty.desc(), Part.sku)
        .limit(limit)
    ).all()
    return [{"sku": s, "name": n, "quantity": int(q)} for s, n, q in result]


def first_time_fix_rate(period: Period) -> dict:
    """Share of repairs completed in the period with no warranty rework within 30 days."""
    claim = sa.orm.aliased(ServiceRequest)
    reworked = sa.exists(
        sa.select(claim.id).where(
            claim.warranty_of_id == ServiceRequest.id,
            _seconds_between(ServiceRequest.completed_at, claim.created_at)
            <= REWORK_WINDOW_DAYS * 86400,
        )
    )
    total, fixed = db.session.execute(
        sa.select(
            sa.func.count(ServiceRequest.id),
            sa.func.coalesce(sa.func.sum(sa.case((reworked, 0), else_=1)), 0),
        ).where(
            within(ServiceRequest.completed_at, period), ServiceRequest.warranty_of_id.is_(None)
        )
    ).one()
    total, fixed = int(total or 0), int(fixed or 0)
    return {
        "completed": total,
        "fixed_first_time": fixed,
        "rate": round(fixed / total, 4) if total else None,
    }


# ---------------------------------------------------------------- bundle and CSV

TABLES = (
    "revenue",
    "invoiced",
    "unpaid_invoices",
    "ageing",
    "refunds",
    "revenue_by_method",
    "requests_by_status",
    "turnaround",
    "repairs_per_technician",
    "top_device_models",
    "top_parts",
    "first_time_fix_rate",
)


def table(name: str, period: Period, grouping: str = "day") -> list[dict]:
    """One report as a list of rows (single-figure reports become one row)."""
    if name not in TABLES:
        raise KeyError(name)
    if name == "revenue":
        return revenue(period, grouping)
    if name == "invoiced":
        return books.invoiced(period, grouping)
    if name in ("unpaid_invoices", "ageing"):
        unpaid = books.unpaid_invoices(min(period.end, utcnow()))
        return unpaid if name == "unpaid_invoices" else books.ageing(unpaid)
    if name == "refunds":
        return books.refunds(period)
    value = globals()[name](period)
    return value if isinstance(value, list) else [value]


def all_tables(period: Period, grouping: str = "day") -> dict[str, list[dict]]:
    """Every report for the period."""
    return {name: table(name, period, grouping) for name in TABLES}


def to_csv(rows: list[dict], columns: Optional[list[str]] = None) -> str:
    """Rows as CSV text."""
    out = io.StringIO()
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({key: exports.safe_cell(value) for key, value in row.items()} for row in rows)
    return out.getvalue()

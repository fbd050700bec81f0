"""The reports page: figures for a chosen period, charts, and each table as CSV."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Response, current_app, request
from flask_admin import expose

from .. import workflow
from ..formatting import decimal_amount, to_decimal
from ..services import periods, reports
from .base import SecuredPage
from .filters import parse_local_date

COLUMNS = {
    "revenue": ["period", "payments", "received", "refunded", "net"],
    "invoiced": ["period", "invoices", "credit_notes", "net", "tax", "total"],
    "unpaid_invoices": [
        "number",
        "bill_to",
        "repair",
        "issued",
        "age_days",
        "ageing",
        "total",
        "outstanding",
    ],
    "ageing": ["ageing", "invoices", "outstanding"],
    "refunds": ["date", "repair", "method", "amount", "reason"],
    "revenue_by_method": ["method", "payments", "received"],
    "requests_by_status": ["status", "count"],
    "turnaround": ["count", "mean_hours", "p90_hours"],
    "repairs_per_technician": ["technician", "completed", "reworks"],
    "top_device_models": ["brand", "model", "count"],
    "top_parts": ["sku", "name", "quantity"],
    "first_time_fix_rate": ["completed", "fixed_first_time", "rate"],
}
# Column headings in words (the CSV keeps the keys above).
HEADINGS = {
    "credit_notes": "Credit notes",
    "bill_to": "Bill to",
    "age_days": "Age (days)",
    "ageing": "Age",
    "mean_hours": "Mean (hours)",
    "p90_hours": "90th percentile (hours)",
    "fixed_first_time": "Fixed first time",
    "sku": "SKU",
}
# Columns holding money (minor units): shown as money, exported as decimals with a currency.
MONEY_COLUMNS = frozenset({"received", "refunded", "net", "tax", "total", "outstanding", "amount"})
TITLES = {
    "revenue": "Money received (payments less refunds)",
    "invoiced": "Invoiced: sales and tax collected (credit notes subtracted)",
    "unpaid_invoices": "Unpaid invoices",
    "ageing": "Unpaid invoices by age",
    "refunds": "Refunds",
    "revenue_by_method": "Revenue by payment method",
    "requests_by_status": "Requests by status",
    "turnaround": "Turnaround check-in → ready (hours)",
    "repairs_per_technician": "Repairs per technician",
    "top_device_models": "Top device models",
    "top_parts": "Top parts used",
    "first_time_fix_rate": "First-time fix rate (no rework within 30 days)",
}


def for_export(rows: list[dict], columns: list[str]) -> tuple[list[dict], list[str]]:
    """Rows for a spreadsheet: amounts as decimals ('79.00'), with a currency column."""
    money = [c for c in columns if c in MONEY_COLUMNS]
    if not money:
        return rows, columns
    shop_currency = current_app.config["SHOP_CURRENCY"].lower()
    out = []
    for row in rows:
        code = row.get("currency") or shop_currency
        converted = {**row, "currency": code.upper()}
        for column in money:
            converted[column] = decimal_amount(row.get(column), code)
        out.append(converted)
    return out, [*columns, "currency"]


def period_from_args() -> tuple[periods.Period, str, str, str]:
    """The period from ?start=&end= (shop-local days, end inclusive); default: last 30 days."""
    today = datetime.now(ZoneInfo(current_app.config["SHOP_TIMEZONE"])).date()
    start_s = request.args.get("start") or (today - timedelta(days=29)).isoformat()
    end_s = request.args.get("end") or today.isoformat()
    grouping = request.args.get("grouping", "day")
    if grouping not in periods.GROUPINGS:
        grouping = "day"
    try:
        start, end = parse_local_date(start_s), parse_local_date(end_s) + timedelta(days=1)
    except ValueError:
        start_s, end_s = (today - timedelta(days=29)).isoformat(), today.isoformat()
        start, end = parse_local_date(start_s), parse_local_date(end_s) + timedelta(days=1)
    if end <= start:
        end = start + timedelta(days=1)
    return periods.Period(start, end), start_s, end_s, grouping


class ReportsView(SecuredPage):
    """Admins' reports."""

    @expose("/")
    def index(self):
        period, start_s, end_s, grouping = period_from_args()
        tables = reports.all_tables(period, grouping)
        charts = {
            "revenue": {
                "type": "bar",
                "labels": [r["period"] for r in tables["revenue"]],
                "values": [float(to_decimal(r["net"])) for r in tables["revenue"]],
                "label": f"Net revenue ({current_app.config['SHOP_CURRENCY'].upper()})",
            },
            "requests_by_status": {
                "type": "doughnut",
                "labels": [workflow.label(r["status"]) for r in tables["requests_by_status"]],
                "values": [r["count"] for r in tables["requests_by_status"]],
                "label": "Requests",
            },
            "repairs_per_technician": {
                "type": "bar",
                "labels": [r["technician"] for r in tables["repairs_per_technician"]],
                "values": [r["completed"] for r in tables["repairs_per_technician"]],
                "label": "Completed repairs",
            },
        }
        return self.render(
            "admin/reports.html",
            tables=tables,
            columns=COLUMNS,
            headings=HEADINGS,
            money_columns=MONEY_COLUMNS,
            titles=TITLES,
            charts={k: json.dumps(v) for k, v in charts.items()},
            start=start_s,
            end=end_s,
            grouping=grouping,
            groupings=periods.GROUPINGS,
        )

    @expose("/<report>.csv")
    def csv(self, report: str):
        name = report
        if name not in reports.TABLES:
            return Response("unknown report", status=404)
        period, start_s, end_s, grouping = period_from_args()
        rows, columns = for_export(reports.table(name, period, grouping), COLUMNS[name])
        body = reports.to_csv(rows, columns)
        filename = f"{name}_{start_s}_{end_s}.csv"
        return Response(
            body,
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

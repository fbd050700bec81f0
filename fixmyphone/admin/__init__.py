"""The back office (Flask-Admin): a fresh Admin and fresh views for every app."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from ..services.staff import role_label
from .appointments import AppointmentView
from .checkout import CheckoutView
from .customers import CustomerView
from .dashboard import DashboardView
from .inbox import InboxView
from .inventory import PartView, StockMovementView
from .payments import PaymentView
from .records import AuditLogView, FailedNotificationView
from .reports import ReportsView
from .requests import ServiceRequestView
from .staff import ShiftView, StaffAccountsView, TechnicianAccountsView, TimeOffView, WorkloadView


def init_admin(app: Flask) -> Admin:
    """Create the back office and its views for this app."""
    admin = Admin(
        app,
        name=app.config["SHOP_NAME"],
        url="/admin",
        index_view=DashboardView(name="Dashboard", url="/admin"),
        # Flask-Admin's base page with the language on <html> (templates/admin/fmp_base.html).
        theme=Bootstrap4Theme(swatch="default", base_template="admin/fmp_base.html"),
    )
    # The menu fits on one line at 1280 px: related pages share a dropdown (Repairs, Inventory,
    # Team, System); the pages a shop opens all day stay one click away.
    admin.add_view(
        ServiceRequestView(
            name="Repair list", endpoint="admin_requests", url="/admin/requests", category="Repairs"
        )
    )
    admin.add_view(CheckoutView(name="Checkout", endpoint="admin_checkout", url="/admin/checkout"))
    admin.add_view(
        InboxView(
            name="Customer messages", endpoint="admin_inbox", url="/admin/inbox", category="Repairs"
        )
    )
    admin.add_view(
        AppointmentView(
            name="Appointments", endpoint="admin_appointments", url="/admin/appointments"
        )
    )
    admin.add_view(
        CustomerView(name="Customers", endpoint="admin_customers", url="/admin/customers")
    )
    admin.add_view(PaymentView(name="Payments", endpoint="admin_payments", url="/admin/payments"))
    admin.add_view(
        PartView(name="Parts", endpoint="admin_parts", url="/admin/parts", category="Inventory")
    )
    admin.add_view(
        StockMovementView(
            name="Stock ledger", endpoint="admin_stock", url="/admin/stock", category="Inventory"
        )
    )
    admin.add_view(
        TechnicianAccountsView(
            name="Technicians",
            endpoint="admin_technicians",
            url="/admin/technicians",
            category="Team",
        )
    )
    admin.add_view(
        ShiftView(name="Shifts", endpoint="admin_shifts", url="/admin/shifts", category="Team")
    )
    admin.add_view(
        TimeOffView(
            name="Time off", endpoint="admin_timeoff", url="/admin/timeoff", category="Team"
        )
    )
    admin.add_view(
        WorkloadView(
            name="Workload", endpoint="admin_workload", url="/admin/workload", category="Team"
        )
    )
    admin.add_view(ReportsView(name="Reports", endpoint="admin_reports", url="/admin/reports"))
    admin.add_view(
        FailedNotificationView(
            name="Failed notifications",
            endpoint="admin_notifications",
            url="/admin/notifications",
            category="System",
        )
    )
    staff_view = StaffAccountsView(
        name="Staff accounts", endpoint="admin_staff", url="/admin/staff", category="System"
    )
    audit_view = AuditLogView(
        name="Audit log", endpoint="admin_audit", url="/admin/audit", category="System"
    )
    admin.add_view(staff_view)
    admin.add_view(audit_view)
    # The user menu (and any back-office page) names roles in people's words.
    app.jinja_env.filters["role_label"] = role_label
    return admin

"""Staff accounts, customers, payments, appointments, notifications and the audit log."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa

from fixmyphone.domain_errors import Conflict, Forbidden
from fixmyphone.extensions import db
from fixmyphone.models import (
    Appointment,
    AuditLog,
    Notification,
    Payment,
    Refund,
    User,
    utcnow,
)
from fixmyphone.services import accounts, delivery, staff
from fixmyphone.services.billing import payments
from tests import factories
from tests.conftest import client_for

from .conftest import post_action, post_form

# ---------------------------------------------------------------- staff rules


@pytest.mark.parametrize(
    "actor_role, target_role, new_role, error",
    [
        ("admin", "technician", "admin", Forbidden),  # admins give technician only
        ("admin", "superadmin", "technician", Forbidden),  # nor touch super admins
        ("admin", "admin", "technician", Forbidden),  # nor other admins
        ("technician", "technician", "technician", Forbidden),
        ("superadmin", "technician", "customer", Exception),  # not a staff role
    ],
)
def test_role_change_refusals(app, actor_role, target_role, new_role, error):
    actor = factories.UserFactory(role=actor_role)
    target = factories.UserFactory(role=target_role)
    with pytest.raises(error):
        staff.change_role(actor, target, new_role)


def test_admin_cannot_raise_own_role(app):
    admin = factories.UserFactory(role="admin")
    with pytest.raises(Forbidden):
        staff.change_role(admin, admin, "superadmin")


def test_last_superadmin_is_protected(app):
    boss = factories.UserFactory(role="superadmin")
    factories.UserFactory(role="superadmin", active=False)  # an inactive one does not count
    with pytest.raises(Conflict, match="last super admin"):
        staff.change_role(boss, boss, "admin")
    second = factories.UserFactory(role="superadmin")
    with pytest.raises(Conflict, match="own account"):
        staff.deactivate_staff(boss, boss)
    staff.change_role(second, boss, "admin")  # two active super admins: allowed
    assert boss.role == "admin"
    with pytest.raises(Conflict, match="last super admin"):
        staff.change_role(second, second, "technician")
    with pytest.raises(Conflict, match="last super admin"):
        staff._check_not_last_superadmin(second)  # noqa: SLF001
    with pytest.raises(Forbidden):
        staff.deactivate_staff(boss, second)  # an admin cannot touch a super admin


def test_delete_refused_with_history_allowed_without(app):
    boss = factories.UserFactory(role="superadmin")
    busy = factories.TechnicianFactory()
    factories.ServiceRequestFactory(technician=busy)
    fresh = factories.TechnicianFactory()
    with pytest.raises(Conflict, match="deactivate instead"):
        staff.delete_staff(boss, busy)
    staff.delete_staff(boss, fresh)
    db.session.flush()
    assert db.session.get(User, fresh.id) is None


def test_admin_creates_technician_through_the_form(app):
    client, admin = client_for(app, "admin")
    url = "/admin/technicians/new/"
    response = post_form(
        client,
        url,
        url,
        full_name="Tina Tech",
        email="Tina@Shop.test",
        role="technician",
        skills="screens, batteries",
    )
    assert response.status_code == 302
    tina = db.session.scalar(sa.select(User).where(User.email == "tina@shop.test"))
    assert tina.role == "technician" and not accounts.has_usable_password(tina)
    assert tina.technician_profile.skills == "screens, batteries"
    # she receives a set-password link
    assert db.session.scalar(
        sa.select(Notification).where(
            Notification.user_id == tina.id, Notification.event == "password_reset"
        )
    )
    assert db.session.scalar(
        sa.select(AuditLog).where(
            AuditLog.action == "admin_created", AuditLog.object_id == str(tina.id)
        )
    )
    # an admin cannot create an admin through the form either
    post_form(client, url, url, full_name="Eve", email="eve@shop.test", role="admin")
    assert db.session.scalar(sa.select(User).where(User.email == "eve@shop.test")) is None


def test_superadmin_changes_roles_and_deactivates(app):
    client, boss = client_for(app, "superadmin")
    tech = factories.TechnicianFactory()
    db.session.commit()
    url = f"/admin/staff/edit/?id={tech.id}"
    post_form(client, url, url, full_name=tech.full_name, email=tech.email, role="admin", skills="")
    db.session.expire_all()
    assert tech.role == "admin"
    post_action(client, "/admin/staff/", "deactivate", [tech.id, boss.id])
    db.session.expire_all()
    assert tech.active is False and boss.active is True


# ---------------------------------------------------------------- customers


def test_walk_in_customer_gets_account_and_set_password_link(app):
    client, _ = client_for(app, "admin")
    url = "/admin/customers/new/"
    response = post_form(
        client, url, url, full_name="Walk In", email="walk@in.test", phone="+1 555 0101"
    )
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "walk@in.test"))
    assert user.role == "customer" and user.password_hash is None
    assert user.customer_profile.phone == "+1 555 0101"
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == user.id))
    assert note.event == "password_reset" and "/account/reset/" not in note.body
    assert "/account/reset/" in delivery.render_text(note)  # made live when sent
    # duplicate email refused
    post_form(client, url, url, full_name="Again", email="WALK@in.test")
    assert db.session.scalar(sa.select(sa.func.count()).where(User.email == "walk@in.test")) == 1


def test_deactivated_customer_is_logged_out(app):
    admin_client, _ = client_for(app, "admin")
    customer_client, customer = client_for(app, "customer")
    assert customer_client.get("/account/login").status_code in (200, 302)
    post_action(admin_client, "/admin/customers/", "deactivate", [customer.id])
    db.session.expire_all()
    assert customer.active is False
    post_action(admin_client, "/admin/customers/", "reactivate", [customer.id])
    db.session.expire_all()
    assert customer.active is True


def test_customer_page_shows_requests(app):
    client, _ = client_for(app, "admin")
    req = factories.ServiceRequestFactory()
    db.session.commit()
    html = client.get(f"/admin/customers/view/{req.customer_id}").get_data(as_text=True)
    assert req.reference in html
    staff_member = factories.TechnicianFactory()
    db.session.commit()
    assert client.get(f"/admin/customers/view/{staff_member.id}").status_code == 404


# ---------------------------------------------------------------- payments


def test_verify_and_refund_offline_payment(app):
    client, admin = client_for(app, "admin")
    req = factories.ServiceRequestFactory()
    pay = payments.record_offline_payment(req, amount=5000, method="cash", actor=admin)
    online = Payment(
        service_request_id=req.id,
        customer_id=req.customer_id,
        method="stripe",
        amount=100,
        currency="usd",
        status="pending",
    )
    db.session.add(online)
    db.session.commit()
    post_action(client, "/admin/payments/", "verify", [pay.id, online.id])
    db.session.expire_all()
    assert pay.status == "succeeded" and pay.verified_by_id == admin.id
    assert online.status == "pending"  # Stripe payments are not verified by hand
    form = post_action(client, "/admin/payments/", "refund", [pay.id])
    assert form.status_code == 200 and 'name="amount"' in form.get_data(as_text=True)
    post_action(client, "/admin/payments/", "refund", [pay.id], amount="20.00", reason="goodwill")
    post_action(client, "/admin/payments/", "refund", [pay.id], amount="40.00")  # > refundable
    refunds = db.session.scalars(sa.select(Refund)).all()
    assert [(r.amount, r.status) for r in refunds] == [(2000, "succeeded")]


# ---------------------------------------------------------------- appointments


def _tomorrow_at(hour: int) -> str:
    day = (utcnow() + timedelta(days=1)).date()
    return datetime.combine(day, time(hour)).strftime("%Y-%m-%dT%H:%M")


def test_calendar_add_reschedule_cancel(app):
    factories.open_every_day()
    client, _ = client_for(app, "admin")
    req = factories.ServiceRequestFactory()
    db.session.commit()
    cal = "/admin/appointments/calendar"
    post_form(
        client, cal, "/admin/appointments/add", reference=req.reference, start=_tomorrow_at(10)
    )
    appt = db.session.scalar(sa.select(Appointment))
    assert appt is not None and req.status == "scheduled"
    # a second booking of a full slot is refused by the booking service
    other = factories.ServiceRequestFactory()
    db.session.commit()
    post_form(
        client, cal, "/admin/appointments/add", reference=other.reference, start=_tomorrow_at(10)
    )
    assert db.session.scalar(sa.select(sa.func.count(Appointment.id))) == 1
    post_form(client, cal, f"/admin/appointments/{appt.id}/reschedule", start=_tomorrow_at(11))
    db.session.expire_all()
    assert appt.start.hour == 11
    post_action(client, "/admin/appointments/", "cancel", [appt.id], reason="Customer called")
    db.session.expire_all()
    assert appt.status == "canceled" and appt.cancel_reason == "Customer called"
    # The calendar shows canceled appointments, with the reason, when asked to.
    day = _tomorrow_at(0)[:10]
    events = client.get(
        f"/admin/appointments/events?start={day}T00:00:00Z&end={day}T23:59:00Z&canceled=1"
    ).get_json()
    assert [e["extendedProps"]["cancelReason"] for e in events] == ["Customer called"]


# ---------------------------------------------------------------- notifications and audit


def test_failed_notifications_can_be_resent(app):
    client, _ = client_for(app, "admin")
    user = factories.CustomerFactory()
    failed = Notification(
        user=user,
        event="x",
        channel="email",
        recipient=user.email,
        subject="Hello",
        body="b",
        dedup_key="x:1",
        status="failed",
        attempts=3,
        last_error="smtp down",
    )
    sent = Notification(
        user=user,
        event="x",
        channel="email",
        subject="Sent one",
        body="b",
        dedup_key="x:2",
        status="sent",
    )
    db.session.add_all([failed, sent])
    db.session.commit()
    html = client.get("/admin/notifications/").get_data(as_text=True)
    assert "smtp down" in html and "Sent one" not in html
    post_action(client, "/admin/notifications/", "resend", [failed.id])
    db.session.expire_all()
    assert failed.status != "failed" and failed.attempts <= 1


def test_admin_changes_are_audited_and_log_is_read_only(app):
    client, admin = client_for(app, "superadmin")
    url = "/admin/parts/new/"
    post_form(
        client, url, url, sku="NEW-1", name="New part", cost="100", price="200", reorder_level="1"
    )
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admin_created"))
    assert entry.actor_id == admin.id and entry.after["sku"] == "NEW-1"
    edit = f"/admin/parts/edit/?id={entry.object_id}"
    post_form(
        client, edit, edit, sku="NEW-1", name="Renamed", cost="100", price="250", reorder_level="1"
    )
    update = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admin_updated"))
    assert update.before["name"] == "New part" and update.after["name"] == "Renamed"
    assert client.get("/admin/audit/new/").status_code in (302, 403, 404)
    assert client.get(f"/admin/audit/edit/?id={entry.id}").status_code in (302, 403, 404)
    export = client.get("/admin/audit/export/csv/")
    assert export.status_code == 200 and "admin_updated" in export.get_data(as_text=True)


def test_staff_record_counter_payment_from_request_page(app, repair, tech):
    client, _ = client_for(app, tech)
    url = f"/admin/requests/view/{repair.id}"
    post_form(client, url, url + "/payment", amount="12.50", method="cash", reference="till 3")
    post_form(client, url, url + "/payment", amount="-1", method="cash")  # refused
    post_form(client, url, url + "/payment", amount="5", method="bitcoin")  # refused
    rows = db.session.scalars(sa.select(Payment)).all()
    assert [(p.amount, p.method, p.status, p.recorded_by_id) for p in rows] == [
        (1250, "cash", "pending", tech.id)
    ]
    admin_client, _ = client_for(app, "admin")
    html = admin_client.get("/admin/").get_data(as_text=True)
    assert 'id="dash-pending-payments">1<' in html

"""The account: open repairs, order history with documents, profile, password, messages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import (
    AuditLog,
    Invoice,
    Message,
    Notification,
    Payment,
    User,
    utcnow,
)
from fixmyphone.public.helpers import endpoint_exists
from fixmyphone.services import messages

from .. import factories
from ..conftest import client_for
from .conftest import post_form


def _invoice(r, total, number, status="issued", kind="invoice"):
    inv = Invoice(
        service_request=r,
        customer_id=r.customer_id,
        number=number,
        kind=kind,
        status=status,
        currency="usd",
        subtotal=total,
        total=total,
        issued_at=utcnow(),
    )
    db.session.add(inv)
    return inv


def _payment(r, amount, status="succeeded"):
    p = Payment(
        service_request=r,
        customer_id=r.customer_id,
        method="cash",
        status=status,
        amount=amount,
        currency="usd",
        succeeded_at=utcnow() if status == "succeeded" else None,
    )
    db.session.add(p)
    return p


# ------------------------------------------------------------------ account and history


def test_account_lists_open_repairs_with_next_steps(customer_client, customer):
    open_one = factories.ServiceRequestFactory(customer=customer, brand="Google", model="Pixel 8")
    done = factories.ServiceRequestFactory(customer=customer, status="closed", model="Old")
    factories.ServiceRequestFactory(model="Somebody Else's")
    html = customer_client.get("/account").get_data(as_text=True)
    assert "Google Pixel 8" in html and open_one.reference in html
    assert "Book a time to drop your device off" in html
    assert done.reference not in html and "1 finished repair" in html
    assert "Somebody Else" not in html


def test_unread_messages_are_counted_and_cleared_on_reading(customer_client, customer):
    r = factories.ServiceRequestFactory(customer=customer)
    tech = factories.TechnicianFactory(full_name="Sam Tech")
    messages.post_message(r, tech, "Your part arrived.")
    messages.post_message(r, tech, "We start tomorrow.")
    messages.post_message(r, tech, "staff only", internal=True)
    db.session.commit()
    html = customer_client.get("/account").get_data(as_text=True)
    assert "2 unread messages" in html
    assert '<span class="count">2</span>' in html
    page = customer_client.get(f"/account/repairs/{r.id}").get_data(as_text=True)
    assert "Your part arrived." in page and "Sam at" in page
    assert page.count('class="badge badge-new"') == 2
    assert "staff only" not in page
    html = customer_client.get("/account").get_data(as_text=True)
    assert "unread message" not in html
    again = customer_client.get(f"/account/repairs/{r.id}").get_data(as_text=True)
    assert "badge-new" not in again
    assert messages.unread_for_customer(customer) == 0


def test_history_shows_totals_and_documents(customer_client, customer):
    r = factories.ServiceRequestFactory(customer=customer, status="completed")
    inv = _invoice(r, 12000, "INV-2026-00007")
    _invoice(r, 9999, "INV-DRAFT", status="draft")
    pay = _payment(r, 5000)
    _payment(r, 700, status="failed")
    db.session.commit()
    html = customer_client.get("/account/history").get_data(as_text=True)
    assert r.reference in html
    assert "$120.00" in html and "$50.00" in html and "$70.00" in html
    assert "INV-2026-00007" in html and "INV-DRAFT" not in html
    assert f"/documents/invoice/{inv.id}.pdf" in html
    assert f"/documents/receipt/{pay.id}.pdf" in html
    assert "$7.00" not in html
    assert (
        'action="/pay/' not in html and "$70.00 to pay at pickup" in html
    )  # no Stripe: pay at pickup


def test_history_is_scoped_to_the_owner(customer_client):
    other = factories.ServiceRequestFactory()
    _invoice(other, 5000, "INV-OTHER")
    db.session.commit()
    html = customer_client.get("/account/history").get_data(as_text=True)
    assert other.reference not in html and "INV-OTHER" not in html
    assert "No repairs yet" in html


def test_pages_survive_without_the_payments_blueprint(tmp_path, database_url):
    """Links to payments are guarded: an app without them still renders every page."""
    from fixmyphone.extensions import db as _db

    from ..conftest import clean_database, make_app

    app = make_app(database_url, tmp_path)
    for name in [n for n in app.view_functions if n.startswith("payments.")]:
        del app.view_functions[name]
    with app.app_context():
        assert not endpoint_exists("payments.checkout")
        customer = factories.CustomerFactory()
        r = factories.ServiceRequestFactory(customer=customer, status="completed")
        _invoice(r, 12000, "INV-2026-00001")
        _payment(r, 2000)
        _db.session.commit()
        client, _ = client_for(app, customer)
        for path in (
            "/account",
            "/account/history",
            "/account/profile",
            f"/account/repairs/{r.id}",
        ):
            response = client.get(path)
            assert response.status_code == 200, path
            html = response.get_data(as_text=True)
            assert "/documents/" not in html and "/pay/" not in html
        assert "INV-2026-00001" in client.get("/account/history").get_data(as_text=True)
        _db.session.remove()
    clean_database(app)


def test_endpoint_exists_sees_registered_blueprints(app):
    assert endpoint_exists("public.track_token")
    assert not endpoint_exists("payments.nothing_here")


def test_staff_are_redirected_from_customer_account_pages(technician_client):
    for path in ("/account", "/account/history", "/account/profile"):
        response = technician_client.get(path)
        assert response.status_code == 302 and "/admin" in response.headers["Location"], path


@pytest.mark.parametrize(
    "path", ["/account", "/account/history", "/account/profile", "/account/repairs/1"]
)
def test_account_pages_need_login(client, app, path):
    response = client.get(path)
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_another_customers_repair_is_404(customer_client, other_repair):
    response = customer_client.get(f"/account/repairs/{other_repair.id}")
    assert response.status_code == 404
    assert other_repair.reference not in response.get_data(as_text=True)


# ------------------------------------------------------------------ messages


def test_customer_writes_to_the_shop_from_the_account(customer_client, customer, repair):
    admin = factories.UserFactory(role="admin")
    db.session.commit()
    page = f"/account/repairs/{repair.id}"
    response = post_form(
        customer_client, page, {"body": "  Is it fixable?  "}, url=page + "/messages"
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("#messages")
    message = db.session.scalar(sa.select(Message))
    assert message.body == "Is it fixable?" and message.sender_id == customer.id
    assert not message.is_internal
    staff_note = db.session.scalar(sa.select(Notification).where(Notification.user_id == admin.id))
    assert staff_note is not None and staff_note.event == "customer_message"
    assert "Is it fixable?" in customer_client.get(page).get_data(as_text=True)


def test_customer_writes_through_the_private_link(client, app, other_repair):
    page = f"/track/{other_repair.tracking_token}"
    response = post_form(client, page, {"body": "Any news?"}, url=page + "/messages")
    assert response.status_code == 302
    message = db.session.scalar(sa.select(Message))
    assert message.sender_id == other_repair.customer_id


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("", "Write a message first"),
        ("   ", "Write a message first"),
        ("x" * 5001, "longer than 5000"),
    ],
)
def test_bad_messages_are_refused(customer_client, repair, body, error):
    page = f"/account/repairs/{repair.id}"
    response = post_form(customer_client, page, {"body": body}, url=page + "/messages")
    assert response.status_code == 422
    assert error in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Message.id))) == 0


def test_cannot_write_on_another_customers_repair(customer_client, other_repair):
    page = f"/account/repairs/{other_repair.id}"
    response = post_form(customer_client, "/account", {"body": "hi"}, url=page + "/messages")
    assert response.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(Message.id))) == 0


# ------------------------------------------------------------------ profile


PROFILE = {
    "full_name": "Pat Updated",
    "phone": "+44 20 7946 0958",
    "address_line1": "1 High Street",
    "address_line2": "",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "gb",
    "notify_email": "y",
    "notify_sms": "y",
}


def test_profile_shows_current_values(customer_client, customer):
    html = customer_client.get("/account/profile").get_data(as_text=True)
    assert f'value="{customer.full_name}"' in html
    assert 'value="+1 555 0199"' in html
    assert "Saved payment methods" in html or "payment-methods" in html


def test_profile_update_saves_details_and_preferences(customer_client, customer):
    data = {**PROFILE, "pref_quote_sent_sms": "y", "pref_status_changed_email": "y"}
    response = post_form(customer_client, "/account/profile", data)
    assert response.status_code == 302
    db.session.refresh(customer)
    profile = customer.customer_profile
    assert customer.full_name == "Pat Updated"
    assert (profile.phone, profile.city, profile.country) == ("+44 20 7946 0958", "London", "GB")
    assert profile.address_line2 is None
    assert (profile.notify_email, profile.notify_sms, profile.notify_in_app) == (True, True, False)
    prefs = profile.notification_prefs
    assert set(prefs) == {
        "status_changed",
        "quote_sent",
        "message_received",
        "appointment_booked",
        "appointment_reminder",
        "payment_received",
    }
    assert prefs["quote_sent"] == {"email": False, "sms": True, "in_app": False}
    assert prefs["status_changed"]["email"] is True
    assert prefs["payment_received"] == {"email": False, "sms": False, "in_app": False}
    assert db.session.scalar(
        sa.select(AuditLog).where(AuditLog.action == "notification_prefs_updated")
    )
    html = customer_client.get("/account/profile").get_data(as_text=True)
    assert 'id="pref_quote_sent_sms" name="pref_quote_sent_sms" type="checkbox" value="y"' in html


def test_saved_preferences_drive_notification_channels(customer_client, customer):
    from fixmyphone.services.notifications import channels_for

    data = {**PROFILE, "notify_in_app": "y", "pref_message_received_email": "y"}
    post_form(customer_client, "/account/profile", data)
    db.session.refresh(customer)
    assert channels_for(customer, "message_received") == ["email"]
    assert channels_for(customer, "quote_sent") == []


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"full_name": ""}, "full_name", "Tell us your name"),
        ({"full_name": "x" * 121}, "full_name", "longer than 120"),
        ({"phone": "not a phone"}, "phone", "digits"),
        ({"country": "G1"}, "country", "two-letter"),
        ({"country": "GBR"}, "country", "longer than 2"),
        ({"postal_code": "x" * 21}, "postal_code", "longer than 20"),
    ],
)
def test_bad_profile_input_is_shown_next_to_the_field(
    customer_client, customer, changes, field, message
):
    before = customer.full_name
    response = post_form(customer_client, "/account/profile", {**PROFILE, **changes})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html[html.index(f'id="{field}-error"') :][:300]
    assert 'value="London"' in html  # what was typed is kept
    db.session.refresh(customer)
    assert customer.full_name == before


# ------------------------------------------------------------------ password


def _change(client, **changes):
    data = {
        "current_password": factories.PASSWORD,
        "new_password": "brand-new-secret",
        "confirm": "brand-new-secret",
        **changes,
    }
    return post_form(client, "/account/profile", data, url="/account/password")


def test_password_change_keeps_this_session_and_ends_others(app, customer_client, customer):
    other_device, _ = client_for(app, customer)
    response = _change(customer_client)
    assert response.status_code == 302
    db.session.refresh(customer)
    assert customer.check_password("brand-new-secret")
    assert customer_client.get("/account").status_code == 200
    assert other_device.get("/account").status_code == 302  # logged out
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "password_changed"))


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"current_password": "wrong-one"}, "current_password", "not your current password"),
        ({"current_password": ""}, "current_password", "Enter your current password"),
        ({"new_password": "short", "confirm": "short"}, "new_password", "at least 8"),
        ({"confirm": "something-else"}, "confirm", "Passwords differ"),
    ],
)
def test_bad_password_changes_are_refused(customer_client, customer, changes, field, message):
    response = _change(customer_client, **changes)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html[html.index(f'id="{field}-error"') :][:300]
    assert 'value="correct-horse-1"' not in html  # passwords are never echoed
    db.session.refresh(customer)
    assert customer.check_password(factories.PASSWORD)


def test_profile_and_password_need_csrf(customer_client, customer):
    assert customer_client.post("/account/profile", data=PROFILE).status_code == 400
    assert (
        customer_client.post(
            "/account/password",
            data={
                "current_password": factories.PASSWORD,
                "new_password": "x" * 10,
                "confirm": "x" * 10,
            },
        ).status_code
        == 400
    )
    db.session.refresh(customer)
    assert customer.check_password(factories.PASSWORD)
    assert db.session.scalar(sa.select(User).where(User.full_name == "Pat Updated")) is None


def test_account_links_to_a_waiting_quote(customer_client, customer):
    from fixmyphone.services.billing import approvals

    r = factories.ServiceRequestFactory(customer=customer)
    approvals.send_single_amount(
        r, amount=4500, details="Battery", actor=factories.UserFactory(role="admin")
    )
    html = customer_client.get("/account").get_data(as_text=True)
    assert "Approve or decline the estimate" in html
    assert f'href="/account/repairs/{r.id}#quote"' in html


def test_grouped_totals_match_the_billing_rules(customer_client, customer):
    from fixmyphone.models import Refund
    from fixmyphone.services.billing import balances

    r = factories.ServiceRequestFactory(customer=customer, status="completed")
    empty = factories.ServiceRequestFactory(customer=customer)
    _invoice(r, 10000, "INV-2026-00010")
    _invoice(r, 2000, "CN-2026-00001", kind="credit_note")
    pay = _payment(r, 5000)
    db.session.flush()
    db.session.add(Refund(payment_id=pay.id, amount=1000, currency="usd", status="succeeded"))
    db.session.add(Refund(payment_id=pay.id, amount=300, currency="usd", status="failed"))
    db.session.commit()
    totals = balances.totals_by_request([r.id, empty.id])
    assert totals[r.id] == (balances.invoiced_total(r), balances.paid_total(r)) == (8000, 4000)
    assert totals[empty.id] == (0, 0)
    html = customer_client.get("/account/history").get_data(as_text=True)
    assert "$80.00" in html and "$40.00" in html

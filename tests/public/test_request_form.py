"""Requesting a repair: logged in, or signing up / logging in in the same POST; photos."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import RequestPhoto, ServiceRequest, User

from .. import factories
from ..conftest import client_for
from .conftest import post_form

VALID_IMEI = "490154203237518"
DEVICE = {
    "device_type": "phone",
    "brand": "Apple",
    "model": "iPhone 13",
    "imei": "",
    "issue_description": "The screen is cracked in the corner.",
    "preferred_time": "",
}
SIGNUP = {
    "account_mode": "signup",
    "full_name": "Nora Newcomer",
    "email": "nora@example.com",
    "phone": "+1 555 0123",
    "password": "long-enough-pw",
}


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (30, 30, 200)).save(out, "JPEG")
    return out.getvalue()


def requests_of(email: str) -> list[ServiceRequest]:
    return list(
        db.session.scalars(
            sa.select(ServiceRequest)
            .join(User, ServiceRequest.customer_id == User.id)
            .where(User.email == email)
        )
    )


def test_logged_in_customer_requests_a_repair(customer_client, app, customer):
    data = {**DEVICE, "imei": "49015420-3237518", "preferred_time": "2099-03-04T10:30"}
    response = post_form(customer_client, "/repair/new", data)
    assert response.status_code == 302
    r = requests_of(customer.email)[0]
    assert response.headers["Location"].endswith(f"/account/repairs/{r.id}/submitted")
    assert (r.brand, r.model, r.imei, r.status) == ("Apple", "iPhone 13", VALID_IMEI, "pending")
    assert r.preferred_time.isoformat() == "2099-03-04T10:30:00+00:00"
    page = customer_client.get(response.headers["Location"]).get_data(as_text=True)
    assert r.reference in page
    assert "What happens next" in page
    assert f'href="/account/repairs/{r.id}/book"' in page


def test_form_shows_your_details_only_to_visitors(client, customer_client, app):
    assert "Your details" in client.get("/repair/new").get_data(as_text=True)
    assert "Your details" not in customer_client.get("/repair/new").get_data(as_text=True)


def test_visitor_signs_up_and_requests_in_one_post(client, app):
    response = post_form(client, "/repair/new", {**DEVICE, **SIGNUP})
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "nora@example.com"))
    assert user is not None and user.role == "customer"
    assert user.customer_profile.phone == "+1 555 0123"
    assert len(requests_of("nora@example.com")) == 1
    # ...and is now logged in.
    assert client.get("/account").status_code == 200


def test_visitor_logs_in_and_requests_in_one_post(client, app):
    existing = factories.CustomerFactory(email="old@example.com")
    data = {
        **DEVICE,
        "account_mode": "login",
        "login_email": "OLD@example.com",
        "login_password": factories.PASSWORD,
    }
    response = post_form(client, "/repair/new", data)
    assert response.status_code == 302
    assert len(requests_of("old@example.com")) == 1
    assert existing.last_login_at is not None
    assert client.get("/account").status_code == 200


def test_wrong_password_keeps_everything_typed(client, app):
    factories.CustomerFactory(email="old@example.com")
    data = {
        **DEVICE,
        "brand": "Fairphone",
        "issue_description": "Speaker crackles & hisses <loudly>",
        "account_mode": "login",
        "login_email": "old@example.com",
        "login_password": "not-my-password",
    }
    response = post_form(client, "/repair/new", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Wrong email or password" in html
    assert 'value="Fairphone"' in html
    assert "Speaker crackles &amp; hisses &lt;loudly&gt;" in html
    assert 'value="old@example.com"' in html
    assert 'value="login" checked' in html or 'checked id="account_mode-1"' in html
    assert db.session.scalar(sa.select(sa.func.count(ServiceRequest.id))) == 0


def test_signup_with_a_taken_email_explains_and_keeps_input(client, app):
    factories.CustomerFactory(email="nora@example.com")
    response = post_form(client, "/repair/new", {**DEVICE, **SIGNUP})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "already exists" in html
    assert 'value="Nora Newcomer"' in html and 'value="iPhone 13"' in html
    assert db.session.scalar(sa.select(sa.func.count(ServiceRequest.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1


BAD_REQUESTS = [
    ({"device_type": ""}, "device_type", "Choose the kind of device"),
    ({"device_type": "toaster"}, "device_type", "Not a valid choice"),
    ({"brand": ""}, "brand", "Tell us the brand"),
    ({"brand": "x" * 61}, "brand", "longer than 60"),
    ({"model": ""}, "model", "Tell us the model"),
    ({"issue_description": "  "}, "issue_description", "Tell us what is wrong"),
    ({"imei": "490154203237517"}, "imei", "valid check digit"),
    ({"imei": "12345"}, "imei", "15 digits"),
    ({"imei": "49015420323751A"}, "imei", "15 digits"),
    ({"preferred_time": "tomorrow"}, "preferred_time", "Not a valid datetime"),
    ({"preferred_time": "2001-01-01T10:00"}, "preferred_time", "in the future"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_REQUESTS)
def test_bad_request_input_is_shown_next_to_the_field(
    customer_client, app, changes, field, message
):
    response = post_form(customer_client, "/repair/new", {**DEVICE, **changes})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    error_block = html[html.index(f'id="{field}-error"') :][:400]
    assert message.lower() in error_block.lower()
    assert f'aria-describedby="{field}-' in html
    assert db.session.scalar(sa.select(sa.func.count(ServiceRequest.id))) == 0


BAD_ACCOUNTS = [
    ({"full_name": ""}, "full_name", "required"),
    ({"email": "not-an-email"}, "email", "Invalid email"),
    ({"email": ""}, "email", "required"),
    ({"password": "short"}, "password", "at least 8"),
    ({"password": "password1"}, "password", "too common"),
    ({"phone": "call me maybe"}, "phone", "digits"),
    ({"account_mode": "login", "login_email": ""}, "login_email", "required"),
    ({"account_mode": "login", "login_email": "a@b.co"}, "login_password", "required"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_ACCOUNTS)
def test_bad_account_details_are_shown_next_to_the_field(client, app, changes, field, message):
    response = post_form(client, "/repair/new", {**DEVICE, **SIGNUP, **changes})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    error_block = html[html.index(f'id="{field}-error"') :][:300]
    assert message.lower() in error_block.lower()
    assert 'value="iPhone 13"' in html  # the device part is kept
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_staff_are_sent_to_the_back_office(technician_client, app):
    response = technician_client.get("/repair/new")
    assert response.status_code == 302 and "/admin" in response.headers["Location"]


# ------------------------------------------------------------------ photos


def _with_photos(files) -> dict:
    return {**DEVICE, "photos": [(io.BytesIO(data), name) for name, data in files]}


def test_photos_are_stored_outside_static_with_random_names(customer_client, app, customer):
    data = _with_photos([("crack.png", png_bytes()), ("back.jpg", jpeg_bytes())])
    response = post_form(customer_client, "/repair/new", data, content_type="multipart/form-data")
    assert response.status_code == 302
    r = requests_of(customer.email)[0]
    stored = sorted(r.photos, key=lambda p: p.original_name)
    assert [p.original_name for p in stored] == ["back.jpg", "crack.png"]
    assert [p.content_type for p in stored] == ["image/jpeg", "image/png"]
    folder = Path(app.config["UPLOAD_FOLDER"]) / "photos"
    for p in stored:
        assert p.stored_name not in ("back.jpg", "crack.png")
        assert len(p.stored_name.split(".")[0]) == 32
        path = folder / p.stored_name
        assert path.is_file() and path.stat().st_size == p.size
        assert "static" not in str(path)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("evil.jpg", b"<?php echo 'hi'; ?>" * 10, "not a photo"),
        ("page.png", b"<html><script>alert(1)</script></html>", "not a photo"),
        ("vector.svg", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "not a photo"),
        ("fake.jpg", b"\xff\xd8\xff" + b"garbage" * 20, "not a photo"),
        ("empty.png", b"", "empty"),
    ],
)
def test_non_images_are_refused_whatever_their_name(customer_client, app, name, data, message):
    body = _with_photos([(name, data)])
    response = post_form(customer_client, "/repair/new", body, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html[html.index('id="photos-error"') :][:300]
    assert "choose your photos again" in html
    assert db.session.scalar(sa.select(sa.func.count(RequestPhoto.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(ServiceRequest.id))) == 0


def test_photo_size_is_limited(customer_client, app):
    app.config["PHOTO_MAX_BYTES"] = 1024
    big = png_bytes() + b"\0" * 2048
    body = _with_photos([("big.png", big)])
    response = post_form(customer_client, "/repair/new", body, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "larger than" in response.get_data(as_text=True)


def test_photo_count_is_limited(customer_client, app):
    app.config["PHOTO_MAX_COUNT"] = 2
    body = _with_photos([(f"p{i}.png", png_bytes()) for i in range(3)])
    response = post_form(customer_client, "/repair/new", body, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "at most 2 photos" in response.get_data(as_text=True)


def _photo_request(customer_client, customer) -> RequestPhoto:
    body = _with_photos([("crack.png", png_bytes())])
    post_form(customer_client, "/repair/new", body, content_type="multipart/form-data")
    return requests_of(customer.email)[0].photos[0]


def test_owner_and_staff_see_photos_others_do_not(customer_client, app, customer):
    photo = _photo_request(customer_client, customer)
    url = f"/photos/{photo.id}"
    own = customer_client.get(url)
    assert own.status_code == 200
    assert own.mimetype == "image/png" and own.data == png_bytes()
    assert own.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in own.headers["Cache-Control"]
    page = customer_client.get(f"/account/repairs/{photo.service_request_id}")
    assert url in page.get_data(as_text=True)

    stranger = factories.CustomerFactory()
    other_client, _ = client_for(app, stranger)
    assert other_client.get(url).status_code == 404

    admin = factories.UserFactory(role="admin")
    staff_client, _ = client_for(app, admin)
    assert staff_client.get(url).status_code == 200
    # A technician sees the photos of the repairs assigned to them only.
    tech = factories.TechnicianFactory()
    tech_client, _ = client_for(app, tech)
    assert tech_client.get(url).status_code == 404
    photo.service_request.technician = tech
    assert tech_client.get(url).status_code == 200

    anonymous = app.test_client().get(url)
    assert anonymous.status_code == 302 and "/account/login" in anonymous.headers["Location"]
    # The private link shows the repair but not the photos.
    token_page = app.test_client().get(f"/track/{photo.service_request.tracking_token}")
    assert url not in token_page.get_data(as_text=True)


def test_missing_photo_is_404(customer_client, app):
    assert customer_client.get("/photos/12345").status_code == 404


def test_request_form_login_is_rate_limited(client, app):
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    data = {**DEVICE, "account_mode": "login", "login_email": "x@y.co", "login_password": "nope"}
    codes = [post_form(client, "/repair/new", data).status_code for _ in range(3)]
    assert codes == [422, 422, 429]


def test_oversized_upload_gets_a_friendly_page(customer_client, app):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    body = _with_photos([("huge.png", png_bytes() + b"\0" * 8192)])
    response = post_form(customer_client, "/repair/new", body, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "That upload is too large" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ServiceRequest.id))) == 0

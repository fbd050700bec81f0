"""ServiceRequest.search_text: written on every path that changes a searched value, and read
by the back office's search with Flask-Admin's meaning of ``word``, ``^word`` and ``=word``."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from fixmyphone import create_app
from fixmyphone.config import TestConfig
from fixmyphone.extensions import db
from fixmyphone.models import CustomerProfile, ServiceRequest, User
from fixmyphone.services import profiles, repairs
from fixmyphone.services.search import SEPARATOR, like_pattern, matches, text_for
from tests import factories

from .conftest import client_for


def _found(term: str) -> set[int]:
    """Ids of the repairs the search box finds for ``term`` (words ANDed, as the list does)."""
    clauses = [c for c in (matches(word) for word in term.split()) if c is not None]
    return set(db.session.scalars(sa.select(ServiceRequest.id).where(*clauses)))


def _stored(request: ServiceRequest) -> str:
    return db.session.scalar(
        sa.select(ServiceRequest.search_text).where(ServiceRequest.id == request.id)
    )


def _customer(name="Ada Lovelace", email="ada@analytical.example", phone="+44 20 7946 0001"):
    return factories.CustomerFactory(
        full_name=name, email=email, customer_profile=CustomerProfile(phone=phone)
    )


def test_text_is_lower_cased_separated_fields():
    text = text_for("FMP-AB12CD", None, "Apple", "iPhone 15", "Ada L", "a@x.example", None)
    assert text == "\x1ffmp-ab12cd\x1f\x1fapple\x1fiphone 15\x1fada l\x1fa@x.example\x1f\x1f"
    assert text_for("a\x1fb") == "\x1fa b\x1f"  # a separator in a value cannot fake a field


def test_patterns_keep_flask_admins_meaning_and_escape_wildcards():
    assert like_pattern("Word") == "%word%"
    assert like_pattern("^Word") == f"%{SEPARATOR}word%"
    assert like_pattern("=Word") == f"%{SEPARATOR}word{SEPARATOR}%"
    assert like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"
    assert like_pattern("^") is None and like_pattern("=") is None


def test_a_new_request_is_found_by_each_of_its_values(app):
    ada = _customer()
    request = repairs.create_service_request(
        ada,
        device_type="phone",
        brand="Apple",
        model="iPhone 15",
        issue_description="Cracked screen",
        imei="356938035643809",
    )
    other = factories.ServiceRequestFactory(brand="Google", model="Pixel 8")
    db.session.commit()
    assert request.reference and request.reference.lower() in _stored(request)
    for term in (
        request.reference[-4:].lower(),
        "0356438",
        "APPLE",
        "iphone",
        "lovelace",
        "analytical",
        "7946",
        "ada iphone",
        "^ada",
        "=apple",
        "=" + request.reference,
    ):
        assert _found(term) == {request.id}, term
    for term in ("^lovelace", "=appl", "ada pixel", "a_a", "100%"):
        assert request.id not in _found(term), term
    assert _found("pixel") == {other.id}


def test_a_changed_request_is_found_by_its_new_values_only(app):
    request = factories.ServiceRequestFactory(brand="Apple", model="iPhone 15", imei=None)
    bob = _customer(name="Bob Marley", email="bob@reggae.example", phone="+1 876 555 0002")
    db.session.commit()
    request.brand, request.model, request.imei = "Samsung", "Galaxy S24", "490154203237518"
    request.customer = bob
    db.session.commit()
    assert _found("galaxy samsung 0154203 marley reggae 876") == {request.id}
    assert _found("iphone") == _found("apple") == set()


def test_a_customers_new_name_and_phone_reach_their_requests(app):
    ada = _customer()
    first, second = factories.ServiceRequestFactory.create_batch(2, customer=ada)
    someone_else = factories.ServiceRequestFactory()
    db.session.commit()
    touched = {r.id: r.updated_at for r in (first, second)}
    profiles.update_profile(ada, ada, full_name="Ada King", phone="+44 20 7000 1234")
    db.session.commit()
    assert _found("king 7000") == {first.id, second.id}
    assert _found("lovelace") == _found("7946") == set()
    assert someone_else.id not in _found("king")
    # The loaded requests show the new text too, and did not change themselves.
    assert "ada king" in first.search_text
    db.session.expire_all()
    assert {r.id: r.updated_at for r in (first, second)} == touched


def test_a_first_profile_brings_its_phone_to_the_search(app):
    grace = factories.UserFactory(role="customer", full_name="Grace Hopper")
    request = factories.ServiceRequestFactory(customer=grace)
    db.session.commit()
    assert grace.customer_profile is None
    profiles.update_profile(grace, grace, phone="+1 202 555 0147")
    db.session.commit()
    assert _found("0147 hopper") == {request.id}


def test_a_changed_email_reaches_the_customers_requests(app):
    ada = _customer()
    request = factories.ServiceRequestFactory(customer=ada)
    db.session.commit()
    db.session.get(User, ada.id).email = "Countess@Engines.example"
    db.session.commit()
    assert _found("countess@engines") == {request.id}
    assert _found("analytical") == set()


def test_the_admin_list_finds_a_renamed_customers_requests(app):
    client, _ = client_for(app, "admin")
    ada = _customer()
    request = factories.ServiceRequestFactory(customer=ada)
    db.session.commit()
    profiles.update_profile(ada, ada, full_name="Ada King")
    db.session.commit()
    assert request.reference in client.get("/admin/requests/?search=king").get_data(as_text=True)
    html = client.get("/admin/requests/?search=lovelace").get_data(as_text=True)
    assert request.reference not in html


def _backfill_matches_text_for(url: str, tmp_path) -> None:
    """Migration 0003 fills search_text of existing rows exactly as the app would."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, UPLOAD_FOLDER=str(tmp_path))
    with app.app_context():
        upgrade(revision="0002")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, email, full_name, role, active, session_version,"
                    " created_at, updated_at) VALUES (1, 'ada@x.example', 'Ada LOVELACE',"
                    " 'customer', true, 1, :now, :now), (2, 'bob@x.example', 'Bob', 'customer',"
                    " true, 1, :now, :now)"
                ),
                {"now": "2026-01-01 00:00:00"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO customer_profiles (user_id, phone, notify_email,"
                    " notify_sms, notify_in_app, notification_prefs) VALUES"
                    " (1, '+44 1', true, false, true, '{}')"
                )
            )
            for rid, customer, imei in ((1, 1, "356938035643809"), (2, 2, None)):
                conn.execute(
                    sa.text(
                        "INSERT INTO service_requests (id, reference, tracking_token,"
                        " customer_id, device_type, brand, model, imei, issue_description,"
                        " status, quote_status, no_charge, created_at, updated_at) VALUES"
                        " (:id, :ref, :token, :customer, 'phone', 'Apple', 'iPhone X', :imei,"
                        " 'broken', 'pending', 'none', false, :now, :now)"
                    ),
                    {
                        "id": rid,
                        "ref": f"FMP-AAAA{rid:02d}",
                        "token": f"t{rid}",
                        "customer": customer,
                        "imei": imei,
                        "now": "2026-01-01 00:00:00",
                    },
                )
        upgrade()
        rows = db.session.execute(
            sa.select(ServiceRequest.id, ServiceRequest.search_text).order_by(ServiceRequest.id)
        ).all()
        assert rows == [
            (
                1,
                text_for(
                    "FMP-AAAA01",
                    "356938035643809",
                    "Apple",
                    "iPhone X",
                    "Ada LOVELACE",
                    "ada@x.example",
                    "+44 1",
                ),
            ),
            (2, text_for("FMP-AAAA02", None, "Apple", "iPhone X", "Bob", "bob@x.example", None)),
        ]
        db.session.remove()
        db.engine.dispose()


def test_migration_backfills_search_text_on_sqlite(tmp_path):
    _backfill_matches_text_for(f"sqlite:///{tmp_path / 'backfill.db'}", tmp_path)


@pytest.mark.postgres
def test_migration_backfills_search_text_on_postgresql(require_postgres, tmp_path):
    _backfill_matches_text_for(require_postgres, tmp_path)

"""The admin request list's search and filters: right rows, and a trigram index on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from fixmyphone import create_app
from fixmyphone.config import TestConfig
from fixmyphone.extensions import db
from fixmyphone.models import CustomerProfile
from tests import factories
from tests.conftest import ShopClient, client_for

LIST = "/admin/requests/"
SEARCH_INDEX = "ix_service_requests_search_text_trgm"
# Migration 0002's per-column indexes, which 0003 replaced by SEARCH_INDEX.
PER_COLUMN_INDEXES = {
    "ix_service_requests_reference_trgm",
    "ix_service_requests_imei_trgm",
    "ix_service_requests_brand_trgm",
    "ix_service_requests_model_trgm",
    "ix_users_full_name_trgm",
    "ix_users_email_trgm",
    "ix_customer_profiles_phone_trgm",
}


def _shop():
    """Three repairs told apart by every searched column."""
    tech = factories.TechnicianFactory()
    ada = factories.CustomerFactory(
        full_name="Ada Lovelace",
        email="ada.l@analytical.example",
        customer_profile=CustomerProfile(phone="+44 20 7946 0001"),
    )
    bob = factories.CustomerFactory(
        full_name="Bob Marley",
        email="bob@reggae.example",
        customer_profile=CustomerProfile(phone="+1 876 555 0002"),
    )
    ada_phone = factories.ServiceRequestFactory(
        customer=ada, brand="Apple", model="iPhone 15", imei="356938035643809", technician=tech
    )
    ada_tablet = factories.ServiceRequestFactory(
        customer=ada, brand="Samsung", model="Galaxy Tab S8", status="in_progress"
    )
    bob_phone = factories.ServiceRequestFactory(
        customer=bob, brand="Google", model="Pixel 8", imei="490154203237518"
    )
    db.session.commit()
    return tech, ada_phone, ada_tablet, bob_phone


def _found(client, query: str, repairs) -> set[str]:
    html = client.get(LIST + query).get_data(as_text=True)
    return {r.reference for r in repairs if r.reference in html}


def test_search_finds_substrings_of_every_searched_column_case_insensitively(app):
    client, _ = client_for(app, "admin")
    _, ada_phone, ada_tablet, bob_phone = _shop()
    everyone = (ada_phone, ada_tablet, bob_phone)
    ada, bob = {ada_phone.reference, ada_tablet.reference}, {bob_phone.reference}
    tablet = {ada_tablet.reference}
    cases = {
        "lovelace": ada,  # customer name, other case
        "ANALYTICAL": ada,  # customer email
        "7946": ada,  # customer phone
        "reggae.ex": bob,  # email
        "0352037": set(),  # not a substring of any IMEI
        "0154203": bob,  # IMEI fragment
        "galaxy": tablet,  # device model
        "pixel": bob,
        "samsung": tablet,  # brand
        ada_phone.reference[-4:].lower(): {ada_phone.reference},  # reference fragment
        "ada+galaxy": tablet,  # every word must match (in any column)
        "ada+pixel": set(),
        "^Bob": bob,  # Flask-Admin's prefix syntax still works
        "nobody-like-this": set(),
    }
    for term, expected in cases.items():
        assert _found(client, f"?search={term}", everyone) == expected, term


def test_search_and_filters_combine_and_count(app):
    client, _ = client_for(app, "admin")
    tech, ada_phone, ada_tablet, bob_phone = _shop()
    everyone = (ada_phone, ada_tablet, bob_phone)
    by_tech = _found(client, f"?flt0_technician_equals={tech.id}", everyone)
    assert by_tech == {ada_phone.reference}
    searched = _found(client, "?search=lovelace&flt0_status_equals=in_progress", everyone)
    assert searched == {ada_tablet.reference}
    by_brand = _found(client, "?search=ada&flt0_brand_contains=appl", everyone)
    assert by_brand == {ada_phone.reference}
    # The pager's count is the number of matches, not of joined rows.
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "admin_requests")
    with app.test_request_context():
        from flask_login import login_user

        login_user(factories.UserFactory(role="admin"))
        count, rows = view.get_list(0, None, False, "ada", None)
    assert count == 2 and {r.id for r in rows} == {ada_phone.id, ada_tablet.id}


def test_technician_searches_only_their_own_queue(app):
    _, ada_phone, ada_tablet, bob_phone = _shop()
    client, _ = client_for(app, ada_phone.technician)
    assert _found(client, "?search=ada", (ada_phone, ada_tablet, bob_phone)) == {
        ada_phone.reference
    }


def test_the_total_stops_counting_at_the_cap(app, monkeypatch):
    """A search matching most of a chain's history must not count every match on each page."""
    from fixmyphone.admin import requests as request_admin

    client, _ = client_for(app, "admin")
    _shop()
    monkeypatch.setattr(request_admin, "COUNT_CAP", 2)
    html = client.get(LIST).get_data(as_text=True)
    assert "List (2+)" in html
    assert "List (1)" in client.get(LIST + "?search=pixel").get_data(as_text=True)


@pytest.mark.postgres
def test_search_uses_the_trigram_index_the_migration_makes(require_postgres, tmp_path):
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=require_postgres,
        UPLOAD_FOLDER=str(tmp_path / "uploads"),
        JOBS_INLINE=True,
    )
    app.test_client_class = ShopClient
    with app.app_context():
        upgrade()
        found = dict(
            db.session.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%_trgm'")
            ).all()
        )
        assert set(found) == {SEARCH_INDEX}
        assert all("USING gin" in d and "gin_trgm_ops" in d for d in found.values()), found

        _, ada_phone, ada_tablet, bob_phone = _shop()
        client, _ = client_for(app, "admin")
        statements = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            if "FROM service_requests" in statement and "search_text LIKE" in statement:
                statements.append((statement, parameters))

        sa.event.listen(db.engine, "before_cursor_execute", capture)
        try:
            found_rows = _found(client, "?search=lovelace", (ada_phone, ada_tablet, bob_phone))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", capture)
        assert found_rows == {ada_phone.reference, ada_tablet.reference}
        assert len(statements) == 2  # the count and the page
        for statement, parameters in statements:
            with db.engine.connect() as conn:
                # With a few rows a full scan is cheaper; forbid it to see which indexes serve.
                conn.exec_driver_sql("SET enable_seqscan = off")
                conn.exec_driver_sql("SET enable_indexscan = off")
                plan = "\n".join(
                    row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters)
                )
            assert f"Bitmap Index Scan on {SEARCH_INDEX}" in plan, plan

        db.session.remove()
        tables = ("users", "service_requests", "customer_profiles")
        downgrade(revision="0002")
        names = {i["name"] for t in tables for i in _indexes(t)}
        assert PER_COLUMN_INDEXES <= names and SEARCH_INDEX not in names
        downgrade(revision="0001")
        names = {i["name"] for t in tables for i in _indexes(t)}
        assert not names & (PER_COLUMN_INDEXES | {SEARCH_INDEX})
        db.engine.dispose()


def _indexes(table: str) -> list[dict]:
    return sa.inspect(db.engine).get_indexes(table)

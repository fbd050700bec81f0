"""How the app uses its database connections: no ping per request, reads outside transactions."""

import pytest
import sqlalchemy as sa

from fixmyphone import database
from fixmyphone.extensions import db

from .conftest import make_app
from .factories import PASSWORD, CustomerFactory, ServiceRequestFactory


@pytest.fixture
def pg_app(require_postgres, tmp_path):
    app = make_app(require_postgres, tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _pings(app, monkeypatch):
    with app.app_context():
        engine = db.engine
    calls = []
    real = engine.dialect.do_ping

    def counting(dbapi_connection):
        calls.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return calls


def _use_a_connection(app):
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        db.session.remove()


@pytest.mark.postgres
def test_postgresql_sessions_run_without_jit(pg_app):
    """JIT compiling cost the dashboard's statement on 100k repairs a third of its time."""
    with pg_app.app_context():
        assert db.session.scalar(sa.text("SHOW jit")) == "off"
        db.session.remove()
        with database.read_connection() as connection:  # the API's own pooled reads too
            assert connection.scalar(sa.text("SHOW jit")) == "off"


@pytest.mark.postgres
def test_a_busy_pooled_connection_is_not_pinged(pg_app, monkeypatch):
    _use_a_connection(pg_app)
    pings = _pings(pg_app, monkeypatch)
    for _ in range(5):
        _use_a_connection(pg_app)
    assert pings == []


@pytest.mark.postgres
def test_a_connection_idle_for_long_is_pinged_before_use(pg_app, monkeypatch):
    _use_a_connection(pg_app)
    pings = _pings(pg_app, monkeypatch)
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", -1.0)
    _use_a_connection(pg_app)
    assert pings == [1]


@pytest.mark.postgres
def test_a_connection_the_server_closed_is_replaced_without_an_error(pg_app):
    with pg_app.app_context():
        before = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        db.session.remove()
        admin = sa.create_engine(
            db.engine.url.set(database="postgres").render_as_string(hide_password=False),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
            while conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": before}
            ).scalar():
                pass
        admin.dispose()
        after = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        db.session.remove()
    assert after != before


def _api_token(client, email):
    response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    return response.json["access_token"]


def _statements_of(app, client, path, token):
    seen = []

    def remember(_conn, _cursor, statement, *_args):
        seen.append(statement.split()[0].upper())

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", remember)
    begins = []
    sa.event.listen(
        engine,
        "begin",
        lambda conn: begins.append(conn.get_execution_options().get("isolation_level")),
    )
    try:
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)
    return response, seen, begins


@pytest.mark.postgres
def test_the_status_read_runs_outside_a_transaction(pg_app):
    with pg_app.app_context():
        customer = CustomerFactory()
        request = ServiceRequestFactory(customer=customer)
        db.session.commit()
        request_id, email = request.id, customer.email
    client = pg_app.test_client()
    token = _api_token(client, email)
    response, statements, begins = _statements_of(
        pg_app, client, f"/api/service-request/{request_id}/status", token
    )
    assert response.status_code == 200
    assert statements == ["SELECT", "SELECT"]
    assert begins == ["AUTOCOMMIT"]


def _isolation() -> str | None:
    return db.session.connection().get_execution_options().get("isolation_level")


def test_a_page_marked_as_reading_runs_outside_a_transaction_and_only_that_request(app, client):
    seen = []

    @database.reads_outside_transaction
    def reading():
        seen.append(_isolation())
        return "read"

    def other():
        seen.append(_isolation())
        return "other"

    app.add_url_rule("/_reading", view_func=reading)
    app.add_url_rule("/_other", view_func=other)
    db.session.remove()  # a request starts with a fresh session, as it does in production
    assert client.get("/_reading").status_code == 200
    assert client.get("/_other").status_code == 200
    assert seen == ["AUTOCOMMIT", None]
    assert _isolation() is None  # what runs after the request is back in transactions


@pytest.mark.parametrize(
    "endpoint",
    [
        "public.index",
        "public.account",
        "public.history",
        "public.repair",
        "public.track_token",
        "admin.index",
        "admin_requests.index_view",
        "admin_requests.request_page",
        "admin_checkout.repair_page",
        "admin_appointments.calendar",
        "admin_appointments.events",
    ],
)
def test_the_pages_people_use_most_read_outside_a_transaction(app, endpoint):
    assert getattr(app.view_functions[endpoint], "reads_outside_transaction", False)


@pytest.mark.postgres
def test_a_read_page_keeps_its_statements_prepared(pg_app):
    """psycopg drops its prepared statements on every ROLLBACK: a page read in a transaction
    (which ends in one) never ran a statement prepared, and PostgreSQL planned it every time."""
    with pg_app.app_context():
        token = ServiceRequestFactory(customer=CustomerFactory()).tracking_token
        db.session.commit()
        db.session.remove()
    client = pg_app.test_client()
    for _ in range(8):  # psycopg prepares a statement on its 5th execution on a connection
        assert client.get(f"/track/{token}").status_code == 200
    with pg_app.app_context():
        prepared = db.session.scalar(sa.text("SELECT count(*) FROM pg_prepared_statements"))
        db.session.remove()
    assert prepared > 0


def test_read_only_views_still_answer_on_sqlite(app, client):
    customer = CustomerFactory()
    request = ServiceRequestFactory(customer=customer)
    db.session.commit()
    token = _api_token(client, customer.email)
    response = client.get(
        f"/api/service-request/{request.id}/status", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json["history"][0]["status"] == "pending"


@pytest.mark.postgres
def test_creating_the_app_opens_no_connection(require_postgres):
    """gunicorn preloads the app in its master and forks workers: a connection opened while
    creating the app would be shared by every worker."""
    from fixmyphone import create_app
    from fixmyphone.config import TestConfig

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=require_postgres)
    with app.app_context():
        pool = db.engine.pool
        assert (pool.checkedin(), pool.checkedout()) == (0, 0)
        db.engine.dispose()

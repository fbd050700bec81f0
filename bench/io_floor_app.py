"""The I/O floor: bare Flask, PyJWT and psycopg 3 doing what the app does for
``GET /api/service-request/{id}/status`` and nothing else.

The same token check (a signed JWT, then the user and "was the login family revoked" in one
statement), the same status statement (the request, its technician and its public history in
one join), the same JSON, byte for byte. The two statements are the app's own SQL text as
SQLAlchemy sends it (``bench_api.py`` checks they still are before it measures). One connection
per worker, outside a transaction, as the app reads. No session, no hooks, no schema layer:
what is left between this and the app is what the app adds.

Served by gunicorn like the app: ``gunicorn -c gunicorn.conf.py io_floor_app:app`` with
DATABASE_URL and SECRET_KEY (or JWT_SECRET_KEY) set as for the app.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from datetime import UTC

import jwt
import psycopg
from flask import Flask, jsonify, request

# The words the app shows for a status (data only: nothing of the app runs per request).
from fixmyphone.labels import STATUS_WORDS

# The app's two statements, as SQLAlchemy renders them for psycopg (services/tokens.py's
# CALLER_AND_FAMILY and services/repairs.py's STATUS_BY_SCOPE).
CALLER_AND_FAMILY = (
    "SELECT users.id, users.role, users.active, users.session_version, EXISTS (SELECT * \n"
    "FROM refresh_tokens \n"
    "WHERE refresh_tokens.family_id = %(family_id)s::VARCHAR AND refresh_tokens.revoked_at IS "
    "NOT NULL) AS family_revoked \n"
    "FROM users \n"
    "WHERE users.id = %(user_id)s::INTEGER"
)
_STATUS = (
    "SELECT service_requests.id, service_requests.reference, service_requests.status, "
    "service_requests.estimated_completion, technician.id AS technician_id, "
    "technician.full_name, status_changes.to_status, status_changes.note, "
    "status_changes.created_at \n"
    "FROM service_requests LEFT OUTER JOIN users AS technician ON technician.id = "
    "service_requests.technician_id LEFT OUTER JOIN status_changes ON "
    "status_changes.service_request_id = service_requests.id AND status_changes.is_public IS "
    "true \n"
    "WHERE service_requests.id = %(request_id)s::INTEGER{scope} ORDER BY status_changes.id"
)
# Which requests a user sees (repairs.scope): admins all, technicians theirs, customers theirs.
STATUS_BY_SCOPE = {
    None: _STATUS.format(scope=""),
    "technician_id": _STATUS.format(
        scope=" AND service_requests.technician_id = %(scope_user_id)s::INTEGER"
    ),
    "customer_id": _STATUS.format(
        scope=" AND service_requests.customer_id = %(scope_user_id)s::INTEGER"
    ),
}
SCOPE_OF_ROLE = {
    "admin": None,
    "superadmin": None,
    "technician": "technician_id",
    "customer": "customer_id",
}
# The columns of CALLER_AND_FAMILY, by position.
_ROLE, _ACTIVE, _SESSION_VERSION, _REVOKED = 1, 2, 3, 4


def database_url() -> str:
    url = os.environ["DATABASE_URL"]
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql://" + url[len(prefix) :]
    return url


def jwt_key() -> str:
    """The app's JWT key: JWT_SECRET_KEY, else derived from SECRET_KEY as config.py does."""
    key = os.environ.get("JWT_SECRET_KEY")
    if key:
        return key
    secret = os.environ["SECRET_KEY"].encode()
    return hmac.new(secret, b"fixmyphone api tokens", hashlib.sha256).hexdigest()


app = Flask(__name__)
KEY = jwt_key()
_connection: dict[int, psycopg.Connection] = {}  # per process: gunicorn forks after import


def connection() -> psycopg.Connection:
    conn = _connection.get(os.getpid())
    if conn is None or conn.closed:
        conn = _connection[os.getpid()] = psycopg.connect(database_url(), autocommit=True)
    return conn


def error(status: int, code: str, message: str):
    return jsonify(error={"code": code, "message": message}), status


def iso(moment):
    return None if moment is None else moment.astimezone(UTC).isoformat()


@app.get("/api/service-request/<int:request_id>/status")
def status(request_id: int):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error(401, "unauthorized", "Send an access token.")
    try:
        claims = jwt.decode(
            token.strip(),
            KEY,
            algorithms=["HS256"],
            options={
                "require": ["exp", "iat", "sub", "jti", "sv", "fam"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
        user_id = int(claims["sub"])
    except (jwt.PyJWTError, TypeError, ValueError):
        return error(401, "unauthorized", "The access token is invalid.")
    if time.time() >= claims["exp"]:
        return error(401, "unauthorized", "The access token has expired; refresh it.")
    conn = connection()
    user = conn.execute(
        CALLER_AND_FAMILY, {"family_id": claims["fam"], "user_id": user_id}
    ).fetchone()
    if (
        user is None
        or not user[_ACTIVE]
        or user[_SESSION_VERSION] != claims["sv"]
        or user[_REVOKED]
        or user[_ROLE] not in SCOPE_OF_ROLE
    ):
        return error(401, "unauthorized", "The access token is no longer valid.")
    column = SCOPE_OF_ROLE[user[_ROLE]]
    params = {"request_id": request_id}
    if column is not None:
        params["scope_user_id"] = user_id
    rows = conn.execute(STATUS_BY_SCOPE[column], params).fetchall()
    if not rows:
        return error(404, "not_found", "No such service request.")
    rid, reference, state, estimated, technician_id, technician_name = rows[0][:6]
    return jsonify(
        id=rid,
        reference=reference,
        status=state,
        status_label=STATUS_WORDS[state],
        estimated_completion=iso(estimated),
        technician=(
            {"name": (technician_name or "").split(" ")[0]} if technician_id is not None else None
        ),
        history=[
            {"status": to, "status_label": STATUS_WORDS[to], "note": note, "at": iso(at)}
            for *_, to, note, at in rows
            if to is not None
        ],
    )

"""Bad input is a 400/422 (or a 404, a redirect, a form error), never a 5xx.

Generated, not listed: every rule in ``app.url_map``, every method it takes, as each role
(anonymous, customer, technician, admin, super admin), with

- NUL characters in the path, in the query string and in the body (form fields or JSON);
- integers past any column's range in path ids, query parameters and body fields;
- CR/LF in redirect targets (``next=``, Flask-Admin's ``url=``) and in every text field;
- the forms the pages themselves render, sent back with their numbers made huge and their
  text fields given CR/LF.

Query parameter names come from the links the pages render, each admin list's filters and a
few common names; body fields from the forms the pages render and, for the API, from its
OpenAPI document. A new route, form, filter or API field is covered without editing this file.

The fixture below turns CSRF and rate limits off so that payloads reach the views (CSRF and
the limits have their own tests). On PostgreSQL (``DATABASE_URL``) this is where NUL bytes and
out-of-range integers used to raise DataError.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from fixmyphone.extensions import db
from fixmyphone.models import Message, ServiceRequest, User
from fixmyphone.seed import DEMO_LOGINS, DEMO_PASSWORD, seed

from ..api.conftest import bearer
from ..conftest import clean_database, client_for, csrf_token, make_app
from ..factories import PASSWORD, ServiceRequestFactory

HUGE = "99999999999999999999"
NUL = "bad\x00value"
CRLF = "line one\r\nSet-Cookie: injected=1"
CRLF_TARGET = "/account\r\nSet-Cookie: injected=1"
REDIRECT_PARAMS = {"next", "url"}
COMMON_PARAMS = {"next", "url", "id", "page", "page_size", "sort", "desc", "search", "q", "date"}
ROLES = ("anonymous", "customer", "technician", "admin", "superadmin")
SKIP_METHODS = {"HEAD", "OPTIONS"}
# The only 5xx a route may answer: the readiness probe reporting the schema was not made by
# migrations (this test's database comes from create_all).
ALLOWED_5XX = {"health.readyz": {503}}


class PageParser(HTMLParser):
    """The forms (action, method, fields with their rendered values) and link query names."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.query_names: set[str] = set()
        self._form: dict | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href") and "?" in a["href"]:
            self.query_names |= {k for k, _v in parse_qsl(urlsplit(a["href"]).query)}
        elif tag == "form":
            self._form = {
                "action": a.get("action") or "",
                "method": (a.get("method") or "get").upper(),
                "fields": [],
            }
            self.forms.append(self._form)
        elif self._form is None or not a.get("name"):
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in {"checkbox", "radio"} and "checked" not in a:
                return
            if kind not in {"submit", "button", "image", "file"}:
                self._form["fields"].append([a["name"], a.get("value") or "", kind])
        elif tag == "select":
            self._select = a["name"]
            self._form["fields"].append([a["name"], "", "select"])
        elif tag == "textarea":
            self._textarea = a["name"]
            self._form["fields"].append([a["name"], "", "textarea"])
        if tag == "option" and self._select and self._form:
            field = next(f for f in reversed(self._form["fields"]) if f[0] == self._select)
            if field[1] == "" or "selected" in a:
                field[1] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _numeric(value: str, kind: str) -> bool:
    return kind == "number" or (value.isdigit() and kind in {"hidden", "select", "text"})


def _mutate(fields, *, numbers: str | None, texts: str | None) -> list[tuple[str, str]]:
    """A form's own fields with numbers and/or free texts replaced."""
    out = []
    for name, value, kind in fields:
        if name == "csrf_token":
            continue
        if _numeric(value, kind) or name in {"id", "rowid"}:
            out.append((name, numbers if numbers is not None else value))
        elif name in REDIRECT_PARAMS and texts is not None:
            out.append((name, CRLF_TARGET))
        elif kind in {"text", "textarea", "email", "tel", "search", "password", "hidden"}:
            out.append((name, texts if texts is not None else value))
        else:
            out.append((name, value))
    return out


def _converter_value(rule, name: str, flavour: str, tokens: dict):
    converter = type(rule._converters[name]).__name__
    if converter in {"IntegerConverter", "IdConverter"}:
        return int(HUGE) if flavour == "huge" else 1
    if converter == "PathConverter":
        base = "css/app.css"
    elif name == "export_type":
        base = "csv"
    elif "token" in name:
        base = tokens["tracking"]
    else:
        base = "x"
    return base + "\x00" if flavour == "nul" else base


def _api_operations(client) -> dict:
    """For each (path template, method): query names and JSON body properties with types."""
    spec = client.get("/api/openapi.json").get_json()
    schemas = spec.get("components", {}).get("schemas", {})

    def resolve(schema):
        while isinstance(schema, dict) and "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema or {}

    operations = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if method == "parameters":
                continue
            params = [p for p in op.get("parameters", []) if p.get("in") == "query"]
            body = resolve(
                op.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            props = {
                k: resolve(v).get("type", "string") for k, v in body.get("properties", {}).items()
            }
            operations[(path, method.upper())] = {
                "query": {p["name"] for p in params},
                "body": props,
            }
    return operations


def _json_body(props: dict, flavour: str) -> dict:
    # Every documented field, plus one the API ignores (a body with no fields still carries one).
    body = {}
    for name, kind in {**props, "unknown_field": "string"}.items():
        if flavour == "nul":
            body[name] = NUL
        elif flavour == "huge":
            body[name] = int(HUGE) if kind in {"integer", "number"} else HUGE
        else:
            body[name] = CRLF_TARGET if name in REDIRECT_PARAMS else CRLF
    return body


@pytest.fixture(scope="module")
def shop(database_url, tmp_path_factory):
    """A seeded demo shop; CSRF and rate limits off so that payloads reach the views."""
    app = make_app(
        database_url,
        tmp_path_factory.mktemp("bad-input"),
        WTF_CSRF_ENABLED=False,
        RATELIMIT_ENABLED=False,
        STRIPE_WEBHOOK_SECRET="whsec_bad_input_test",
    )
    with app.app_context():
        seed()
        db.session.commit()
        tokens = {
            "tracking": db.session.scalar(
                sa.select(ServiceRequest.tracking_token).order_by(ServiceRequest.id).limit(1)
            )
        }
        db.session.remove()
    yield app, tokens
    clean_database(app)


def _client_for(app, role: str):
    client = app.test_client()
    api_headers = {}
    if role != "anonymous":
        email = dict(DEMO_LOGINS)[role]
        with app.app_context():
            user = db.session.scalars(sa.select(User).where(User.email == email)).one()
            client_for(app, user, client=client, password=DEMO_PASSWORD)
        pair = client.post("/api/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        assert pair.status_code == 200, (role, pair.get_json())
        api_headers = {"Authorization": f"Bearer {pair.get_json()['access_token']}"}
    return client, api_headers


def _rules(app):
    # Log out last: it ends the role's sessions (that is the point of it).
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint == "auth.logout", r.rule))
    for rule in rules:
        for method in sorted(rule.methods - SKIP_METHODS):
            yield rule, method


@pytest.mark.parametrize("role", ROLES)
def test_no_route_answers_5xx_to_bad_input(shop, role):
    app, tokens = shop
    started = time.monotonic()
    client, api_headers = _client_for(app, role)
    adapter = app.url_map.bind("localhost")
    api_ops = _api_operations(client)
    admin_filters = {
        view.endpoint: {f"flt0_{name}" for name in (getattr(view, "_filter_args", None) or {})}
        for admin in app.extensions["admin"]
        for view in admin._views
    }
    failures: list[str] = []
    sent = defaultdict(int)

    def send(rule, method, label, *, flavour_path="ok", query=(), form=None, body=None):
        values = {n: _converter_value(rule, n, flavour_path, tokens) for n in rule.arguments}
        path = adapter.build(rule.endpoint, values, method=method)
        is_api = path.startswith("/api/")
        headers = dict(api_headers) if is_api else {}
        kwargs = {"method": method, "headers": headers}
        if query:
            path = f"{path}?{urlencode(list(query))}"
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        elif form is not None:
            kwargs["data"] = form
        response = client.open(path, **kwargs)
        sent[label] += 1
        status = response.status_code
        if status >= 500 and status not in ALLOWED_5XX.get(rule.endpoint, ()):
            failures.append(f"{role} {method} {path!r} [{label}] -> {status}")
        elif label.startswith("nul-") and status not in (400, 422):
            # The guard answers before any view, whoever asks.
            failures.append(f"{role} {method} {path!r} [{label}] -> {status}, not 400/422")
        return response

    # 1. Visit every page with sane values: collect forms and query names.
    forms_by_page, query_names = [], set(COMMON_PARAMS)
    for rule, method in _rules(app):
        if method != "GET" or rule.endpoint in {"static", "admin.static"}:
            continue
        response = send(rule, method, "visit")
        if response.mimetype == "text/html" and response.status_code == 200:
            parser = PageParser()
            parser.feed(response.get_data(as_text=True))
            query_names |= parser.query_names
            forms_by_page.extend(parser.forms)
    form_fields = {name for f in forms_by_page for name, _v, _k in f["fields"]} - {"csrf_token"}

    # 2. Every rule and method, with each kind of bad value where it can go.
    for rule, method in _rules(app):
        template = rule.rule.replace("<", "{").replace(">", "}")
        api = next(
            (op for (p, m), op in api_ops.items() if m == method and _same_route(p, template)),
            None,
        )
        names = set(query_names) | admin_filters.get(rule.endpoint.split(".")[0], set())
        if api is not None:
            names |= api["query"]
            sent["api-operations"] += 1
        takes_body = method in {"POST", "PUT", "PATCH", "DELETE"}
        int_args = [n for n in rule.arguments if "Int" in type(rule._converters[n]).__name__]
        int_args += [
            n for n in rule.arguments if type(rule._converters[n]).__name__ == "IdConverter"
        ]
        str_args = [n for n in rule.arguments if n not in int_args]

        if str_args:
            send(rule, method, "nul-path", flavour_path="nul")
        if int_args:
            send(rule, method, "huge-path", flavour_path="huge")
        send(rule, method, "nul-query", query=[(n, NUL) for n in sorted(names)])
        send(rule, method, "huge-query", query=[(n, HUGE) for n in sorted(names)])
        crlf_query = [(n, CRLF_TARGET if n in REDIRECT_PARAMS else CRLF) for n in sorted(names)]
        send(rule, method, "crlf-query", query=crlf_query)
        if takes_body:
            for flavour in ("nul", "huge", "crlf"):
                send(rule, method, f"{flavour}-body", **_body(api, form_fields, flavour))

    # 3. The forms the pages render, sent back with huge numbers, then with CR/LF texts.
    seen = set()
    for form in forms_by_page:
        action = form["action"] or "/"
        key = (action.split("?")[0], form["method"], tuple(f[0] for f in form["fields"]))
        if form["method"] != "POST" or key in seen or action.endswith("/account/logout"):
            continue
        seen.add(key)
        for label, numbers, texts in (("form-huge", HUGE, None), ("form-crlf", HUGE, CRLF)):
            data = MultiDict(_mutate(form["fields"], numbers=numbers, texts=texts))
            response = client.post(action, data=data)
            sent[label] += 1
            if response.status_code >= 500:
                failures.append(f"{role} POST {action!r} [{label}] -> {response.status_code}")

    assert not failures, "\n".join(failures)
    api_rules = [r for r, m in _rules(app) if r.rule.startswith("/api/") and "docs" not in r.rule]
    assert sent["api-operations"] == len(api_rules) - 1  # all but /api/openapi.json itself
    assert sent["visit"] > 50 and sent["nul-query"] > 150
    print(
        f"{role}: {sum(sent.values())} requests in {time.monotonic() - started:.1f}s {dict(sent)}"
    )


def _same_route(openapi_path: str, flask_template: str) -> bool:
    """'/api/service-request/{request_id}' is '/api/service-request/{id:request_id}'."""
    a, b = openapi_path.split("/"), flask_template.split("/")
    if len(a) != len(b):
        return False
    return all(
        x == y or x.strip("{}") == y.strip("{}").split(":")[-1] for x, y in zip(a, b, strict=True)
    )


def _body(api, form_fields: set, flavour: str) -> dict:
    """``send`` keywords for a body of this flavour: JSON for the API, a form elsewhere."""
    if api is not None:
        return {"body": _json_body(api["body"], flavour)}
    value = {"nul": NUL, "huge": HUGE, "crlf": CRLF}[flavour]
    data = {name: value for name in form_fields}
    if flavour == "crlf":
        data |= {name: CRLF_TARGET for name in REDIRECT_PARAMS}
    return {"form": data}


# ---------------------------------------------------------------- the cases of issue 12, exactly
# (regular fixtures: CSRF on, a fresh shop per test, SQLite or PostgreSQL)


def _assert_error_page(response, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html"
    assert "<html" in response.get_data(as_text=True).lower()


def _assert_api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    return error


def test_nul_in_the_profile_form_is_a_400_page_and_nothing_is_saved(customer_client, customer):

    name = customer.full_name
    response = customer_client.post(
        "/account/profile",
        data={
            "full_name": "Eve\x00",
            "csrf_token": csrf_token(customer_client, "/account/profile"),
        },
    )
    _assert_error_page(response, 400)
    assert db.session.get(type(customer), customer.id).full_name == name


def test_nul_in_a_new_repair_or_a_message_is_a_400_page(customer_client, customer):

    data = {
        "device_type": "phone",
        "brand": "Apple",
        "model": "iPhone 13",
        "issue_description": "Cracked\x00",
        "csrf_token": csrf_token(customer_client, "/repair/new"),
    }
    _assert_error_page(customer_client.post("/repair/new", data=data), 400)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceRequest)) == 0
    repair = ServiceRequestFactory(customer=customer)
    db.session.commit()
    page = f"/account/repairs/{repair.id}"
    response = customer_client.post(
        f"{page}/messages", data={"body": "hi\x00", "csrf_token": csrf_token(customer_client, page)}
    )
    _assert_error_page(response, 400)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_nul_in_a_tracking_link_is_a_400_page(client, customer):

    repair = ServiceRequestFactory(customer=customer)
    db.session.commit()
    _assert_error_page(client.get(f"/track/{repair.tracking_token}%00"), 400)
    assert client.get(f"/track/{repair.tracking_token}").status_code == 200


def test_nul_in_the_back_office_search_is_a_400_page(admin_client):
    _assert_error_page(admin_client.get("/admin/requests/?search=%00"), 400)
    _assert_error_page(admin_client.get("/admin/customers/?search=a%00b"), 400)


def test_an_out_of_range_technician_filter_is_refused_not_sent_to_the_database(
    admin_client, technician
):

    ServiceRequestFactory(technician=technician, brand="Fairphone")
    db.session.commit()
    response = admin_client.get(f"/admin/requests/?flt1_technician_equals={HUGE}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Invalid Filter Value" in html and "Fairphone" in html  # ignored, listed unfiltered
    response = admin_client.get(f"/admin/requests/?flt1_technician_equals={technician.id}")
    assert response.status_code == 200 and "Fairphone" in response.get_data(as_text=True)


def test_the_audit_log_filters_by_actor_id(superadmin_client, superadmin):
    """The actor filter compared an INTEGER column with a string: every use failed on
    PostgreSQL. It now takes whole numbers and refuses anything else."""
    response = superadmin_client.get(f"/admin/audit/?flt0_actor_id_equals={superadmin.id}")
    assert response.status_code == 200
    response = superadmin_client.get("/admin/audit/?flt0_actor_id_equals=abc")
    assert response.status_code == 200 and "Invalid Filter Value" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        f"/account/repairs/{HUGE}",
        f"/documents/invoice/{HUGE}.pdf",
        f"/photos/{HUGE}",
        f"/admin/requests/view/{HUGE}",
        "/account/repairs/2147483648",  # one past INTEGER
    ],
)
def test_an_id_past_the_integer_range_names_nothing(admin_client, path):
    assert admin_client.get(path).status_code == 404


def test_a_huge_page_number_is_a_400_not_a_500(customer_client):
    _assert_error_page(customer_client.get(f"/notifications/?page={HUGE}"), 400)


def test_crlf_in_next_after_login_goes_to_the_default_page(client, customer):

    db.session.commit()
    for target in ("/account%0d%0aSet-Cookie:x=1", "/account%0aSet-Cookie:x=1", "/\\evil.example"):
        browser = client.application.test_client()
        response = browser.post(
            f"/account/login?next={target}",
            data={
                "email": customer.email,
                "password": PASSWORD,
                "csrf_token": csrf_token(browser, "/account/login"),
            },
        )
        assert response.status_code == 302
        assert response.headers["Location"] == "/account"
        assert "x=1" not in " ".join(response.headers.getlist("Set-Cookie"))


def test_crlf_in_a_back_office_return_address_is_a_400(admin_client):

    token = csrf_token(admin_client, "/admin/requests/")
    response = admin_client.post(
        "/admin/requests/delete/",
        data={"id": "999999", "url": "/admin/\r\nSet-Cookie: x=1", "csrf_token": token},
    )
    _assert_error_page(response, 400)


def test_the_api_answers_bad_input_in_its_error_shape(client, customer):

    headers = bearer(customer)
    # A NUL in a query parameter is a malformed value: the 422 the API documents for them.
    error = _assert_api_error(
        client.get("/api/appointment/slots?date=2026-12-01%00"), 422, "validation_error"
    )
    assert error["fields"] == {"date": ["Must not contain NUL characters."]}
    _assert_api_error(
        client.get("/api/service-request/1%00/status", headers=headers), 400, "bad_request"
    )
    error = _assert_api_error(
        client.post(
            "/api/service-request",
            json={"device_type": "phone", "brand": "A", "model": "B", "issue_description": "x\x00"},
            headers=headers,
        ),
        422,
        "validation_error",
    )
    assert error["fields"] == {"issue_description": ["Must not contain NUL characters."]}
    error = _assert_api_error(
        client.put(
            f"/api/customer/{customer.id}/profile",
            json={"address_line1": {"nested": ["ok", "no\x00"]}},
            headers=headers,
        ),
        422,
        "validation_error",
    )
    assert "address_line1" in error["fields"]
    _assert_api_error(
        client.get(f"/api/service-request/{HUGE}/status", headers=headers), 404, "not_found"
    )

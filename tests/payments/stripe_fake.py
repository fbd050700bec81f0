"""A local Stripe-shaped HTTP server: the SDK talks to it, tests read what the app sent.

Serves just what the shop uses (Checkout Sessions, Customers, PaymentMethods, Refunds) from
a werkzeug server on 127.0.0.1, port 0, in a thread. Every request is recorded with its
method, path, flattened form/query params (``metadata[payment_id]``) and headers.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import parse_qsl

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


def _nested(params: dict[str, str], prefix: str) -> dict[str, str]:
    """``metadata[payment_id]=3`` → ``{"payment_id": "3"}``."""
    start = prefix + "["
    return {k[len(start) : -1]: v for k, v in params.items() if k.startswith(start)}


@dataclass
class StripeFake:
    requests: list[Recorded] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    customers: dict[str, dict] = field(default_factory=dict)
    payment_methods: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    refund_status: str = "pending"
    next_refund_id: Optional[str] = None
    fail_next: Optional[tuple[int, str]] = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> StripeFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.sessions.clear()
            self.customers.clear()
            self.payment_methods.clear()
            self.refunds.clear()
            self.refund_status = "pending"
            self.next_refund_id = None
            self.fail_next = None
            self.delay = 0.0

    # ------------------------------------------------------------ helpers for tests

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def add_card(self, customer: str, brand: str = "visa", last4: str = "4242") -> str:
        pm_id = f"pm_test_{next(self._ids)}"
        self.payment_methods[pm_id] = {
            "id": pm_id,
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "card": {"brand": brand, "last4": last4, "exp_month": 4, "exp_year": 2030},
        }
        return pm_id

    # ------------------------------------------------------------ the server

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        params = dict(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
        params.update(dict(parse_qsl(request.query_string.decode(), keep_blank_values=True)))
        with self._lock:
            self.requests.append(
                Recorded(
                    request.method,
                    request.path,
                    params,
                    {k: v for k, v in request.headers.items()},
                )
            )
            failure, self.fail_next = self.fail_next, None
        if self.delay:
            time.sleep(self.delay)
        if failure is not None:
            status, message = failure
            return self._json({"error": {"type": "api_error", "message": message}}, status)(
                environ, start_response
            )
        with self._lock:
            body, status = self._route(request.method, request.path, params)
        return self._json(body, status)(environ, start_response)

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids)}"

    def _route(self, method: str, path: str, p: dict[str, str]) -> tuple[dict, int]:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create_session(p), 200
        if parts[:3] == ["v1", "checkout", "sessions"] and len(parts) >= 4:
            session = self.sessions.get(parts[3])
            if session is None:
                return self._missing(parts[3])
            if method == "POST" and parts[4:] == ["expire"]:
                if session["status"] != "open":
                    return {
                        "error": {
                            "type": "invalid_request_error",
                            "message": f"Session is {session['status']}; only open sessions "
                            "can be expired.",
                        }
                    }, 400
                session["status"] = "expired"
                return session, 200
            if method == "GET":
                return session, 200
        if method == "POST" and path == "/v1/customers":
            cus = {
                "id": self._new_id("cus"),
                "object": "customer",
                "email": p.get("email"),
                "name": p.get("name"),
                "metadata": _nested(p, "metadata"),
            }
            self.customers[cus["id"]] = cus
            return cus, 200
        if method == "GET" and path == "/v1/payment_methods":
            data = [
                pm
                for pm in self.payment_methods.values()
                if pm["customer"] == p.get("customer") and pm["type"] == p.get("type", "card")
            ]
            return {"object": "list", "data": data, "has_more": False, "url": path}, 200
        if parts[:2] == ["v1", "payment_methods"] and parts[3:] == ["detach"]:
            pm = self.payment_methods.pop(parts[2], None)
            if pm is None:
                return self._missing(parts[2])
            return {**pm, "customer": None}, 200
        if method == "POST" and path == "/v1/refunds":
            refund = {
                "id": self.next_refund_id or self._new_id("re"),
                "object": "refund",
                "amount": int(p["amount"]),
                "currency": "usd",
                "payment_intent": p.get("payment_intent"),
                "charge": p.get("charge"),
                "status": self.refund_status,
                "metadata": _nested(p, "metadata"),
            }
            self.refunds[refund["id"]] = refund
            self.next_refund_id = None
            return refund, 200
        if method == "GET" and parts[:2] == ["v1", "refunds"] and len(parts) == 3:
            refund = self.refunds.get(parts[2])
            return (refund, 200) if refund else self._missing(parts[2])
        return {"error": {"type": "invalid_request_error", "message": f"no route {path}"}}, 404

    def _create_session(self, p: dict[str, str]) -> dict:
        session_id = self._new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "mode": p.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "customer": p.get("customer"),
            "currency": p.get("currency") or p.get("line_items[0][price_data][currency]"),
            "amount_total": int(p.get("line_items[0][price_data][unit_amount]") or 0),
            "metadata": _nested(p, "metadata"),
            "payment_intent": None,
            "success_url": p.get("success_url"),
            "cancel_url": p.get("cancel_url"),
        }
        self.sessions[session_id] = session
        return session

    @staticmethod
    def _missing(object_id: str) -> tuple[dict, int]:
        return {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such object: '{object_id}'",
            }
        }, 404

"""Every page of the shop, read from the app itself, and the world they are looked at in.

``world`` stages the demo shop plus the rows the demo lacks (a payment waiting for an admin's
check, one held for review, a failed e-mail, time off, a walk-in sale, a no-show and today's
drop-offs), so every list, detail and edit page has something real to show.

``back_office_pages`` reads the Flask-Admin views registered on the app
(``app.extensions["admin"]``) as a given staff member: each view the person may open, its
list, create, details and edit pages on a row of its own scope, and every other GET page the
view exposes (reports, calendar, checkout, customer and repair pages, ...), its URL arguments
filled from ``ARGUMENTS``. A new view or page is covered without editing the tests; a page
with an argument nobody knows how to fill fails loudly.

``customer_pages`` does the same for the customer site's blueprints.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask, url_for
from flask_admin.contrib.sqla import ModelView
from flask_login import login_user

from fixmyphone import workflow
from fixmyphone.extensions import db
from fixmyphone.models import (
    NOTIFICATION_CHANNELS,
    PAYMENT_METHODS,
    ROLES,
    Appointment,
    AppointmentStatus,
    Invoice,
    MovementKind,
    Notification,
    OpeningHours,
    Part,
    Payment,
    PaymentStatus,
    Role,
    ServiceRequest,
    TimeOff,
    User,
)
from fixmyphone.services import accounts, repairs
from fixmyphone.services.billing import balances, payments, review, sales, totals

PASSWORD = "demo1234"
STAFF = {
    "technician": "tech1@fixmyphone.example",
    "admin": "admin@fixmyphone.example",
    "superadmin": "owner@fixmyphone.example",
}
CUSTOMER = "customer1@fixmyphone.example"

# Stored values that must never reach a screen as they are: every multi-word key of the
# code's vocabularies (statuses, payment methods and states, roles, appointment states,
# notification channels, stock movement kinds), and the super admin's role key.
VOCABULARY = sorted(
    {
        word
        for word in (
            *workflow.STATUSES,
            *PAYMENT_METHODS,
            PaymentStatus.NEEDS_REVIEW,
            *ROLES,
            AppointmentStatus.SCHEDULED,
            AppointmentStatus.CANCELED,
            AppointmentStatus.COMPLETED,
            AppointmentStatus.NO_SHOW,
            *NOTIFICATION_CHANNELS,
            *MovementKind,
        )
        if "_" in word
    }
    | {Role.SUPERADMIN}
)

# Flask-Admin's own endpoints that are not pages (JSON, files, form posts).
NOT_PAGES = {"ajax_lookup", "ajax_update", "action_view", "delete_view", "export", "static"}
# URL endings that are files, not pages.
FILE_SUFFIXES = (".pdf", ".csv", ".json")
FILE_ENDPOINTS = {"public.photo", "notifications.unread_count"}
CUSTOMER_BLUEPRINTS = ("public", "auth", "payments", "notifications")
PRIVATE_PREFIXES = ("/account", "/notifications", "/pay")


# ---------------------------------------------------------------- the world


def world(app: Flask) -> None:
    """The demo shop and the rows it lacks, committed."""
    from fixmyphone.seed import seed

    with app.app_context():
        db.session.execute(sa.delete(OpeningHours))  # the demo shop brings its own
        seed()
        db.session.flush()
        _extras(app)
        db.session.commit()
        db.session.remove()


def _one(statement):
    return db.session.scalars(statement.limit(1)).first()


def _extras(app: Flask) -> None:
    admin = _one(sa.select(User).where(User.email == STAFF["admin"]))
    tech = _one(sa.select(User).where(User.email == STAFF["technician"]))
    tz = ZoneInfo(app.config["SHOP_TIMEZONE"])
    today = datetime.now(tz).date()

    # Money waiting: a bank transfer a technician took (an admin checks it) and a Stripe
    # payment whose reported amount differs (held for review).
    owing = [
        r
        for r in db.session.scalars(
            sa.select(ServiceRequest)
            .where(ServiceRequest.status.in_(("payment_pending", "ready_for_pickup")))
            .order_by(ServiceRequest.id)
        )
        if balances.balance_due(r) > 0
    ]
    assert len(owing) >= 2, "the demo shop has no repairs with money owed"
    payments.record_offline_payment(
        owing[0],
        amount=balances.balance_due(owing[0]),
        method="bank_transfer",
        actor=tech,
        reference="Transfer 2291",
    )
    held = Payment(
        service_request=owing[1],
        customer_id=owing[1].customer_id,
        method="stripe",
        amount=balances.balance_due(owing[1]),
        currency=totals.currency(),
        stripe_checkout_session_id="cs_test_every_page",
    )
    db.session.add(held)
    db.session.flush()
    review.hold(held, held.amount + 100, held.currency, source="checkout")

    # A text the shop could not send.
    customer = _one(sa.select(User).where(User.email == CUSTOMER))
    db.session.add(
        Notification(
            user=customer,
            event="status_changed",
            channel="email",
            recipient=customer.email,
            subject="Your repair is ready for pickup",
            body="Your repair is ready for pickup.",
            status="failed",
            attempts=3,
            last_error="SMTP server refused the connection",
            dedup_key="every-page-failed-email",
        )
    )

    # Time off next week.
    start = datetime.combine(today + timedelta(days=7), time(0), tzinfo=tz).astimezone(UTC)
    db.session.add(
        TimeOff(
            technician_id=tech.id, starts=start, ends=start + timedelta(days=2), reason="Holiday"
        )
    )

    # A walk-in sale of an accessory.
    part = _one(sa.select(Part).where(Part.on_hand > 2).order_by(Part.id))
    part.sellable = True
    sales.sell(admin, [(str(part.id), "1")], method="cash")

    # A customer who did not come, and today's drop-offs for the technician.
    past = _one(
        sa.select(ServiceRequest)
        .where(ServiceRequest.status == "canceled", ~ServiceRequest.appointments.any())
        .order_by(ServiceRequest.id)
    )
    moment = datetime.combine(today - timedelta(days=3), time(11), tzinfo=tz).astimezone(UTC)
    db.session.add(
        Appointment(
            service_request_id=past.id,
            customer_id=past.customer_id,
            start=moment,
            end=moment + timedelta(minutes=30),
            seat=None,
            status=AppointmentStatus.NO_SHOW,
        )
    )
    waiting = db.session.scalars(
        sa.select(ServiceRequest)
        .where(ServiceRequest.status == "pending", ~ServiceRequest.appointments.any())
        .order_by(ServiceRequest.id)
        .limit(2)
    ).all()
    for hour, request in zip((10, 14), waiting, strict=True):
        request.technician_id = tech.id
        start = datetime.combine(today, time(hour, 30), tzinfo=tz).astimezone(UTC)
        db.session.add(
            Appointment(
                service_request_id=request.id,
                customer_id=request.customer_id,
                technician_id=tech.id,
                start=start,
                end=start + timedelta(minutes=30),
                seat=1,
            )
        )


# ---------------------------------------------------------------- the pages


def _in_stages(user: User, *stages: str) -> list[int]:
    """One repair ``user`` may see in each of ``stages`` (those that have one)."""
    ids = []
    for status in stages:
        found = _one(
            sa.select(ServiceRequest.id)
            .where(ServiceRequest.status == status, repairs.visible_to(user))
            .order_by(ServiceRequest.id)
        )
        if found is not None:
            ids.append(found)
    return ids


def _repairs(user: User) -> list[int]:
    """A customer's repairs; for staff, one repair in each stage a repair page changes with."""
    if not user.is_staff:
        return db.session.scalars(
            sa.select(ServiceRequest.id)
            .where(ServiceRequest.customer_id == user.id)
            .order_by(ServiceRequest.id)
        ).all()
    return _in_stages(user, "pending", "scheduled", "in_progress", "ready_for_pickup", "completed")


def _at_the_counter(user: User) -> list[int]:
    """Repairs as the counter sees them: one to hand over (money owed), one handed over."""
    return _in_stages(user, "ready_for_pickup", "payment_pending", "completed")[:2]


def _bookable(user: User) -> list[int]:
    """The customer's repairs a drop-off can be booked or moved for."""
    return _in_stages(user, "pending", "scheduled")


def _newest(user: User) -> list[int]:
    """One of the customer's repairs (pages that look the same for each)."""
    return _repairs(user)[-1:]


def _customers(user: User) -> list[int]:
    customer = _one(sa.select(User).where(User.email == CUSTOMER))
    return [customer.id] if repairs.customer_visible(user, customer) else []


def _sales(user: User) -> list[int]:
    return db.session.scalars(
        sa.select(Invoice.id).where(Invoice.service_request_id.is_(None)).limit(1)
    ).all()


def _tracking_tokens(user: User) -> list[str]:
    request = _one(
        sa.select(ServiceRequest)
        .join(User, ServiceRequest.customer_id == User.id)
        .where(User.email == CUSTOMER, ServiceRequest.status == "scheduled")
    )
    return [request.tracking_token]


def _reset_tokens(user: User) -> list[str]:
    customer = _one(sa.select(User).where(User.email == CUSTOMER))
    return [accounts.make_reset_token(customer)]


# URL argument -> the values a page is visited with, as seen by ``user``. Keyed by
# (endpoint, argument) where one argument name means different things.
ARGUMENTS: dict[str, Callable[[User], list]] = {
    "request_id": _repairs,
    "admin_checkout.repair_page:request_id": _at_the_counter,
    "public.book:request_id": _bookable,
    "public.request_submitted:request_id": _newest,
    "payments.checkout:request_id": _newest,
    "payments.checkout_return:request_id": _newest,
    "user_id": _customers,
    "invoice_id": _sales,
    "public.track_token:token": _tracking_tokens,
    "auth.reset_password:token": _reset_tokens,
}


def _values(endpoint: str, argument: str, user: User) -> list:
    fill = ARGUMENTS.get(f"{endpoint}:{argument}") or ARGUMENTS.get(argument)
    if fill is None:
        raise LookupError(
            f"{endpoint} takes <{argument}>: say in tests/browser/site_map.py ARGUMENTS "
            "which rows to open it with"
        )
    return fill(user)


def _expand(app: Flask, endpoint: str, user: User) -> list[str]:
    """The URLs of every GET page behind ``endpoint`` (one per combination of its arguments)."""
    urls = []
    for rule in app.url_map.iter_rules(endpoint):
        if "GET" not in rule.methods or rule.rule.endswith(FILE_SUFFIXES):
            continue
        combos: list[dict] = [{}]
        for argument in sorted(rule.arguments - set(rule.defaults or {})):
            values = _values(endpoint, argument, user)
            combos = [{**c, argument: v} for c in combos for v in values]
        urls += [url_for(endpoint, **combo) for combo in combos]
    return urls


def _as(app: Flask, email: str):
    """A request context with ``email`` logged in (for is_accessible, get_query, url_for)."""
    ctx = app.test_request_context("/")
    ctx.push()
    user = _one(sa.select(User).where(User.email == email))
    login_user(user)
    return ctx, user


def back_office_pages(app: Flask, role: str) -> list[str]:
    """Every back-office page ``role``'s demo login may open, in menu order."""
    ctx, user = _as(app, STAFF[role])
    try:
        urls: list[str] = []
        (admin,) = app.extensions["admin"]
        for view in admin._views:  # noqa: SLF001 - Flask-Admin keeps its registry here
            if not view.is_accessible():
                continue
            own = {}
            if isinstance(view, ModelView):
                own["index_view"] = [url_for(f"{view.endpoint}.index_view")]
                if view.can_create:
                    own["create_view"] = [url_for(f"{view.endpoint}.create_view")]
                pk = sa.inspect(view.model).primary_key[0]
                row = view.get_query().order_by(pk).first()
                key = getattr(row, pk.key, None)
                if key is not None and view.can_view_details:
                    own["details_view"] = [url_for(f"{view.endpoint}.details_view", id=key)]
                if key is not None and view.can_edit:
                    own["edit_view"] = [url_for(f"{view.endpoint}.edit_view", id=key)]
            standard = {"index_view", "create_view", "details_view", "edit_view"}
            for rule in app.url_map.iter_rules():
                blueprint, _, name = rule.endpoint.partition(".")
                if blueprint != view.endpoint or name in NOT_PAGES:
                    continue
                if isinstance(view, ModelView) and name in standard:
                    continue
                own.setdefault(name, _expand(app, rule.endpoint, user))
            for found in own.values():
                urls += found
        return list(dict.fromkeys(urls))
    finally:
        db.session.remove()
        ctx.pop()


def customer_pages(app: Flask, logged_in: bool) -> list[str]:
    """Every page of the customer site, for a visitor (the public pages and log in, sign up,
    reset) or for the demo customer (the public pages, the account, repairs and payments)."""
    ctx, user = _as(app, CUSTOMER)
    try:
        urls: list[str] = []
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            blueprint = rule.endpoint.partition(".")[0]
            if blueprint not in CUSTOMER_BLUEPRINTS or rule.endpoint in FILE_ENDPOINTS:
                continue
            if "GET" not in rule.methods or rule.rule.endswith(FILE_SUFFIXES):
                continue
            private = rule.rule.startswith(PRIVATE_PREFIXES) and blueprint != "auth"
            if (blueprint == "auth" and logged_in) or (private and not logged_in):
                continue
            urls += _expand(app, rule.endpoint, user)
        return list(dict.fromkeys(urls))
    finally:
        db.session.remove()
        ctx.pop()

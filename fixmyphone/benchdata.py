"""`flask bench-data --requests N`: a chain's worth of history, written in bulk for benchmarks.

Rows go in through Core executemany in batches (SQLAlchemy's insertmanyvalues), not the ORM
unit of work, so 100k requests with their histories take seconds, not hours.
"""

from __future__ import annotations

import itertools
import random
import secrets
import time
from datetime import UTC, datetime, timedelta

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from werkzeug.security import generate_password_hash

from .bulk import insert_rows
from .demo_data import DEVICES, ISSUES, path_to
from .extensions import db
from .models import (
    PAYMENT_METHODS,
    REFERENCE_ALPHABET,
    Appointment,
    AppointmentStatus,
    CustomerProfile,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Message,
    OpeningHours,
    Part,
    Payment,
    PaymentPurpose,
    PaymentStatus,
    QuoteStatus,
    RepairStatus,
    Role,
    ServiceRequest,
    Shift,
    StatusChange,
    TechnicianProfile,
    User,
)
from .services.search import text_for
from .workflow import STATUSES

# How a chain's history is spread over statuses: most repairs are long finished.
STATUS_WEIGHTS = {
    RepairStatus.CLOSED: 40,
    RepairStatus.COMPLETED: 20,
    RepairStatus.CANCELED: 6,
    RepairStatus.READY_FOR_PICKUP: 4,
    RepairStatus.DISPATCHED: 2,
    RepairStatus.PAYMENT_PENDING: 2,
    RepairStatus.QUALITY_CHECK: 2,
    RepairStatus.IN_PROGRESS: 6,
    RepairStatus.AWAITING_PARTS: 3,
    RepairStatus.DELAYED: 2,
    RepairStatus.ON_HOLD: 3,
    RepairStatus.SCHEDULED: 4,
    RepairStatus.PENDING: 6,
}
PAID_STATUSES = {
    RepairStatus.COMPLETED,
    RepairStatus.CLOSED,
    RepairStatus.READY_FOR_PICKUP,
    RepairStatus.DISPATCHED,
}


def _reference(i: int) -> str:
    # A bijection on 0..32^6-1 (odd multiplier), so references look random and never collide.
    n = (i * 387_420_489 + 12345) % (32**6)
    chars = []
    for _ in range(6):
        n, r = divmod(n, 32)
        chars.append(REFERENCE_ALPHABET[r])
    return "BEN-" + "".join(chars)


def _imei(rid: int) -> str:
    """A 15-digit IMEI per repair, unique enough for the IMEI search to have data."""
    return f"35{rid * 7919 % 10**13:013d}"


def generate(requests: int, *, seed: int = 42, echo=print) -> dict[str, int]:
    """Insert ``requests`` service requests with customers, histories, money and messages."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    pw = generate_password_hash("bench-password", method=current_app.config["PASSWORD_HASH_METHOD"])
    currency = current_app.config["SHOP_CURRENCY"]
    first_id = (db.session.scalar(sa.select(sa.func.max(User.id))) or 0) + 1

    n_customers = max(requests // 5, 1)
    n_techs = max(min(requests // 2000, 200), 10)
    users, profiles, techs = [], [], []
    searched: dict[int, tuple[str, str, str]] = {}  # customer id -> name, email, phone
    for i in range(n_customers):
        uid = first_id + i
        created = now - timedelta(days=rng.randint(1, 1100))
        users.append(
            dict(
                id=uid,
                email=f"bench-customer{uid}@example.com",
                full_name=f"Customer {uid}",
                role=Role.CUSTOMER,
                active=True,
                session_version=1,
                password_hash=pw,
                created_at=created,
                updated_at=created,
            )
        )
        phone = f"+1 555 {uid % 10000:04d}"
        searched[uid] = (users[-1]["full_name"], users[-1]["email"], phone)
        profiles.append(
            dict(
                user_id=uid,
                phone=phone,
                notify_email=True,
                notify_sms=False,
                notify_in_app=True,
                notification_prefs={},
            )
        )
    for j in range(n_techs):
        uid = first_id + n_customers + j
        users.append(
            dict(
                id=uid,
                email=f"bench-tech{uid}@example.com",
                full_name=f"Tech {uid}",
                role=Role.TECHNICIAN,
                active=True,
                session_version=1,
                password_hash=pw,
                created_at=now,
                updated_at=now,
            )
        )
        techs.append(uid)
    insert_rows(User.__table__, users)
    insert_rows(CustomerProfile.__table__, profiles)
    insert_rows(
        TechnicianProfile.__table__, [dict(user_id=t, skills="screens,batteries") for t in techs]
    )
    insert_rows(
        Shift.__table__,
        [
            dict(
                technician_id=t,
                weekday=d,
                starts_at=datetime.min.time().replace(hour=9),
                ends_at=datetime.min.time().replace(hour=18),
            )
            for t in techs
            for d in range(6)
            if (d + t) % 6
        ],
    )
    if not db.session.scalar(sa.select(sa.func.count()).select_from(OpeningHours)):
        insert_rows(
            OpeningHours.__table__,
            [
                dict(
                    weekday=d,
                    opens_at=datetime.min.time().replace(hour=9),
                    closes_at=datetime.min.time().replace(hour=18),
                    closed=d == 6,
                )
                for d in range(7)
            ],
        )
    first_part = (db.session.scalar(sa.select(sa.func.max(Part.id))) or 0) + 1
    insert_rows(
        Part.__table__,
        [
            dict(
                id=first_part + k,
                sku=f"BEN-{first_part + k:06d}",
                name=f"Part {k} for {DEVICES[k % len(DEVICES)][2]}",
                compatible_models=DEVICES[k % len(DEVICES)][2],
                cost=1000 + k % 50 * 100,
                price=3000 + k % 50 * 250,
                on_hand=rng.randint(0, 40),
                reserved=0,
                reorder_level=5,
                created_at=now,
            )
            for k in range(500)
        ],
    )
    echo(f"  {len(users)} users, 500 parts ({time.perf_counter() - started:.1f}s)")

    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    paths = {s: path_to(s) for s in STATUSES}
    first_request = (db.session.scalar(sa.select(sa.func.max(ServiceRequest.id))) or 0) + 1
    first_invoice = (db.session.scalar(sa.select(sa.func.max(Invoice.id))) or 0) + 1
    counts = dict(requests=0, history=0, appointments=0, invoices=0, payments=0, messages=0)
    inv_seq: dict[int, int] = {}
    for chunk_start in range(0, requests, 20_000):
        reqs, history, appts, invoices, payments, messages = [], [], [], [], [], []
        for i in range(chunk_start, min(chunk_start + 20_000, requests)):
            rid = first_request + i
            target = rng.choices(statuses, weights)[0]
            customer = first_id + rng.randrange(n_customers)
            device_type, brand, model = DEVICES[rng.randrange(len(DEVICES))]
            created = now - timedelta(days=rng.randint(0, 1095), minutes=rng.randint(0, 1440))
            tech = (
                techs[rng.randrange(len(techs))]
                if target not in (RepairStatus.PENDING, RepairStatus.SCHEDULED)
                else None
            )
            moment = created
            steps = paths[target]
            history.append(
                dict(
                    service_request_id=rid,
                    from_status=None,
                    to_status=RepairStatus.PENDING,
                    actor_id=customer,
                    is_public=True,
                    created_at=moment,
                )
            )
            checked_in = ready = completed = None
            for prev, step in itertools.pairwise(steps):
                moment += timedelta(hours=rng.randint(1, 40))
                history.append(
                    dict(
                        service_request_id=rid,
                        from_status=prev,
                        to_status=step,
                        actor_id=tech or customer,
                        is_public=True,
                        created_at=moment,
                    )
                )
                if step == RepairStatus.IN_PROGRESS and checked_in is None:
                    checked_in = moment
                if step in (RepairStatus.READY_FOR_PICKUP, RepairStatus.DISPATCHED):
                    ready = moment
                if step == RepairStatus.COMPLETED:
                    completed = moment
            if moment > now:
                moment = now
            reference, imei = _reference(rid), _imei(rid)
            reqs.append(
                dict(
                    id=rid,
                    reference=reference,
                    imei=imei,
                    search_text=text_for(reference, imei, brand, model, *searched[customer]),
                    tracking_token=secrets.token_urlsafe(18),
                    customer_id=customer,
                    technician_id=tech,
                    device_type=device_type,
                    brand=brand,
                    model=model,
                    issue_description=ISSUES[i % len(ISSUES)],
                    status=target,
                    quote_status=QuoteStatus.NONE,
                    created_at=created,
                    updated_at=moment,
                    checked_in_at=checked_in,
                    ready_at=ready,
                    completed_at=completed,
                    estimated_completion=(checked_in + timedelta(days=2)) if checked_in else None,
                )
            )
            if rng.random() < 0.5:
                start = (created + timedelta(days=1)).replace(minute=0, second=0)
                appts.append(
                    dict(
                        service_request_id=rid,
                        customer_id=customer,
                        start=start,
                        end=start + timedelta(minutes=30),
                        seat=None,
                        status=(
                            AppointmentStatus.COMPLETED
                            if target != RepairStatus.SCHEDULED
                            else AppointmentStatus.CANCELED
                        ),
                        created_at=created,
                        updated_at=created,
                    )
                )
            if target in PAID_STATUSES or target == RepairStatus.PAYMENT_PENDING:
                amount = rng.choice((4900, 7900, 11900, 14900, 19900))
                when = ready or completed or moment
                year = when.year
                inv_seq[year] = inv_seq.get(year, 0) + 1
                inv_id = first_invoice + counts["invoices"] + len(invoices)
                invoices.append(
                    dict(
                        id=inv_id,
                        number=f"BEN-{year}-{inv_seq[year]:07d}",
                        kind=InvoiceKind.INVOICE,
                        service_request_id=rid,
                        customer_id=customer,
                        status=InvoiceStatus.ISSUED,
                        currency=currency,
                        subtotal=amount,
                        tax=0,
                        total=amount,
                        issued_at=when,
                        created_at=when,
                    )
                )
                if target in PAID_STATUSES:
                    payments.append(
                        dict(
                            service_request_id=rid,
                            invoice_id=inv_id,
                            customer_id=customer,
                            method=rng.choice(PAYMENT_METHODS),
                            purpose=PaymentPurpose.BALANCE,
                            status=PaymentStatus.SUCCEEDED,
                            amount=amount,
                            currency=currency,
                            succeeded_at=when,
                            created_at=when,
                            updated_at=when,
                        )
                    )
            if rng.random() < 0.5:
                messages.append(
                    dict(
                        service_request_id=rid,
                        sender_id=customer,
                        body="Any news on my repair?",
                        is_internal=False,
                        created_at=created + timedelta(hours=3),
                        read_by_staff_at=created + timedelta(hours=4),
                        read_by_customer_at=created,
                    )
                )
        insert_rows(ServiceRequest.__table__, reqs)
        insert_rows(StatusChange.__table__, history)
        insert_rows(Appointment.__table__, appts)
        insert_rows(Invoice.__table__, invoices)
        insert_rows(Payment.__table__, payments)
        insert_rows(Message.__table__, messages)
        for key, rows in (
            ("requests", reqs),
            ("history", history),
            ("appointments", appts),
            ("invoices", invoices),
            ("payments", payments),
            ("messages", messages),
        ):
            counts[key] += len(rows)
        db.session.commit()
        echo(f"  {counts['requests']} requests ({time.perf_counter() - started:.1f}s)")
    if db.engine.dialect.name == "postgresql":
        for table in (User, ServiceRequest, Invoice, Part):
            name = table.__tablename__
            db.session.execute(
                sa.text(
                    # Table names come from our own models, not from input.
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT MAX(id) FROM {name}))"  # noqa: S608
                )
            )
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
    counts["customers"] = n_customers
    counts["technicians"] = n_techs
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


@click.command("bench-data")
@click.option(
    "--requests",
    "n",
    type=click.IntRange(1, 10_000_000),
    required=True,
    help="How many service requests to generate.",
)
@click.option("--seed", default=42, show_default=True)
@with_appcontext
def bench_data(n: int, seed: int) -> None:
    """Fill the database with a chain's history for benchmarks (N requests, 20% of N customers)."""
    counts = generate(n, seed=seed, echo=click.echo)
    click.echo("Done: " + ", ".join(f"{k}={v}" for k, v in counts.items()))

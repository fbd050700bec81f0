"""The demo shop: staff, customers, parts and repairs in every status, with their histories."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app
from werkzeug.security import generate_password_hash

from .demo_data import DEVICES, FIRST, ISSUES, LABOUR, LAST, PART_KINDS, path_to
from .extensions import db
from .models import (
    OFFLINE_METHODS,
    Appointment,
    AppointmentStatus,
    CustomerProfile,
    DeviceType,
    Invoice,
    Message,
    MovementKind,
    Notification,
    NotificationChannel,
    OpeningHours,
    Part,
    QuoteStatus,
    RepairStatus,
    RequestPart,
    RequestPartStatus,
    Role,
    ServiceRequest,
    Shift,
    ShopSettings,
    StockMovement,
    TechnicianProfile,
    User,
    new_tracking_token,
)
from .services.billing import approvals, balances, estimates, payments
from .services.repairs import luhn_valid, unique_reference
from .workflow import STATUSES, move_status, record_initial

DEMO_PASSWORD = "demo1234"
DEMO_LOGINS = [
    (Role.SUPERADMIN, "owner@fixmyphone.example"),
    (Role.ADMIN, "admin@fixmyphone.example"),
    (Role.TECHNICIAN, "tech1@fixmyphone.example"),
    (Role.CUSTOMER, "customer1@fixmyphone.example"),
]


def _imei(rng: random.Random) -> str:
    body = "35" + "".join(str(rng.randint(0, 9)) for _ in range(12))
    for check in range(10):
        if luhn_valid(body + str(check)):
            return body + str(check)
    raise AssertionError("unreachable")


def seed(rng_seed: int = 7) -> dict[str, int]:
    """Create the demo shop; stages everything in the session (the caller commits)."""
    rng = random.Random(rng_seed)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    pw_hash = generate_password_hash(
        DEMO_PASSWORD, method=current_app.config["PASSWORD_HASH_METHOD"]
    )

    db.session.add(ShopSettings(slot_minutes=30, default_slot_capacity=1, booking_horizon_days=30))
    for weekday in range(7):
        if weekday == 6:
            db.session.add(OpeningHours(weekday=weekday, closed=True))
        elif weekday == 5:
            db.session.add(OpeningHours(weekday=weekday, opens_at=time(10), closes_at=time(16)))
        else:
            db.session.add(OpeningHours(weekday=weekday, opens_at=time(9), closes_at=time(18)))

    def user(email: str, name: str, role: str) -> User:
        u = User(email=email, full_name=name, role=role, password_hash=pw_hash)
        db.session.add(u)
        return u

    user(DEMO_LOGINS[0][1], "Olivia Owner", Role.SUPERADMIN)
    admin = user(DEMO_LOGINS[1][1], "Adam Admin", Role.ADMIN)
    techs = []
    for i, (name, skills) in enumerate(
        [
            ("Tom Tech", "screens,batteries,iPhone"),
            ("Sara Solder", "board repair,water damage"),
            ("Raj Ports", "charging ports,Android"),
            ("Lena Glass", "back glass,tablets,watches"),
        ],
        start=1,
    ):
        tech = user(f"tech{i}@fixmyphone.example", name, Role.TECHNICIAN)
        tech.technician_profile = TechnicianProfile(skills=skills, bench=f"Bench {i}")
        techs.append(tech)
        for weekday in range(6):
            if (weekday + i) % 5 == 0:
                continue  # each technician has one weekday off
            start, end = (time(10), time(16)) if weekday == 5 else (time(9), time(18))
            tech.technician_profile.shifts.append(
                Shift(weekday=weekday, starts_at=start, ends_at=end)
            )

    customers = []
    for i in range(30):
        name = f"{FIRST[i]} {LAST[i % len(LAST)]}"
        c = user(f"customer{i + 1}@fixmyphone.example", name, Role.CUSTOMER)
        c.customer_profile = CustomerProfile(
            phone=f"+1 555 01{i:02d}",
            address_line1=f"{10 + i} Elm Street",
            city="Springfield",
            postal_code=f"0{1000 + i}",
            country="US",
            notify_sms=i % 3 == 0,
        )
        c.created_at = now - timedelta(days=200 - i * 5)
        customers.append(c)

    parts = []
    for _, brand, model in DEVICES[:10]:
        for code, kind, cost, price in PART_KINDS:
            sku = f"{code}-{brand[:3].upper()}-{model.replace(' ', '').upper()[:8]}"
            on_hand = rng.randint(0, 12)
            p = Part(
                sku=sku,
                name=f"{kind} for {brand} {model}",
                compatible_models=f"{brand} {model}",
                cost=cost,
                price=price,
                on_hand=on_hand,
                reserved=0,
                reorder_level=3,
            )
            db.session.add(p)
            parts.append(p)
    db.session.flush()
    # The ledger's signs (services/inventory.py): receive +, consume -; a part that starts
    # with no stock has no opening row.
    for p in (p for p in parts if p.on_hand):
        db.session.add(
            StockMovement(
                part=p,
                kind=MovementKind.RECEIVE,
                quantity=p.on_hand,
                on_hand_after=p.on_hand,
                reserved_after=0,
                actor_id=admin.id,
                note="Opening stock",
                created_at=now - timedelta(days=210),
            )
        )

    statuses = list(STATUSES)
    counts = {"requests": 0, "appointments": 0, "invoices": 0, "payments": 0}
    used: list[tuple[datetime, Part, int, int]] = []  # parts fitted: when, what, repair, who
    for i in range(120):
        target = statuses[i % len(statuses)]
        customer = customers[i % len(customers)]
        device_type, brand, model = DEVICES[i % len(DEVICES)]
        created = now - timedelta(days=rng.randint(2, 150), hours=rng.randint(0, 8))
        req = ServiceRequest(
            reference=unique_reference(),
            tracking_token=new_tracking_token(),
            customer=customer,
            device_type=device_type,
            brand=brand,
            model=model,
            imei=_imei(rng) if device_type == DeviceType.PHONE else None,
            issue_description=ISSUES[i % len(ISSUES)],
            created_at=created,
        )
        db.session.add(req)
        record_initial(req, customer).created_at = created
        db.session.flush()
        path = path_to(target)
        tech = techs[i % len(techs)]
        if len(path) > 2 or target not in (
            RepairStatus.PENDING,
            RepairStatus.SCHEDULED,
            RepairStatus.CANCELED,
        ):
            req.technician = tech
            db.session.flush()
        moment = created
        for step in path[1:]:
            moment += timedelta(hours=rng.randint(2, 30))
            actor = (
                tech
                if req.technician and step not in (RepairStatus.SCHEDULED, RepairStatus.CANCELED)
                else admin
            )
            if step == RepairStatus.ON_HOLD and req.quote_status == QuoteStatus.NONE:
                # An estimate sent before the device came in, waiting for the customer.
                _send_estimate(req, actor, i, moment)
                continue
            if step == RepairStatus.COMPLETED:
                counts["payments"] += _pay(req, moment, admin)
            entry = move_status(req, step, actor, _note(step), notify=False)
            entry.created_at = moment
            if step == RepairStatus.IN_PROGRESS:
                req.checked_in_at = moment
            if step == RepairStatus.IN_PROGRESS and req.quote_status == QuoteStatus.NONE:
                # Checked in and diagnosed: the estimate goes out (on hold) and the customer
                # approves it (in progress again) before the work.
                moment += timedelta(hours=rng.randint(1, 6))
                _send_estimate(req, actor, i, moment)
                moment += timedelta(hours=rng.randint(1, 20))
                approvals.decide_estimate(req, approve=True, actor=customer)
                req.quote_decided_at = moment
                req.history[-1].created_at = moment
            if step == RepairStatus.SCHEDULED:
                counts["appointments"] += _appointment(req, moment, now, i)
            if step == RepairStatus.IN_PROGRESS:
                req.estimated_completion = moment + timedelta(days=2)
                part = parts[i % len(parts)]
                if i % 2 == 0 and part.on_hand > 0:
                    # Fitted on the bench: charged on the invoice with the approved estimate.
                    part.on_hand -= 1
                    db.session.add(
                        RequestPart(
                            service_request=req,
                            part=part,
                            quantity=1,
                            unit_price=part.price,
                            status=RequestPartStatus.CONSUMED,
                        )
                    )
                    used.append((moment, part, req.id, tech.id))
            if step in (
                RepairStatus.PAYMENT_PENDING,
                RepairStatus.READY_FOR_PICKUP,
                RepairStatus.DISPATCHED,
            ):
                # The workflow invoiced the repair just now: date it when it happened.
                counts["invoices"] += _date_new_invoices(req, moment)
            if step in (RepairStatus.READY_FOR_PICKUP, RepairStatus.DISPATCHED):
                req.ready_at = moment
            if step == RepairStatus.COMPLETED:
                req.completed_at = moment
                req.warranty_until = moment + timedelta(days=current_app.config["WARRANTY_DAYS"])
        if i % 4 == 0:
            db.session.add(
                Message(
                    service_request=req,
                    sender=customer,
                    body="Hi, any news on my repair?",
                    created_at=moment,
                )
            )
            if i % 8 == 0:
                db.session.add(
                    Message(
                        service_request=req,
                        sender=admin,
                        created_at=moment,
                        body="Yes, it is on the bench today; we will update you.",
                        read_by_staff_at=moment,
                    )
                )
        counts["requests"] += 1
    _ledger_of_used_parts(used)
    db.session.flush()
    # The demo's past is not news: its e-mails and texts are never sent (the in-app notices
    # stay, as the customers would have them).
    db.session.execute(
        sa.delete(Notification).where(Notification.channel != NotificationChannel.IN_APP)
    )
    return {
        "technicians": len(techs),
        "parts": len(parts),
        "customers": len(customers),
        **counts,
    }


def _ledger_of_used_parts(used: list[tuple[datetime, Part, int, int]]) -> None:
    """One ``consume`` row (-1 on hand) per fitted part, in time order, so each row's stock
    after it follows from the one before (as the inventory service writes them)."""
    # part.on_hand is already net of every use: start from what was there before them.
    stock = {part.id: part.on_hand for _, part, _, _ in used}
    for _, part, _, _ in used:
        stock[part.id] += 1
    for moment, part, request_id, tech_id in sorted(used, key=lambda u: u[0]):
        stock[part.id] -= 1
        db.session.add(
            StockMovement(
                part=part,
                service_request_id=request_id,
                kind=MovementKind.CONSUME,
                quantity=-1,
                on_hand_after=stock[part.id],
                reserved_after=part.reserved,
                actor_id=tech_id,
                created_at=moment,
            )
        )


def _note(step: str) -> str | None:
    return {
        RepairStatus.IN_PROGRESS: "Diagnosis done, repair started.",
        RepairStatus.AWAITING_PARTS: "Waiting for the part from our supplier.",
        RepairStatus.ON_HOLD: "Waiting for your go-ahead.",
        RepairStatus.QUALITY_CHECK: "Repair done, testing.",
        RepairStatus.READY_FOR_PICKUP: "Ready: come by during opening hours.",
        RepairStatus.DELAYED: "The supplier is late; sorry for the wait.",
    }.get(step)


def _appointment(req: ServiceRequest, moment: datetime, now: datetime, i: int) -> int:
    start = moment.replace(minute=0) + timedelta(days=1)
    status = AppointmentStatus.COMPLETED
    if req.status == RepairStatus.SCHEDULED:
        # Upcoming drop-offs in the next days, on distinct hours so seats never clash.
        start = (now + timedelta(days=1 + i % 5)).replace(hour=10 + i % 6, minute=0)
        status = AppointmentStatus.SCHEDULED
    db.session.add(
        Appointment(
            service_request=req,
            customer_id=req.customer_id,
            start=start,
            end=start + timedelta(minutes=30),
            seat=None if status != AppointmentStatus.SCHEDULED else 0,
            status=status,
        )
    )
    return 1


def _send_estimate(req: ServiceRequest, actor: User, i: int, moment: datetime) -> None:
    """Build and send the repair's estimate through the estimates service, dated ``moment``."""
    estimates.add_labour_line(
        req, actor=actor, description=LABOUR[i % len(LABOUR)], minutes=45 + (i % 4) * 15
    )
    if i % 3 == 0:
        estimates.add_fee_line(req, actor=actor, description="Data backup", amount=1500)
    if i % 5 == 0:
        estimates.add_discount_line(req, actor=actor, description="Returning customer", amount=500)
    approvals.send_estimate(req, actor)
    req.quote_sent_at = moment
    req.history[-1].created_at = moment


def _date_new_invoices(req: ServiceRequest, moment: datetime) -> int:
    """Give the invoices just issued by the workflow the demo's date (issued invoices are
    immutable to the ORM, hence the plain UPDATE); returns how many."""
    db.session.flush()
    result = db.session.execute(
        sa.update(Invoice)
        .where(Invoice.service_request_id == req.id, Invoice.issued_at > moment)
        .values(issued_at=moment, created_at=moment)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _pay(req: ServiceRequest, moment: datetime, admin: User) -> int:
    """Take what the repair owes at the counter (an admin's payment counts at once)."""
    due = balances.balance_due(req)
    if due <= 0:
        return 0
    method = OFFLINE_METHODS[req.id % 3]
    payment = payments.record_offline_payment(req, amount=due, method=method, actor=admin)
    payments.verify_payment(payment, admin)
    payment.created_at = payment.succeeded_at = payment.verified_at = moment
    return 1

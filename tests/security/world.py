"""The people of the access matrix, and fresh objects inside and outside their scope.

Seven roles: anonymous, customer A, customer B, a technician with no repair of A's, the
technician A's repairs are assigned to, an admin and a super admin. Every object a case
targets is made fresh for that case (a delete or a deactivation in one case cannot change the
next), and each kind of object says which roles may see it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Optional

import sqlalchemy as sa
from flask import current_app

from fixmyphone import models
from fixmyphone.extensions import db
from fixmyphone.services import audit

from .. import factories

ROLES = (
    "anonymous",
    "customer_a",
    "customer_b",
    "tech_unassigned",
    "tech_assigned",
    "admin",
    "superadmin",
)
STAFF = {"tech_unassigned", "tech_assigned", "admin", "superadmin"}
ADMINS = {"admin", "superadmin"}
# Who may see what: the rule under test, written out independently of the code.
# A's repairs and everything hanging off them: A, the technician they are assigned to, admins.
REPAIR_SCOPE = frozenset({"customer_a", "tech_assigned", "admin", "superadmin"})
# A's own account: A, the staff who may see A's repairs.
CUSTOMER_SCOPE = REPAIR_SCOPE
# An in-app notification is its recipient's only.
OWN_SCOPE = frozenset({"customer_a"})
# On side "b" the factories make B's objects, assigned to the other technician.
MIRROR = {
    "customer_a": "customer_b",
    "customer_b": "customer_a",
    "tech_assigned": "tech_unassigned",
    "tech_unassigned": "tech_assigned",
}
# Staff accounts and shop-wide records (parts, shifts, the ledger, the audit log): admins,
# further limited by what each back-office view lists.
SHOP_SCOPE = frozenset(ADMINS)


@dataclass
class Target:
    """One object a case points at: its id, the roles that may see it, the row to watch."""

    id: int
    scope: frozenset
    obj: Any
    kind: str


class World:
    """The users of every role and factories of fresh targets (A's objects by default)."""

    def __init__(self) -> None:
        self.users = {
            "customer_a": factories.CustomerFactory(full_name="Alice Ant"),
            "customer_b": factories.CustomerFactory(full_name="Bob Bee"),
            "tech_unassigned": factories.TechnicianFactory(full_name="Una Signed"),
            "tech_assigned": factories.TechnicianFactory(full_name="Tess Assigned"),
            "admin": factories.UserFactory(role="admin", full_name="Adam Admin"),
            "superadmin": factories.UserFactory(role="superadmin", full_name="Sue Owner"),
        }
        # The unassigned technician and customer B have work of their own.
        factories.ServiceRequestFactory(
            customer=self.users["customer_b"], technician=self.users["tech_unassigned"]
        )
        self.part = factories.PartFactory(on_hand=1000)
        self._seq = itertools.count(1)
        self.side = "a"
        db.session.commit()

    # -- whose objects the factories make: A's (side "a") or, mirrored, B's (side "b")

    @property
    def customer(self) -> models.User:
        return self.users["customer_a" if self.side == "a" else "customer_b"]

    @property
    def technician(self) -> models.User:
        return self.users["tech_assigned" if self.side == "a" else "tech_unassigned"]

    def scope(self, roles: frozenset) -> frozenset:
        """Who may see an object of the current side (scopes are written for A's objects)."""
        return frozenset(MIRROR.get(r, r) for r in roles) if self.side == "b" else roles

    # -- repairs and what hangs off them

    def repair(self) -> models.ServiceRequest:
        """A fresh repair of the side's customer, assigned to the side's technician."""
        return factories.ServiceRequestFactory(customer=self.customer, technician=self.technician)

    def appointment(self, repair: Optional[models.ServiceRequest] = None) -> models.Appointment:
        repair = repair or self.repair()
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3, hours=next(self._seq))
        appt = models.Appointment(
            service_request=repair,
            customer_id=repair.customer_id,
            technician_id=repair.technician_id,
            start=start,
            end=start + timedelta(minutes=30),
            seat=1,
        )
        repair.status = "scheduled"
        db.session.add(appt)
        db.session.flush()
        return appt

    def payment(self, repair: Optional[models.ServiceRequest] = None) -> models.Payment:
        repair = repair or self.repair()
        payment = models.Payment(
            service_request=repair,
            customer_id=repair.customer_id,
            method="cash",
            amount=1500,
            currency="usd",
            status=models.PaymentStatus.SUCCEEDED,
            succeeded_at=datetime.now(UTC),
            reference=f"slip {next(self._seq)}",
        )
        db.session.add(payment)
        db.session.flush()
        return payment

    def invoice(self, repair: Optional[models.ServiceRequest] = None) -> models.Invoice:
        repair = repair or self.repair()
        invoice = models.Invoice(
            number=f"SEC-{next(self._seq):06d}",
            service_request=repair,
            customer_id=repair.customer_id,
            status="issued",
            currency="usd",
            subtotal=1500,
            total=1500,
            issued_at=datetime.now(UTC),
        )
        db.session.add(invoice)
        db.session.flush()
        return invoice

    def photo(self, repair: Optional[models.ServiceRequest] = None) -> models.RequestPhoto:
        repair = repair or self.repair()
        name = f"sec-{next(self._seq)}.jpg"
        folder = Path(current_app.config["UPLOAD_FOLDER"]) / "photos"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        photo = models.RequestPhoto(
            service_request=repair,
            stored_name=name,
            original_name="crack.jpg",
            content_type="image/jpeg",
            size=24,
        )
        db.session.add(photo)
        db.session.flush()
        return photo

    def part_line(self, repair: Optional[models.ServiceRequest] = None) -> models.RequestPart:
        repair = repair or self.repair()
        line = models.RequestPart(
            service_request=repair, part_id=self.part.id, quantity=1, unit_price=5000
        )
        self.part.reserved += 1
        db.session.add(line)
        db.session.flush()
        return line

    def estimate_line(self, repair: Optional[models.ServiceRequest] = None) -> models.EstimateLine:
        repair = repair or self.repair()
        line = models.EstimateLine(
            service_request_id=repair.id,
            kind="fee",
            description="Diagnosis",
            quantity=1,
            unit_amount=1000,
            net_amount=1000,
        )
        db.session.add(line)
        db.session.flush()
        return line

    def sale(self) -> models.Invoice:
        """A walk-in sale's invoice (no repair, no account)."""
        invoice = models.Invoice(
            number=f"SALE-{next(self._seq):06d}",
            bill_to_name="Walk-in",
            status="issued",
            currency="usd",
            subtotal=900,
            total=900,
            issued_at=datetime.now(UTC),
        )
        db.session.add(invoice)
        db.session.flush()
        return invoice

    def message(self, repair: Optional[models.ServiceRequest] = None) -> models.Message:
        repair = repair or self.repair()
        message = models.Message(
            service_request=repair, sender_id=repair.customer_id, body="Is it ready?"
        )
        db.session.add(message)
        db.session.flush()
        return message

    def notification(self, status: str = "pending", channel: str = "in_app") -> models.Notification:
        """A notification of the side's customer (in-app by default)."""
        user = self.customer
        row = models.Notification(
            user_id=user.id,
            event="status_changed",
            channel=channel,
            recipient=user.email,
            subject="Your repair moved",
            body="It is on the bench.",
            status=status,
            last_error="refused" if status == "failed" else None,
            dedup_key=f"sec:{next(self._seq)}",
        )
        db.session.add(row)
        db.session.flush()
        return row

    # -- accounts

    def account(self, role: str) -> models.User:
        """A fresh account of ``role`` (a customer gets a repair assigned to the technician)."""
        if role == "customer":
            user = factories.CustomerFactory()
            factories.ServiceRequestFactory(customer=user, technician=self.technician)
            return user
        if role == "technician":
            return factories.TechnicianFactory()
        return factories.UserFactory(role=role)

    # -- shop records

    def fresh_part(self) -> models.Part:
        return factories.PartFactory()

    def shift(self) -> models.Shift:
        profile = self.account("technician").technician_profile
        shift = models.Shift(
            technician=profile,
            weekday=2,
            starts_at=datetime(2026, 1, 1, 9).time(),
            ends_at=datetime(2026, 1, 1, 17).time(),
        )
        db.session.add(shift)
        db.session.flush()
        return shift

    def time_off(self) -> models.TimeOff:
        profile = self.account("technician").technician_profile
        start = datetime(2031, 1, 6, 9, tzinfo=UTC)
        row = models.TimeOff(
            technician=profile, starts=start, ends=start + timedelta(hours=8), reason="Dentist"
        )
        db.session.add(row)
        db.session.flush()
        return row

    def stock_movement(self) -> models.StockMovement:
        from fixmyphone.services import inventory

        return inventory.receive(self.fresh_part(), 3, self.users["admin"], "delivery")

    def audit_entry(self) -> models.AuditLog:
        return audit.record(self.users["admin"], "security_matrix", self.fresh_part())


# Targets for the model of a back-office view: model -> [(kind, scope, factory)].
MODEL_TARGETS: dict[type, list[tuple[str, frozenset, Callable[[World], Any]]]] = {
    models.ServiceRequest: [("repair", REPAIR_SCOPE, World.repair)],
    models.User: [
        ("customer account", CUSTOMER_SCOPE, lambda w: w.account("customer")),
        ("technician account", SHOP_SCOPE, lambda w: w.account("technician")),
        ("admin account", SHOP_SCOPE, lambda w: w.account("admin")),
        ("super admin account", SHOP_SCOPE, lambda w: w.account("superadmin")),
    ],
    models.Appointment: [("appointment", REPAIR_SCOPE, World.appointment)],
    models.Payment: [("payment", REPAIR_SCOPE, World.payment)],
    models.Invoice: [("invoice", REPAIR_SCOPE, World.invoice)],
    models.Part: [("part", SHOP_SCOPE, World.fresh_part)],
    models.StockMovement: [("stock movement", SHOP_SCOPE, World.stock_movement)],
    models.Shift: [("shift", SHOP_SCOPE, World.shift)],
    models.TimeOff: [("time off", SHOP_SCOPE, World.time_off)],
    models.AuditLog: [("audit entry", SHOP_SCOPE, World.audit_entry)],
    models.Notification: [
        ("failed notification", SHOP_SCOPE, lambda w: w.notification("failed", "email")),
        ("sent notification", SHOP_SCOPE, lambda w: w.notification("sent", "email")),
    ],
    models.Message: [("message", REPAIR_SCOPE, World.message)],
}

# What a back-office view lists, when it is not every row of its model (its persistent filter).
VIEW_ROWS: dict[str, Callable[[Any], bool]] = {
    "admin_customers": lambda user: user.role == models.Role.CUSTOMER,
    "admin_technicians": lambda user: user.role == models.Role.TECHNICIAN,
    "admin_staff": lambda user: user.role in models.STAFF_ROLES,
    "admin_notifications": lambda row: row.status == "failed",
}

# Targets for a URL argument that names an object: name -> (kind, scope, factory(world, args)).
# ``args`` holds the objects made for the rule's earlier arguments (a part line belongs to the
# repair of the same URL).
ARG_TARGETS: dict[str, tuple[str, frozenset, Callable[[World, dict], Any]]] = {
    "request_id": ("repair", REPAIR_SCOPE, lambda w, a: w.repair()),
    "appointment_id": (
        "appointment",
        REPAIR_SCOPE,
        lambda w, a: w.appointment(a.get("request_id")),
    ),
    "payment_id": ("payment", REPAIR_SCOPE, lambda w, a: w.payment(a.get("request_id"))),
    "invoice_id": ("invoice", REPAIR_SCOPE, lambda w, a: w.invoice(a.get("request_id"))),
    "photo_id": ("photo", REPAIR_SCOPE, lambda w, a: w.photo(a.get("request_id"))),
    "line_id": ("part line", REPAIR_SCOPE, lambda w, a: w.part_line(a.get("request_id"))),
    "message_id": ("message", REPAIR_SCOPE, lambda w, a: w.message(a.get("request_id"))),
    "notification_id": ("notification", OWN_SCOPE, lambda w, a: w.notification()),
    "customer_id": ("customer account", CUSTOMER_SCOPE, lambda w, a: w.customer),
    "user_id": ("customer account", CUSTOMER_SCOPE, lambda w, a: w.customer),
}
# Where one endpoint's argument names something else than the name usually does, or its
# object has its own audience: (endpoint, argument) -> (kind, scope, factory).
ENDPOINT_ARG_TARGETS: dict[tuple[str, str], tuple[str, frozenset, Callable[[World, dict], Any]]] = {
    ("admin_requests.post_estimate_remove", "line_id"): (
        "estimate line",
        REPAIR_SCOPE,
        lambda w, a: w.estimate_line(a.get("request_id")),
    ),
    # A walk-in sale has no repair: every member of staff at the counter may open it.
    ("admin_checkout.sale_page", "invoice_id"): ("sale", frozenset(STAFF), lambda w, a: w.sale()),
    # Paying online is the customer's own business (staff take payments at the counter).
    ("payments.checkout", "request_id"): (
        "repair",
        frozenset({"customer_a"}),
        lambda w, a: w.repair(),
    ),
}
# Accounts no customer endpoint may reach, whoever asks: a super admin's (the row-3 attack).
SUPERADMIN_TARGET_ARGS = {"customer_id", "user_id"}


def row_state(model: type, key: int) -> Optional[dict]:
    """A row's columns as the database holds them now (None once deleted)."""
    table = sa.inspect(model).local_table
    pk = sa.inspect(model).primary_key[0]
    row = db.session.execute(sa.select(table).where(pk == key)).mappings().first()
    return dict(row) if row is not None else None

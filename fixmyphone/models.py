"""The shop's data model: typed SQLAlchemy 2 models. Money is integer minor units, times UTC.

Grouped by domain: accounts, repairs, scheduling, inventory, money, messaging, audit. Each
stored vocabulary (a status, a kind, a method...) is a ``StrEnum`` next to its table, and a
CHECK constraint built from the enum (``one_of``) keeps the column to its values. Members are
``str``: they compare equal to the stored strings and serialise as them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Any, Optional

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Store datetimes as UTC and always hand back aware UTC values (SQLite drops tzinfo)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store aware UTC datetimes only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# ---------------------------------------------------------------- constraints and indexes


def one_of_sql(column: str, values: Iterable[str]) -> str:
    """The CHECK condition ``column IN ('a', 'b')`` (NULL passes, as SQL's IN has it)."""
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


def one_of(column: str, vocabulary: Iterable[str]) -> sa.CheckConstraint:
    """A CHECK keeping ``column`` to a vocabulary's values, named ck_<table>_<column>_valid."""
    return sa.CheckConstraint(one_of_sql(column, vocabulary), name=f"{column}_valid")


POSTGRESQL_ONLY = {"only_on": "postgresql"}


def trigram_index(table: str, column: str) -> sa.Index:
    """A pg_trgm GIN index, so ``column LIKE '%text%'`` (the back office's search) uses an index.

    PostgreSQL only: SQLite has no trigram index, and a B-tree copy there would never serve a
    substring search. ``info`` tells migrations' autogenerate the same (see ``exists_on``).
    """
    return sa.Index(
        f"ix_{table}_{column}_trgm",
        column,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
        info=POSTGRESQL_ONLY,
    ).ddl_if(dialect="postgresql")


def exists_on(schema_object: Any, dialect: str) -> bool:
    """Whether a schema object of the models is created on ``dialect`` (autogenerate filter)."""
    return getattr(schema_object, "info", {}).get("only_on", dialect) == dialect


# The trigram operator class comes from the pg_trgm extension (trusted: no superuser needed).
sa.event.listen(
    db.metadata,
    "before_create",
    sa.DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)


# ================================================================ accounts


class Role(StrEnum):
    """What a user is to the shop."""

    CUSTOMER = "customer"
    TECHNICIAN = "technician"
    ADMIN = "admin"
    SUPERADMIN = "superadmin"


ROLES = tuple(Role)
STAFF_ROLES = (Role.TECHNICIAN, Role.ADMIN, Role.SUPERADMIN)
ADMIN_ROLES = (Role.ADMIN, Role.SUPERADMIN)


class User(UserMixin, db.Model):
    """Anyone who logs in: customers, technicians, admins and super admins."""

    __tablename__ = "users"
    __table_args__ = (one_of("role", Role),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased (see the validator), so the unique index is case-insensitive.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[Optional[str]] = mapped_column(sa.String(256))
    full_name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[str] = mapped_column(sa.String(20), default=Role.CUSTOMER, index=True)
    active: Mapped[bool] = mapped_column(default=True, index=True)
    # Bumped on deactivation and password change: stale sessions and tokens stop working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    customer_profile: Mapped[Optional[CustomerProfile]] = relationship(
        back_populates="user", uselist=False, cascade="all, delete-orphan"
    )
    technician_profile: Mapped[Optional[TechnicianProfile]] = relationship(
        back_populates="user", uselist=False, cascade="all, delete-orphan"
    )

    @validates("email")
    def _normalise_email(self, _key: str, value: str) -> str:
        return normalise_email(value)

    def set_password(self, password: str, method: str = "scrypt") -> None:
        """Hash and store a password (scrypt by default; tests pass a cheaper method)."""
        self.password_hash = generate_password_hash(password, method=method)
        self.password_changed_at = utcnow()

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login reads this
        return self.active

    def get_id(self) -> str:
        # The version makes every existing session invalid once it is bumped.
        return f"{self.id}:{self.session_version}"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES

    @property
    def is_superadmin(self) -> bool:
        return self.role == Role.SUPERADMIN

    @property
    def first_name(self) -> str:
        return (self.full_name or "").split(" ")[0]

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


def normalise_email(value: str) -> str:
    """Emails compare case-insensitively: store them trimmed and lower-cased."""
    return (value or "").strip().lower()


class CustomerProfile(db.Model):
    """A customer's contact details and notification preferences."""

    __tablename__ = "customer_profiles"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    phone: Mapped[Optional[str]] = mapped_column(sa.String(32), index=True)
    address_line1: Mapped[Optional[str]] = mapped_column(sa.String(200))
    address_line2: Mapped[Optional[str]] = mapped_column(sa.String(200))
    city: Mapped[Optional[str]] = mapped_column(sa.String(100))
    postal_code: Mapped[Optional[str]] = mapped_column(sa.String(20))
    country: Mapped[Optional[str]] = mapped_column(sa.String(2))
    notify_email: Mapped[bool] = mapped_column(default=True)
    notify_sms: Mapped[bool] = mapped_column(default=False)
    notify_in_app: Mapped[bool] = mapped_column(default=True)
    # Per kind of event opt-outs, e.g. {"status_changed": {"sms": false}}.
    notification_prefs: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    stripe_customer_id: Mapped[Optional[str]] = mapped_column(sa.String(64), index=True)

    user: Mapped[User] = relationship(back_populates="customer_profile")


class TechnicianProfile(db.Model):
    """A technician's skills; their shifts and time off feed the slot engine."""

    __tablename__ = "technician_profiles"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    skills: Mapped[Optional[str]] = mapped_column(sa.String(500))  # comma separated
    bench: Mapped[Optional[str]] = mapped_column(sa.String(50))

    user: Mapped[User] = relationship(back_populates="technician_profile")
    shifts: Mapped[list[Shift]] = relationship(
        back_populates="technician", cascade="all, delete-orphan", order_by="Shift.weekday"
    )
    time_off: Mapped[list[TimeOff]] = relationship(
        back_populates="technician", cascade="all, delete-orphan"
    )


class RefreshToken(db.Model):
    """A refresh token, stored hashed; tokens from one login share a family for reuse detection."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    parent_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("refresh_tokens.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


# ================================================================ repairs

REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone


def new_reference() -> str:
    """A short human code such as FMP-24A7K9."""
    return "FMP-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


def new_tracking_token() -> str:
    """An unguessable token for the private tracking link."""
    return secrets.token_urlsafe(24)


class DeviceType(StrEnum):
    """The kind of device brought in."""

    PHONE = "phone"
    TABLET = "tablet"
    SMARTWATCH = "smartwatch"
    LAPTOP = "laptop"
    OTHER = "other"


DEVICE_TYPES = tuple(DeviceType)


class RepairStatus(StrEnum):
    """Where a repair is in the workflow (the API contract's keys, in its order); which move is
    legal is workflow.py's business."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    AWAITING_PARTS = "awaiting_parts"
    ON_HOLD = "on_hold"
    QUALITY_CHECK = "quality_check"
    READY_FOR_PICKUP = "ready_for_pickup"
    COMPLETED = "completed"
    CANCELED = "canceled"
    SCHEDULED = "scheduled"
    PAYMENT_PENDING = "payment_pending"
    DELAYED = "delayed"
    CLOSED = "closed"
    DISPATCHED = "dispatched"


class QuoteStatus(StrEnum):
    """The estimate's state, kept in the quote_* columns (a quote is an estimate of one line)."""

    NONE = "none"
    # Lines changed since the customer last saw them.
    DRAFT = "draft"
    # Sent, waiting for the customer's decision.
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


class ServiceRequest(db.Model):
    """A repair: one device, one customer, moving through the workflow."""

    __tablename__ = "service_requests"
    __table_args__ = (
        # The back office's search: one LIKE per word on search_text (see services/search.py).
        trigram_index("service_requests", "search_text"),
        one_of("status", RepairStatus),
        one_of("device_type", DeviceType),
        one_of("quote_status", QuoteStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(12), unique=True, default=new_reference)
    tracking_token: Mapped[str] = mapped_column(
        sa.String(64), unique=True, default=new_tracking_token
    )
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    technician_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    device_type: Mapped[str] = mapped_column(sa.String(20))
    brand: Mapped[str] = mapped_column(sa.String(60), index=True)
    model: Mapped[str] = mapped_column(sa.String(80))
    imei: Mapped[Optional[str]] = mapped_column(sa.String(15), index=True)
    issue_description: Mapped[str] = mapped_column(sa.Text)
    preferred_time: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(20), default=RepairStatus.PENDING, index=True)
    estimated_completion: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)

    # Quote sent by staff and the customer's decision.
    quote_amount: Mapped[Optional[int]] = mapped_column(sa.Integer)
    quote_currency: Mapped[Optional[str]] = mapped_column(sa.String(3))
    quote_details: Mapped[Optional[str]] = mapped_column(sa.Text)
    quote_status: Mapped[str] = mapped_column(sa.String(10), default=QuoteStatus.NONE)
    quote_sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    quote_decided_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    # Check-in: intake checklist, where the device is, an encrypted passcode.
    intake_checklist: Mapped[Optional[dict]] = mapped_column(sa.JSON)
    location: Mapped[Optional[str]] = mapped_column(sa.String(50))
    passcode_encrypted: Mapped[Optional[str]] = mapped_column(sa.Text)
    checked_in_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    ready_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    completed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)

    # Warranty: a claim is a new request pointing at the original repair.
    warranty_of_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("service_requests.id"), index=True
    )
    warranty_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Warranty rework: labour and parts are not charged (invoicing charges 0).
    no_charge: Mapped[bool] = mapped_column(default=False, server_default=sa.text("false"))
    # Who decided the repair is free (warranty, goodwill), when and why; completion needs it
    # when nothing is invoiced.
    no_charge_reason: Mapped[Optional[str]] = mapped_column(sa.String(300))
    no_charge_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    no_charge_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Bumped each time the estimate is sent; a decision names the version it was made on.
    estimate_version: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Reference, IMEI, brand, model and the customer's name, email and phone, lower-cased and
    # separated, for the back office's search; written by services/search.py on every flush.
    search_text: Mapped[str] = mapped_column(sa.Text, default="", server_default="")

    customer: Mapped[User] = relationship(foreign_keys=[customer_id])
    technician: Mapped[Optional[User]] = relationship(foreign_keys=[technician_id])
    no_charge_by: Mapped[Optional[User]] = relationship(foreign_keys=[no_charge_by_id])
    warranty_of: Mapped[Optional[ServiceRequest]] = relationship(remote_side=[id])
    history: Mapped[list[StatusChange]] = relationship(
        back_populates="service_request",
        order_by="StatusChange.id",
        cascade="all, delete-orphan",
    )
    appointments: Mapped[list[Appointment]] = relationship(back_populates="service_request")
    photos: Mapped[list[RequestPhoto]] = relationship(
        back_populates="service_request", cascade="all, delete-orphan"
    )

    @property
    def is_warranty_claim(self) -> bool:
        return self.warranty_of_id is not None

    def __repr__(self) -> str:
        return f"<ServiceRequest {self.reference} {self.status}>"


class StatusChange(db.Model):
    """One move in a request's history: from, to, who, when and an optional note."""

    __tablename__ = "status_changes"
    __table_args__ = (one_of("from_status", RepairStatus), one_of("to_status", RepairStatus))

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("service_requests.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[Optional[str]] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20), index=True)
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    note: Mapped[Optional[str]] = mapped_column(sa.Text)
    # Internal notes are shown to staff only.
    is_public: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    service_request: Mapped[ServiceRequest] = relationship(back_populates="history")
    actor: Mapped[Optional[User]] = relationship()


class RequestPhoto(db.Model):
    """A photo of the damage, stored outside the web root under a random name."""

    __tablename__ = "request_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("service_requests.id", ondelete="CASCADE"), index=True
    )
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    original_name: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(50))
    size: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    service_request: Mapped[ServiceRequest] = relationship(back_populates="photos")


class LabourEntry(db.Model):
    """Bench time on a repair: what was done, minutes worked and the amount charged for it."""

    __tablename__ = "labour_entries"
    __table_args__ = (
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        sa.CheckConstraint("minutes >= 0", name="minutes_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("service_requests.id", ondelete="CASCADE"), index=True
    )
    technician_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    description: Mapped[str] = mapped_column(sa.String(300))
    minutes: Mapped[int] = mapped_column(sa.Integer, default=0)
    amount: Mapped[int] = mapped_column(sa.Integer, default=0)  # before tax, minor units
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    technician: Mapped[Optional[User]] = relationship()
    service_request: Mapped[ServiceRequest] = relationship()


# ================================================================ scheduling


class OpeningHours(db.Model):
    """When the shop opens on a weekday (0 = Monday), in the shop's time zone."""

    __tablename__ = "opening_hours"

    weekday: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    opens_at: Mapped[Optional[time]] = mapped_column(sa.Time)
    closes_at: Mapped[Optional[time]] = mapped_column(sa.Time)
    closed: Mapped[bool] = mapped_column(default=False)


class ShopSettings(db.Model):
    """Single-row shop settings editable in the back office."""

    __tablename__ = "shop_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_minutes: Mapped[int] = mapped_column(default=30)
    # Bookings per slot when no technician shifts are defined at all.
    default_slot_capacity: Mapped[int] = mapped_column(default=1)
    booking_horizon_days: Mapped[int] = mapped_column(default=30)
    notify_statuses: Mapped[list] = mapped_column(sa.JSON, default=list)


class Shift(db.Model):
    """A weekly recurring shift: weekday 0 = Monday, times in the shop's time zone."""

    __tablename__ = "shifts"
    __table_args__ = (
        sa.CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday_range"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(
        sa.ForeignKey("technician_profiles.user_id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(sa.SmallInteger)
    starts_at: Mapped[time] = mapped_column(sa.Time)
    ends_at: Mapped[time] = mapped_column(sa.Time)

    technician: Mapped[TechnicianProfile] = relationship(back_populates="shifts")


class TimeOff(db.Model):
    """A period a technician is away (holiday, sick leave)."""

    __tablename__ = "time_off"

    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(
        sa.ForeignKey("technician_profiles.user_id", ondelete="CASCADE"), index=True
    )
    starts: Mapped[datetime] = mapped_column(UTCDateTime)
    ends: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[Optional[str]] = mapped_column(sa.String(200))

    technician: Mapped[TechnicianProfile] = relationship(back_populates="time_off")


class AppointmentStatus(StrEnum):
    """A drop-off appointment's state; only a scheduled one holds a seat."""

    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELED = "canceled"
    NO_SHOW = "no_show"


class Appointment(db.Model):
    """A booked slot. ``seat`` numbers the places in a slot: (start, seat) is unique, so two
    customers racing for the last place cannot both win; a cancelled appointment frees its
    seat by setting it to NULL."""

    __tablename__ = "appointments"
    __table_args__ = (
        sa.UniqueConstraint("start", "seat", name="uq_appointments_start_seat"),
        sa.CheckConstraint('"end" > start', name="end_after_start"),
        one_of("status", AppointmentStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("service_requests.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    technician_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    seat: Mapped[Optional[int]] = mapped_column(sa.SmallInteger)
    status: Mapped[str] = mapped_column(
        sa.String(20), default=AppointmentStatus.SCHEDULED, index=True
    )
    cancel_reason: Mapped[Optional[str]] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    service_request: Mapped[ServiceRequest] = relationship(back_populates="appointments")
    customer: Mapped[User] = relationship(foreign_keys=[customer_id])
    technician: Mapped[Optional[User]] = relationship(foreign_keys=[technician_id])


# ================================================================ inventory


class Part(db.Model):
    """A spare part: stock on hand, the part of it reserved for repairs, reorder level."""

    __tablename__ = "parts"
    __table_args__ = (
        sa.CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        sa.CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        sa.CheckConstraint("reserved <= on_hand", name="reserved_within_stock"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    compatible_models: Mapped[Optional[str]] = mapped_column(sa.Text)
    cost: Mapped[int] = mapped_column(sa.Integer, default=0)
    price: Mapped[int] = mapped_column(sa.Integer, default=0)
    on_hand: Mapped[int] = mapped_column(sa.Integer, default=0)
    reserved: Mapped[int] = mapped_column(sa.Integer, default=0)
    reorder_level: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Accessories the counter may sell without a repair (walk-in sales).
    sellable: Mapped[bool] = mapped_column(default=False, server_default=sa.text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def is_low(self) -> bool:
        return self.available <= self.reorder_level

    def __repr__(self) -> str:
        return f"<Part {self.sku}>"


class MovementKind(StrEnum):
    """What a row of the stock ledger records (services/inventory.py writes them)."""

    RECEIVE = "receive"
    RETURN = "return"
    ADJUST = "adjust"
    RESERVE = "reserve"
    RELEASE = "release"
    CONSUME = "consume"
    SALE = "sale"


class StockMovement(db.Model):
    """The stock ledger: every change to a part's stock is one row."""

    __tablename__ = "stock_movements"
    __table_args__ = (one_of("kind", MovementKind),)

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(sa.ForeignKey("parts.id"), index=True)
    service_request_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("service_requests.id"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(20), index=True)
    # Signed: the change to on-hand stock; for reserve/release, the change to what is reserved.
    quantity: Mapped[int] = mapped_column(sa.Integer)
    on_hand_after: Mapped[int] = mapped_column(sa.Integer)
    reserved_after: Mapped[int] = mapped_column(sa.Integer)
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    note: Mapped[Optional[str]] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    part: Mapped[Part] = relationship()
    service_request: Mapped[Optional[ServiceRequest]] = relationship()
    actor: Mapped[Optional[User]] = relationship()


class RequestPartStatus(StrEnum):
    """A part on a repair: held for it, used in it, or given back to stock."""

    RESERVED = "reserved"
    CONSUMED = "consumed"
    RELEASED = "released"


class RequestPart(db.Model):
    """A part reserved for or used in a repair."""

    __tablename__ = "request_parts"
    __table_args__ = (one_of("status", RequestPartStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("service_requests.id", ondelete="CASCADE"), index=True
    )
    part_id: Mapped[int] = mapped_column(sa.ForeignKey("parts.id"), index=True)
    quantity: Mapped[int] = mapped_column(sa.Integer, default=1)
    unit_price: Mapped[int] = mapped_column(sa.Integer, default=0)
    status: Mapped[str] = mapped_column(
        sa.String(20), default=RequestPartStatus.RESERVED, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    part: Mapped[Part] = relationship()
    service_request: Mapped[ServiceRequest] = relationship()


# ================================================================ money


class LineKind(StrEnum):
    """A line of an estimate or of the charges an approval makes."""

    PART = "part"
    LABOUR = "labour"
    FEE = "fee"
    DISCOUNT = "discount"


LINE_KINDS = tuple(LineKind)


class _BillableLine:
    """Columns shared by estimate lines and the charges an approval turns them into.

    ``unit_amount`` is the part's price, the fee, the discount (all positive) or, for labour
    by the hour, the hourly rate with ``minutes`` worked; ``net_amount`` is the signed amount
    before tax (a discount is negative), computed by services/billing/totals.py.
    """

    kind: Mapped[str] = mapped_column(sa.String(10))
    part_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("parts.id"), index=True)
    request_part_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("request_parts.id"), index=True
    )
    description: Mapped[str] = mapped_column(sa.String(300))
    quantity: Mapped[int] = mapped_column(sa.Integer, default=1)
    minutes: Mapped[Optional[int]] = mapped_column(sa.Integer)
    unit_amount: Mapped[int] = mapped_column(sa.Integer)
    net_amount: Mapped[int] = mapped_column(sa.Integer)
    tax_exempt: Mapped[bool] = mapped_column(default=False, server_default=sa.text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _line_checks() -> tuple:
    return (
        one_of("kind", LineKind),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("unit_amount >= 0", name="unit_amount_not_negative"),
        sa.CheckConstraint("minutes IS NULL OR minutes > 0", name="minutes_positive"),
    )


class EstimateLine(_BillableLine, db.Model):
    """One line of a repair's estimate as staff are building it or the customer sees it."""

    __tablename__ = "estimate_lines"
    __table_args__ = _line_checks()

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("service_requests.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)

    part: Mapped[Optional[Part]] = relationship()
    request_part: Mapped[Optional[RequestPart]] = relationship()


class RepairCharge(_BillableLine, db.Model):
    """What the customer agreed to pay: the lines of the estimate version they approved."""

    __tablename__ = "repair_charges"
    __table_args__ = _line_checks()

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("service_requests.id", ondelete="CASCADE"), index=True
    )
    estimate_version: Mapped[int] = mapped_column(sa.Integer)

    part: Mapped[Optional[Part]] = relationship()
    request_part: Mapped[Optional[RequestPart]] = relationship()


class InvoiceCounter(db.Model):
    """The last invoice number used in a year; locked while numbering so there are no gaps."""

    __tablename__ = "invoice_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class InvoiceKind(StrEnum):
    """An invoice, or a credit note correcting one."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceStatus(StrEnum):
    """A draft may change; an issued invoice never does."""

    DRAFT = "draft"
    ISSUED = "issued"


class Invoice(db.Model):
    """An invoice (or a credit note correcting one); immutable once issued."""

    __tablename__ = "invoices"
    __table_args__ = (one_of("kind", InvoiceKind), one_of("status", InvoiceStatus))

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[Optional[str]] = mapped_column(sa.String(20), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(12), default=InvoiceKind.INVOICE)
    credit_for_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    # A walk-in sale at the counter has no repair, and its buyer may have no account.
    service_request_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("service_requests.id"), index=True
    )
    customer_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    bill_to_name: Mapped[Optional[str]] = mapped_column(sa.String(120))
    status: Mapped[str] = mapped_column(sa.String(10), default=InvoiceStatus.DRAFT, index=True)
    currency: Mapped[str] = mapped_column(sa.String(3))
    subtotal: Mapped[int] = mapped_column(sa.Integer, default=0)
    tax: Mapped[int] = mapped_column(sa.Integer, default=0)
    total: Mapped[int] = mapped_column(sa.Integer, default=0)
    issued_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.id"
    )
    service_request: Mapped[Optional[ServiceRequest]] = relationship()
    customer: Mapped[Optional[User]] = relationship()


class InvoiceLineKind(StrEnum):
    """A line of an invoice: the estimate's kinds, plus what invoicing adds."""

    PART = "part"
    LABOUR = "labour"
    FEE = "fee"
    DISCOUNT = "discount"
    # A deposit invoice's one line.
    DEPOSIT = "deposit"
    # What an earlier invoice of the repair already billed, taken off.
    DEDUCTION = "deduction"
    # A credit note's line.
    CREDIT = "credit"


class InvoiceLine(db.Model):
    """One line of an invoice: a part, labour, a fee, a discount or an earlier invoice deducted."""

    __tablename__ = "invoice_lines"
    __table_args__ = (one_of("kind", InvoiceLineKind),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        sa.ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    part_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("parts.id"), index=True)
    # NULL on lines written before revision 0004.
    kind: Mapped[Optional[str]] = mapped_column(sa.String(10))
    description: Mapped[str] = mapped_column(sa.String(300))
    quantity: Mapped[int] = mapped_column(sa.Integer, default=1)
    unit_amount: Mapped[int] = mapped_column(sa.Integer)
    tax_rate_bp: Mapped[int] = mapped_column(sa.Integer, default=0)
    net_amount: Mapped[int] = mapped_column(sa.Integer)
    tax_amount: Mapped[int] = mapped_column(sa.Integer)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class PaymentMethod(StrEnum):
    """How money was paid: online through Stripe, or at the counter."""

    STRIPE = "stripe"
    CASH = "cash"
    CARD_TERMINAL = "card_terminal"
    BANK_TRANSFER = "bank_transfer"


PAYMENT_METHODS = tuple(PaymentMethod)
# Taken at the counter: staff record them, an admin verifies them.
OFFLINE_METHODS = (PaymentMethod.CASH, PaymentMethod.CARD_TERMINAL, PaymentMethod.BANK_TRANSFER)


class PaymentPurpose(StrEnum):
    """What a payment is for: a deposit before the repair starts, or the balance."""

    BALANCE = "balance"
    DEPOSIT = "deposit"


class PaymentStatus(StrEnum):
    """A payment's state; only a succeeded payment counts."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    # Stripe reported an amount or currency other than the payment's: not counted until an
    # admin accepts the reported amount or rejects it (services/billing/review.py).
    NEEDS_REVIEW = "needs_review"


class Payment(db.Model):
    """Money received (or expected) for a repair, online through Stripe or at the counter."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        # A payment is for a repair or, for a walk-in sale, for an invoice.
        sa.CheckConstraint(
            "service_request_id IS NOT NULL OR invoice_id IS NOT NULL", name="paid_for_something"
        ),
        one_of("method", PaymentMethod),
        one_of("purpose", PaymentPurpose),
        one_of("status", PaymentStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("service_requests.id"), index=True
    )
    invoice_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    method: Mapped[str] = mapped_column(sa.String(20), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(20), default=PaymentPurpose.BALANCE)
    status: Mapped[str] = mapped_column(sa.String(20), default=PaymentStatus.PENDING, index=True)
    amount: Mapped[int] = mapped_column(sa.Integer)
    currency: Mapped[str] = mapped_column(sa.String(3))
    stripe_checkout_session_id: Mapped[Optional[str]] = mapped_column(sa.String(255), unique=True)
    stripe_payment_intent_id: Mapped[Optional[str]] = mapped_column(sa.String(255), index=True)
    stripe_charge_id: Mapped[Optional[str]] = mapped_column(sa.String(255), index=True)
    reference: Mapped[Optional[str]] = mapped_column(sa.String(100))  # bank ref, terminal slip
    # Cash handed over at the counter (the change given is tendered - amount).
    tendered: Mapped[Optional[int]] = mapped_column(sa.Integer)
    recorded_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    verified_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    verified_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    succeeded_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)
    failure_reason: Mapped[Optional[str]] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    service_request: Mapped[Optional[ServiceRequest]] = relationship()
    invoice: Mapped[Optional[Invoice]] = relationship()
    customer: Mapped[Optional[User]] = relationship(foreign_keys=[customer_id])
    recorded_by: Mapped[Optional[User]] = relationship(foreign_keys=[recorded_by_id])
    verified_by: Mapped[Optional[User]] = relationship(foreign_keys=[verified_by_id])
    refunds: Mapped[list[Refund]] = relationship(back_populates="payment")


class RefundStatus(StrEnum):
    """A refund's state; only a succeeded refund is money given back."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class Refund(db.Model):
    """Money given back against a payment, full or partial."""

    __tablename__ = "refunds"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        one_of("status", RefundStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id"), index=True)
    amount: Mapped[int] = mapped_column(sa.Integer)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(20), default=RefundStatus.PENDING, index=True)
    reason: Mapped[Optional[str]] = mapped_column(sa.String(300))
    stripe_refund_id: Mapped[Optional[str]] = mapped_column(sa.String(255), unique=True)
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    payment: Mapped[Payment] = relationship(back_populates="refunds")


class StripeEventStatus(StrEnum):
    """A stored webhook event: waiting, applied, waiting for its row, or of no interest."""

    RECEIVED = "received"
    PROCESSED = "processed"
    # Its handler could not yet tell which of our rows it is about; replayed later.
    DEFERRED = "deferred"
    IGNORED = "ignored"


class StripeEvent(db.Model):
    """A webhook event received from Stripe, kept by id so a redelivery changes nothing."""

    __tablename__ = "stripe_events"
    __table_args__ = (one_of("status", StripeEventStatus),)

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100), index=True)
    created: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    payload: Mapped[dict] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(20), default=StripeEventStatus.RECEIVED)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


# ================================================================ messaging


class Message(db.Model):
    """A message in a repair's thread; internal ones are staff-to-staff notes."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("service_requests.id", ondelete="CASCADE"), index=True
    )
    sender_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    body: Mapped[str] = mapped_column(sa.Text)
    is_internal: Mapped[bool] = mapped_column(default=False)
    read_by_customer_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    read_by_staff_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    sender: Mapped[User] = relationship()
    service_request: Mapped[ServiceRequest] = relationship()


class NotificationChannel(StrEnum):
    """How a notification reaches its person."""

    EMAIL = "email"
    SMS = "sms"
    IN_APP = "in_app"


NOTIFICATION_CHANNELS = tuple(NotificationChannel)


class NotificationStatus(StrEnum):
    """pending -> sending -> sent | failed; in-app rows are sent once written, read later."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    READ = "read"


class Notification(db.Model):
    """The outbox: written in the same transaction as the change it reports, then delivered."""

    __tablename__ = "notifications"
    __table_args__ = (one_of("channel", NotificationChannel), one_of("status", NotificationStatus))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    service_request_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("service_requests.id", ondelete="SET NULL"), index=True
    )
    event: Mapped[str] = mapped_column(sa.String(40), index=True)
    channel: Mapped[str] = mapped_column(sa.String(10), index=True)
    recipient: Mapped[Optional[str]] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    context: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(
        sa.String(10), default=NotificationStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[Optional[str]] = mapped_column(sa.Text)
    dedup_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    send_after: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    read_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)
    # Set when a delivery job claims the row (status sending); a stale claim is recovered.
    claimed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)

    user: Mapped[Optional[User]] = relationship()


# ================================================================ audit


class AuditLog(db.Model):
    """Who did what to which object, with the values before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(60), index=True)
    object_id: Mapped[Optional[str]] = mapped_column(sa.String(64), index=True)
    before: Mapped[Optional[dict]] = mapped_column(sa.JSON)
    after: Mapped[Optional[dict]] = mapped_column(sa.JSON)
    ip: Mapped[Optional[str]] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    actor: Mapped[Optional[User]] = relationship()

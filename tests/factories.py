"""factory_boy factories for the shop's models."""

from __future__ import annotations

from datetime import time

import factory
from factory.alchemy import SQLAlchemyModelFactory
from werkzeug.security import generate_password_hash

from fixmyphone import models
from fixmyphone.extensions import db
from fixmyphone.workflow import record_initial

PASSWORD = "correct-horse-1"
_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class UserFactory(Base):
    class Meta:
        model = models.User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Sequence(lambda n: f"Pat Person{n}")
    role = "customer"
    password_hash = _HASH


class CustomerFactory(UserFactory):
    role = "customer"
    customer_profile = factory.LazyFunction(lambda: models.CustomerProfile(phone="+1 555 0199"))


class TechnicianFactory(UserFactory):
    role = "technician"
    technician_profile = factory.LazyFunction(lambda: models.TechnicianProfile(skills="screens"))


class ServiceRequestFactory(Base):
    class Meta:
        model = models.ServiceRequest

    customer = factory.SubFactory(CustomerFactory)
    device_type = "phone"
    brand = "Apple"
    model = "iPhone 13"
    issue_description = "Cracked screen"
    status = "pending"

    @factory.post_generation
    def initial_history(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            status = obj.status
            record_initial(obj, obj.customer)
            obj.status = status
            db.session.flush()

    @factory.post_generation
    def approved_quote_charge(obj, create, extracted, **kwargs):  # noqa: N805
        """A factory-made approved quote carries the estimate line and charge that approving a
        one-line estimate makes (as migration 0004 does for quotes approved before it)."""
        if not create or obj.quote_status != models.QuoteStatus.APPROVED or not obj.quote_amount:
            return
        details = (obj.quote_details or "").strip()
        columns = {
            "kind": models.LineKind.FEE,
            "description": f"Repair as quoted: {details}" if details else "Repair as quoted",
            "quantity": 1,
            "unit_amount": obj.quote_amount,
            "net_amount": obj.quote_amount,
        }
        obj.estimate_version = obj.estimate_version or 1
        db.session.add(models.EstimateLine(service_request_id=obj.id, **columns))
        db.session.add(
            models.RepairCharge(
                service_request_id=obj.id, estimate_version=obj.estimate_version, **columns
            )
        )
        db.session.flush()


class PartFactory(Base):
    class Meta:
        model = models.Part

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Screen {n}")
    cost = 2000
    price = 5000
    on_hand = 5
    reserved = 0
    reorder_level = 1


def open_every_day(opens: time = time(9), closes: time = time(17)) -> None:
    """Opening hours for all seven days (tests pick any date)."""
    for weekday in range(7):
        db.session.merge(models.OpeningHours(weekday=weekday, opens_at=opens, closes_at=closes))
    db.session.flush()

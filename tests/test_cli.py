"""The operator's commands: create-superadmin and seed-demo."""

import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import (
    Appointment,
    Invoice,
    Part,
    Payment,
    ServiceRequest,
    Shift,
    StatusChange,
    User,
)
from fixmyphone.workflow import STATUSES, is_legal_move


def test_create_superadmin_non_interactive(runner):
    result = runner.invoke(
        args=["create-superadmin", "--email", "Boss@Shop.example", "--password", "s3cure-enough"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User))
    assert (user.email, user.role, user.active) == ("boss@shop.example", "superadmin", True)
    assert user.check_password("s3cure-enough")


def test_create_superadmin_refuses_weak_passwords_and_duplicates(runner):
    result = runner.invoke(
        args=["create-superadmin", "--email", "a@shop.example", "--password", "short"]
    )
    assert result.exit_code != 0 and "at least 8" in result.output
    runner.invoke(
        args=["create-superadmin", "--email", "a@shop.example", "--password", "long-enough-1"]
    )
    result = runner.invoke(
        args=["create-superadmin", "--email", "A@shop.example", "--password", "long-enough-2"]
    )
    assert result.exit_code != 0 and "already exists" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_create_superadmin_prompts_when_options_are_missing(runner):
    result = runner.invoke(
        args=["create-superadmin"], input="p@shop.example\nlong-enough-1\nlong-enough-1\n"
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(User.email)) == "p@shop.example"


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_seed_demo_fills_a_realistic_shop_once(runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    for role in ("superadmin", "admin", "technician", "customer"):
        assert role in result.output
    assert "demo1234" in result.output
    roles = dict(
        db.session.execute(sa.select(User.role, sa.func.count()).group_by(User.role)).all()
    )
    assert roles == {"superadmin": 1, "admin": 1, "technician": 4, "customer": 30}
    assert count(Part) == 40 and count(ServiceRequest) == 120
    assert count(Shift) >= 4 * 5
    assert count(Appointment) > 0 and count(Invoice) > 0 and count(Payment) > 0
    statuses = set(db.session.scalars(sa.select(ServiceRequest.status)))
    assert statuses == set(STATUSES)
    # Every history is a legal walk through the workflow, starting with pending.
    for request in db.session.scalars(sa.select(ServiceRequest)):
        history = sorted(request.history, key=lambda e: e.id)
        assert history[0].to_status == "pending" and history[0].from_status is None
        for entry in history[1:]:
            assert is_legal_move(entry.from_status, entry.to_status)
        assert history[-1].to_status == request.status
    assert count(StatusChange) > 120

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code != 0 and "only once" in again.output
    assert count(ServiceRequest) == 120

    quiet = runner.invoke(args=["seed-demo", "--if-empty"])
    assert quiet.exit_code == 0 and "demo1234" in quiet.output
    assert count(ServiceRequest) == 120

"""The status machine: every allowed move works, every other is refused."""

import pytest
import sqlalchemy as sa

from fixmyphone import workflow
from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Invoice, Notification, Payment, StatusChange
from fixmyphone.services.billing import charges
from fixmyphone.workflow import STATUSES, TRANSITIONS, IllegalTransition, UnpaidBalance, move_status

from .conftest import count_rows
from .factories import ServiceRequestFactory, UserFactory

CONTRACT_LABELS = {
    "pending": "Pending",
    "in_progress": "In Progress",
    "awaiting_parts": "Awaiting Parts",
    "on_hold": "On Hold",
    "quality_check": "Quality Check",
    "ready_for_pickup": "Ready for Pickup",
    "completed": "Completed",
    "canceled": "Canceled",
    "scheduled": "Scheduled",
    "payment_pending": "Payment Pending",
    "delayed": "Delayed",
    "closed": "Closed",
    "dispatched": "Dispatched",
}

ALLOWED = [(a, b) for a, targets in TRANSITIONS.items() for b in targets]
REFUSED = [(a, b) for a in STATUSES for b in STATUSES if b not in TRANSITIONS[a]]


def test_statuses_and_labels_match_the_contract():
    assert STATUSES == CONTRACT_LABELS
    assert set(TRANSITIONS) == set(STATUSES)


CONTRACT_TABLE = """
pending | scheduled, in_progress, on_hold, canceled
scheduled | in_progress, delayed, on_hold, canceled
in_progress | awaiting_parts, on_hold, delayed, quality_check, canceled
awaiting_parts | in_progress, delayed, on_hold, canceled
on_hold | pending, scheduled, in_progress, canceled
delayed | in_progress, awaiting_parts, on_hold, canceled
quality_check | in_progress, payment_pending, ready_for_pickup, dispatched
payment_pending | ready_for_pickup, dispatched, on_hold, canceled
ready_for_pickup | completed
dispatched | completed
completed | closed
canceled | closed
closed |
"""


def test_transition_table_matches_the_contract():
    table = {}
    for line in CONTRACT_TABLE.strip().splitlines():
        source, targets = (part.strip() for part in line.split("|"))
        table[source] = {t.strip() for t in targets.split(",") if t.strip()}
    assert {k: set(v) for k, v in TRANSITIONS.items()} == table
    assert len(ALLOWED) == 37


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_every_allowed_move_is_recorded(app, current, target):
    admin = UserFactory(role="admin")
    request = ServiceRequestFactory(status=current)
    if target == "completed":
        # Nothing was charged: completing it needs an admin's no-charge decision.
        charges.mark_no_charge(request, reason="Goodwill", actor=admin)
    entry = move_status(request, target, admin, "a note")
    db.session.commit()
    assert request.status == target
    assert (entry.from_status, entry.to_status, entry.actor_id, entry.note) == (
        current,
        target,
        admin.id,
        "a note",
    )
    assert entry.created_at is not None
    audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "status_changed")).one()
    assert audit.before == {"status": current} and audit.after["status"] == target
    assert count_rows(Notification, Notification.event == "status_changed") >= 1


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_every_other_move_is_refused_with_the_allowed_ones(app, current, target):
    request = ServiceRequestFactory(status=current)
    with pytest.raises(IllegalTransition) as exc:
        move_status(request, target, None)
    assert request.status == current
    allowed = TRANSITIONS[current]
    assert (", ".join(allowed) if allowed else "none") in exc.value.message
    assert count_rows(StatusChange, StatusChange.to_status == target) == (
        1 if target == "pending" else 0
    )


def test_unknown_status_is_refused(app):
    request = ServiceRequestFactory()
    with pytest.raises(IllegalTransition):
        move_status(request, "teleported", None)


def _invoice(request, total):
    inv = Invoice(
        number=f"INV-T-{request.id}",
        service_request=request,
        customer=request.customer,
        status="issued",
        currency="usd",
        subtotal=total,
        total=total,
    )
    db.session.add(inv)
    db.session.flush()
    return inv


def test_completed_is_refused_while_a_balance_is_unpaid(app):
    request = ServiceRequestFactory(status="ready_for_pickup")
    _invoice(request, 5000)
    with pytest.raises(UnpaidBalance) as exc:
        move_status(request, "completed", None)
    assert exc.value.message.startswith("$50.00 is still due")
    assert request.status == "ready_for_pickup"
    db.session.add(
        Payment(
            service_request=request,
            customer=request.customer,
            method="cash",
            status="succeeded",
            amount=5000,
            currency="usd",
        )
    )
    db.session.flush()
    move_status(request, "completed", None)
    assert request.status == "completed" and request.completed_at is not None


def test_completion_and_cancel_erase_the_device_passcode(app):
    request = ServiceRequestFactory(status="in_progress", passcode_encrypted="secret")
    move_status(request, "canceled", None)
    assert request.passcode_encrypted is None


def test_internal_moves_do_not_notify_the_customer(app):
    request = ServiceRequestFactory()
    move_status(request, "in_progress", None, "bench note", public=False)
    assert count_rows(Notification, Notification.event == "status_changed") == 0


def test_label_falls_back_to_the_key():
    assert workflow.label("in_progress") == "In Progress"
    assert workflow.label("weird") == "Weird"  # labels.label: a readable fallback


def test_a_concurrent_move_of_the_same_request_loses_cleanly(app):
    import sqlalchemy as sa

    from fixmyphone.models import ServiceRequest
    from fixmyphone.workflow import ConcurrentMove

    request = ServiceRequestFactory(status="pending")
    db.session.commit()
    # Another process moves it while we still hold the old status in memory.
    db.session.execute(
        sa.update(ServiceRequest)
        .where(ServiceRequest.id == request.id)
        .values(status="on_hold")
        .execution_options(synchronize_session=False)
    )
    assert request.status == "pending"
    with pytest.raises(ConcurrentMove, match="just moved to on_hold"):
        move_status(request, "in_progress", None)
    assert count_rows(StatusChange, StatusChange.to_status == "in_progress") == 0

"""The benchmark data generator writes a consistent chain history."""

import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Invoice, Payment, ServiceRequest, StatusChange, User
from fixmyphone.services.billing.balances import balance_due
from fixmyphone.workflow import is_legal_move


def test_bench_data_generates_consistent_history(runner):
    result = runner.invoke(args=["bench-data", "--requests", "300"])
    assert result.exit_code == 0, result.output
    count = lambda model: db.session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
    assert count(ServiceRequest) == 300
    assert db.session.scalar(sa.select(sa.func.count()).where(User.role == "customer")) == 60
    assert count(StatusChange) > 300 and count(Invoice) > 0 and count(Payment) > 0
    references = db.session.scalars(sa.select(ServiceRequest.reference)).all()
    assert len(set(references)) == 300
    for request in db.session.scalars(sa.select(ServiceRequest).limit(60)):
        history = sorted(request.history, key=lambda e: e.id)
        assert history[0].to_status == "pending"
        assert all(is_legal_move(e.from_status, e.to_status) for e in history[1:])
        assert history[-1].to_status == request.status
        if (
            request.status in ("completed", "closed")
            and request.history[-2].to_status != "canceled"
        ):
            assert balance_due(request) == 0


def test_bench_data_fills_the_search_text(runner):
    from fixmyphone.models import CustomerProfile
    from fixmyphone.services.search import text_for

    assert runner.invoke(args=["bench-data", "--requests", "50"]).exit_code == 0
    rows = db.session.execute(
        sa.select(ServiceRequest, User, CustomerProfile.phone)
        .join(User, ServiceRequest.customer_id == User.id)
        .outerjoin(CustomerProfile, CustomerProfile.user_id == User.id)
    ).all()
    assert len(rows) == 50
    for request, customer, phone in rows:
        values = (request.reference, request.imei, request.brand, request.model)
        assert request.imei and len(request.imei) == 15
        assert request.search_text == text_for(*values, customer.full_name, customer.email, phone)

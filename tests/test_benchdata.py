"""The benchmark data generator writes a consistent chain history."""

import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Invoice, Payment, ServiceRequest, StatusChange, User
from fixmyphone.services.billing import balance_due
from fixmyphone.workflow import can_move


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
        assert all(can_move(e.from_status, e.to_status) for e in history[1:])
        assert history[-1].to_status == request.status
        if (
            request.status in ("completed", "closed")
            and request.history[-2].to_status != "canceled"
        ):
            assert balance_due(request) == 0

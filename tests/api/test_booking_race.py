"""Clients racing for the last place in a slot on PostgreSQL: exactly one wins, the rest 409."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Appointment, ServiceRequest
from fixmyphone.services import tokens

from .. import factories
from ..conftest import make_app

RACERS = 6


@pytest.mark.postgres
def test_only_one_client_gets_the_last_place(require_postgres, tmp_path):
    app = make_app(require_postgres, tmp_path, JWT_SECRET_KEY="race-" + "k" * 40)
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    start = datetime.combine(day, time(10), tzinfo=UTC)
    with app.app_context():
        factories.open_every_day()
        racers = []
        for _ in range(RACERS):
            request = factories.ServiceRequestFactory()
            db.session.flush()
            racers.append((request.id, tokens.start_session(request.customer).access_token))
        db.session.commit()

    barrier = threading.Barrier(RACERS)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def race(request_id: int, token: str) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            "/api/appointment",
            json={"service_request_id": request_id, "start": start.isoformat()},
            headers={"Authorization": f"Bearer {token}"},
        )
        with lock:
            results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=race, args=racer) for racer in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * (RACERS - 1), results
    assert all(body["error"]["code"] == "conflict" for code, body in results if code == 409)
    with app.app_context():
        booked = db.session.scalars(
            sa.select(Appointment).where(Appointment.status == "scheduled")
        ).all()
        assert len(booked) == 1 and booked[0].start == start
        scheduled = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ServiceRequest)
            .where(ServiceRequest.status == "scheduled")
        )
        assert scheduled == 1
        db.session.remove()
        db.engine.dispose()

"""Several customers racing for the last place in a slot through the booking page (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import (
    Appointment,
    AppointmentStatus,
    ShopSettings,
)
from fixmyphone.services import booking, slots

from .. import factories
from ..conftest import client_for, csrf_token, make_app
from .conftest import slot_at

RACERS = 6
LOSER_MESSAGES = (
    "That slot has just been fully booked; please choose another time.",
    "That slot is full; please choose another time.",
)


@pytest.mark.postgres
def test_last_place_in_a_slot_is_never_overbooked(require_postgres, tmp_path):
    app = make_app(require_postgres, tmp_path)
    start = slot_at(2, 10)
    with app.app_context():
        factories.open_every_day()
        db.session.add(ShopSettings(slot_minutes=30, default_slot_capacity=2))
        first = factories.ServiceRequestFactory()
        booking.book(first, start, first.customer)  # one of the two places is gone
        racers = [factories.ServiceRequestFactory() for _ in range(RACERS)]
        db.session.commit()
        contenders = []
        for r in racers:
            client, _ = client_for(app, r.customer)
            url = f"/account/repairs/{r.id}/book"
            contenders.append((client, url, csrf_token(client, url)))
        db.session.remove()

    barrier = threading.Barrier(RACERS)
    results: list = [None] * RACERS

    def race(i: int) -> None:
        client, url, token = contenders[i]
        barrier.wait()
        response = client.post(url, data={"start": start.isoformat(), "csrf_token": token})
        results[i] = (response.status_code, response.get_data(as_text=True))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    codes = sorted(code for code, _ in results)
    assert codes == [302] + [409] * (RACERS - 1), codes
    for code, html in results:
        if code == 409:
            assert any(message in html for message in LOSER_MESSAGES), html[:2000]

    with app.app_context():
        booked = db.session.scalar(
            sa.select(sa.func.count(Appointment.id)).where(
                Appointment.start == start, Appointment.status == AppointmentStatus.SCHEDULED
            )
        )
        capacity = slots.find_slot(start).capacity
        assert booked == capacity == 2
        assert db.session.scalar(sa.select(sa.func.count(Appointment.id))) == 2
        db.session.remove()
        db.engine.dispose()

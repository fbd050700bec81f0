"""Free-slot computation for 30 days with 10 technicians on shift (target: under 30 ms).

Run: .venv/bin/python bench/bench_slots.py   (DATABASE_URL=postgresql://... for PostgreSQL)
"""

from __future__ import annotations

import os
import random
from datetime import UTC, date, datetime, time, timedelta

from common import bench_app, machine, timed


def main() -> None:
    app = bench_app()
    from fixmyphone.extensions import db
    from fixmyphone.models import (
        Appointment,
        CustomerProfile,
        OpeningHours,
        ServiceRequest,
        Shift,
        ShopSettings,
        TechnicianProfile,
        User,
    )
    from fixmyphone.services import slots as slot_engine

    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add(ShopSettings(slot_minutes=30))
        for d in range(7):
            db.session.add(
                OpeningHours(weekday=d, opens_at=time(9), closes_at=time(18), closed=d == 6)
            )
        for t in range(10):
            tech = User(email=f"t{t}@bench.example", full_name=f"Tech {t}", role="technician")
            tech.technician_profile = TechnicianProfile()
            db.session.add(tech)
            db.session.flush()
            for d in range(6):
                db.session.add(
                    Shift(technician_id=tech.id, weekday=d, starts_at=time(9), ends_at=time(18))
                )
        customer = User(
            email="c@bench.example",
            full_name="C",
            role="customer",
            customer_profile=CustomerProfile(),
        )
        db.session.add(customer)
        db.session.flush()
        rng = random.Random(1)
        start_day = date.today() + timedelta(days=1)
        for i in range(1500):  # a busy month: 1,500 bookings spread over the slots
            day = start_day + timedelta(days=rng.randrange(30))
            slot = datetime.combine(day, time(9), tzinfo=UTC) + timedelta(
                minutes=30 * rng.randrange(18)
            )
            req = ServiceRequest(
                reference=f"B-{i}",
                tracking_token=f"tok-{i}",
                customer_id=customer.id,
                device_type="phone",
                brand="Apple",
                model="iPhone",
                issue_description="x",
            )
            db.session.add(req)
            db.session.flush()
            db.session.add(
                Appointment(
                    service_request_id=req.id,
                    customer_id=customer.id,
                    start=slot,
                    end=slot + timedelta(minutes=30),
                    seat=i,
                    status="scheduled",
                )
            )
        db.session.commit()
        result = timed(lambda: slot_engine.slots_for_range(start_day, 30), repeat=30)
        if os.environ.get("PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(
                lambda: [slot_engine.slots_for_range(start_day, 30) for _ in range(10)]
            )
            pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        slots = sum(len(v) for v in slot_engine.slots_for_range(start_day, 30).values())
        print(
            f"slots_for_range(30 days, 10 technicians, 1500 bookings) on {db.engine.dialect.name}: "
            f"{slots} slots, median {result['median_ms']} ms, p95 {result['p95_ms']} ms "
            f"(target < 30 ms) [{machine()}]"
        )
        db.session.remove()
        db.drop_all()


if __name__ == "__main__":
    main()

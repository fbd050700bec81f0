"""Revenue is grouped by the shop's local day, not the UTC day."""

from datetime import UTC, datetime

import pytest

from fixmyphone.extensions import db
from fixmyphone.models import Payment
from fixmyphone.services import reports

from ..factories import ServiceRequestFactory


@pytest.fixture
def app_settings():
    return {"SHOP_TIMEZONE": "America/New_York"}


def test_revenue_days_follow_the_shop_time_zone(app):
    request = ServiceRequestFactory()
    # 22:30 and 23:30 in New York (EDT) on 10 March 2026 are already 11 March in UTC.
    for hour_utc, day_utc in ((2, 11), (3, 11), (15, 10)):
        db.session.add(
            Payment(
                service_request_id=request.id,
                customer_id=request.customer_id,
                method="cash",
                status="succeeded",
                amount=1000,
                currency="usd",
                succeeded_at=datetime(2026, 3, day_utc, hour_utc, 30, tzinfo=UTC),
            )
        )
    db.session.commit()
    period = reports.Period(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    rows = reports.revenue(period, "day")
    assert [(r["period"], r["payments"], r["received"]) for r in rows] == [("2026-03-10", 3, 3000)]

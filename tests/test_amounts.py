"""Typed money amounts become exact minor units; anything else is refused, never a 500."""

import pytest

from fixmyphone.services.billing.amounts import parse_amount


@pytest.mark.parametrize(
    ("raw", "currency", "expected"),
    [
        ("49.99", "usd", 4999),
        ("49,99", "eur", 4999),
        ("0.29", "usd", 29),
        (" 50 ", "usd", 5000),
        ("1000000", "usd", 100_000_000),
        ("500", "jpy", 500),
        ("0", "usd", None),
        ("-5", "usd", None),
        ("4.999", "usd", None),
        ("12.5", "jpy", None),
        ("inf", "usd", None),
        ("nan", "usd", None),
        ("1e30", "usd", None),
        ("abc", "usd", None),
        ("", "usd", None),
        (None, "usd", None),
    ],
)
def test_parse_amount(raw, currency, expected):
    assert parse_amount(raw, currency) == expected


@pytest.mark.parametrize("raw", ["inf", "1e30", "-3", "lots"])
def test_bad_quote_amounts_are_refused_with_a_reason(app, admin_client, raw):
    from fixmyphone.extensions import db
    from fixmyphone.models import ServiceRequest

    from .conftest import csrf_token
    from .factories import ServiceRequestFactory

    request = ServiceRequestFactory()
    token = csrf_token(admin_client, "/admin/requests/")
    response = admin_client.post(
        "/admin/requests/action/",
        data={
            "action": "send_quote",
            "rowid": [str(request.id)],
            "amount": raw,
            "details": "New screen",
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "positive amount" in response.get_data(as_text=True)
    assert db.session.get(ServiceRequest, request.id).quote_status == "none"

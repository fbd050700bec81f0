"""The periodic sweep also applies Stripe events whose job was lost."""

from datetime import timedelta

from fixmyphone import jobs
from fixmyphone.extensions import db
from fixmyphone.models import Payment, StripeEvent, utcnow

from .factories import ServiceRequestFactory


def _event(request, received_at):
    return StripeEvent(
        id=f"evt_lost_{request.id}",
        type="checkout.session.completed",
        payload={
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": f"cs_lost_{request.id}",
                    "object": "checkout.session",
                    "mode": "payment",
                    "payment_status": "paid",
                    "payment_intent": "pi_lost",
                    "amount_total": 4900,
                    "currency": "usd",
                    "metadata": {},
                }
            },
        },
        status="received",
        received_at=received_at,
    )


def test_sweep_applies_stripe_events_whose_job_was_lost(app, runner):
    request = ServiceRequestFactory()
    payment = Payment(
        service_request_id=request.id,
        customer_id=request.customer_id,
        method="stripe",
        status="pending",
        amount=4900,
        currency="usd",
        stripe_checkout_session_id=f"cs_lost_{request.id}",
    )
    db.session.add(payment)
    db.session.add(_event(request, utcnow() - timedelta(minutes=10)))
    db.session.commit()
    result = runner.invoke(args=["sweep"])
    assert result.exit_code == 0, result.output
    assert "stripe_events: retried=1" in result.output
    db.session.expire_all()
    assert db.session.get(StripeEvent, f"evt_lost_{request.id}").status == "processed"
    assert db.session.get(Payment, payment.id).status == "succeeded"


def test_fresh_events_are_left_to_their_own_job(app):
    request = ServiceRequestFactory()
    db.session.add(_event(request, utcnow()))
    db.session.commit()
    assert jobs.retry_unprocessed_events() == {"retried": 0, "failed": 0}

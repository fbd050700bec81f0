"""What a customer must do next on a repair, in words: decide a quote, book, bring the device,
pay, pick it up. The customer's pages (account, repair page, tracking link) all show these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..models import Appointment, QuoteStatus, RepairStatus, ServiceRequest
from ..workflow import FINAL_STATUSES
from . import drop_off


@dataclass
class NextStep:
    """One thing the customer should do now."""

    kind: str
    text: str


def next_steps(
    service_request: ServiceRequest, balance: int, appointment: Optional[Appointment]
) -> list[NextStep]:
    """What the customer must do next, given what they owe (``balance``, minor units) and their
    drop-off ``appointment``."""
    steps: list[NextStep] = []
    status = service_request.status
    actions = drop_off.drop_off_actions(service_request, appointment)
    if service_request.quote_status == QuoteStatus.PENDING:
        steps.append(NextStep("quote", "Approve or decline the estimate so we can go on."))
    if actions.expects_device:
        steps.append(NextStep("bring", "Bring your device to the shop at your appointment time."))
    elif actions.can_book and service_request.quote_status != QuoteStatus.PENDING:
        steps.append(NextStep("book", "Book a time to drop your device off at the shop."))
    if balance > 0:
        steps.append(NextStep("pay", "Pay the balance due, online or when you pick the device up."))
    if status == RepairStatus.READY_FOR_PICKUP:
        steps.append(NextStep("pickup", "Your device is ready: pick it up during opening hours."))
    if status == RepairStatus.DISPATCHED:
        steps.append(NextStep("wait", "Your device is on its way back to you."))
    if not steps and status not in FINAL_STATUSES:
        steps.append(
            NextStep("wait", "Nothing for now: we will let you know when anything changes.")
        )
    return steps

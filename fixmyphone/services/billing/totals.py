"""What lines cost: each line's net and tax, and the totals, computed here and only here.

Estimates, a repair's charges, invoices and counter sales all total up through ``compute``,
so the customer's page, the back office, the API, the PDFs and the reports agree to the cent.
Amounts are integer minor units; tax is per line at the shop's ``TAX_RATE_BP`` (none on a
tax-exempt line), rounded half away from zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional, Protocol

from flask import current_app

from ...models import (
    LineKind,
)


class Billable(Protocol):
    """Anything with the columns of a line: EstimateLine, RepairCharge or ChargeLine."""

    kind: str
    description: str
    quantity: int
    unit_amount: int
    minutes: Optional[int]
    tax_exempt: bool
    part_id: Optional[int]


@dataclass(frozen=True)
class ChargeLine:
    """A line not (yet) stored: a charge worked out from parts and labour, a counter sale."""

    kind: str
    description: str
    quantity: int = 1
    unit_amount: int = 0
    minutes: Optional[int] = None
    tax_exempt: bool = False
    part_id: Optional[int] = None
    request_part_id: Optional[int] = None


@dataclass(frozen=True)
class LineAmount:
    """One line with its amounts worked out."""

    kind: str
    description: str
    quantity: int
    unit_amount: int
    minutes: Optional[int]
    tax_exempt: bool
    part_id: Optional[int]
    net: int
    tax_rate_bp: int
    tax: int

    @property
    def gross(self) -> int:
        return self.net + self.tax

    @property
    def hours(self) -> Optional[str]:
        """Labour time for people: '1.5 h', '45 min'; None for other lines."""
        if not self.minutes:
            return None
        return hours_text(self.minutes)


@dataclass(frozen=True)
class Totals:
    """The lines of an estimate, a bill or a sale with their subtotal, tax and total."""

    lines: tuple[LineAmount, ...]
    subtotal: int
    tax: int
    total: int
    currency: str
    free: bool = False

    @property
    def tax_rates(self) -> tuple[int, ...]:
        """The tax rates (basis points) of the taxed lines, lowest first."""
        return tuple(sorted({line.tax_rate_bp for line in self.lines if line.tax_rate_bp}))


def hours_text(minutes: int) -> str:
    """90 → '1.5 h', 45 → '45 min', 80 → '1 h 20 min'."""
    if minutes < 60:
        return f"{minutes} min"
    if minutes % 30 == 0:
        return f"{minutes / 60:g} h"
    return f"{minutes // 60} h {minutes % 60} min"


def tax_rate() -> int:
    """The shop's tax rate in basis points (2000 = 20 %)."""
    return int(current_app.config.get("TAX_RATE_BP") or 0)


def currency() -> str:
    """The shop's currency code, lower case."""
    return current_app.config["SHOP_CURRENCY"].lower()


def _round_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers."""
    sign = -1 if (numerator < 0) != (denominator < 0) else 1
    return sign * ((abs(numerator) * 2 + abs(denominator)) // (2 * abs(denominator)))


def tax_for(net: int, rate_bp: int) -> int:
    """Tax on a net amount in minor units, rounded half up: 1234 at 2000 bp → 247."""
    return _round_div(net * rate_bp, 10000)


def net_of_gross(gross: int, rate_bp: int) -> int:
    """The net part of a tax-inclusive amount (a deposit of $60.00 at 20 % → $50.00 net)."""
    return _round_div(gross * 10000, 10000 + rate_bp)


def line_net(kind: str, quantity: int, unit_amount: int, minutes: Optional[int] = None) -> int:
    """A line's signed amount before tax: quantity × unit price, or minutes × hourly rate for
    labour by the hour; negative for a discount."""
    if kind == LineKind.LABOUR and minutes:
        amount = quantity * _round_div(minutes * unit_amount, 60)
    else:
        amount = quantity * unit_amount
    return -amount if kind == LineKind.DISCOUNT else amount


def amounts(line: Billable, *, free: bool = False, rate_bp: Optional[int] = None) -> LineAmount:
    """One line's net and tax (nothing at all on a no-charge repair)."""
    rate = tax_rate() if rate_bp is None else rate_bp
    rate = 0 if line.tax_exempt else rate
    net = 0 if free else line_net(line.kind, line.quantity, line.unit_amount, line.minutes)
    return LineAmount(
        kind=line.kind,
        description=line.description,
        quantity=line.quantity,
        unit_amount=line.unit_amount,
        minutes=line.minutes,
        tax_exempt=bool(line.tax_exempt),
        part_id=line.part_id,
        net=net,
        tax_rate_bp=rate,
        tax=tax_for(net, rate),
    )


def compute(
    lines: Iterable[Billable],
    *,
    free: bool = False,
    rate_bp: Optional[int] = None,
    currency_code: Optional[str] = None,
) -> Totals:
    """Every line's amounts and the totals; ``free`` (a no-charge repair) makes them all 0."""
    worked = tuple(amounts(line, free=free, rate_bp=rate_bp) for line in lines)
    subtotal = sum(line.net for line in worked)
    tax = sum(line.tax for line in worked)
    return Totals(
        lines=worked,
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        currency=(currency_code or currency()).lower(),
        free=free,
    )


def money(amount: int, currency_code: Optional[str] = None) -> dict:
    """An amount as the API's contract writes money: {"amount": 4999, "currency": "usd"}."""
    return {"amount": int(amount), "currency": (currency_code or currency()).lower()}

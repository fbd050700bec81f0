"""A form field for money: staff type '49.99', the model stores 4999 minor units."""

from __future__ import annotations

from flask import current_app
from wtforms import StringField, ValidationError

from ..formatting import decimal_amount
from ..services.billing.amounts import MAX_AMOUNT, parse_amount


class MoneyField(StringField):
    """An amount in the shop's currency, shown and typed as a decimal ('49.99'), kept in
    minor units; empty means 0, anything else that is not an amount is a form error."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return decimal_amount(self.data) if self.data is not None else ""

    def process_formdata(self, valuelist) -> None:
        if not valuelist:
            return
        text = (valuelist[0] or "").strip()
        if text in ("", "0", "0.0", "0.00"):
            self.data = 0
            return
        amount = parse_amount(text, current_app.config["SHOP_CURRENCY"])
        self.data = amount
        if amount is None:
            self.data = None
            raise ValueError("Give an amount such as 49.99.")

    def pre_validate(self, form) -> None:
        if self.data is None and self.raw_data and (self.raw_data[0] or "").strip():
            raise ValidationError("Give an amount such as 49.99.")
        if self.data is not None and self.data > MAX_AMOUNT:
            raise ValidationError("That amount is too large.")

"""Form rules every face shares (the customer site, account pages, the back office): WTForms
validators backed by the accounts service's rules, so a password or phone number is judged the
same way wherever it is typed."""

from __future__ import annotations

from wtforms.validators import ValidationError

from .services.accounts import password_problem, phone_problem


def strong_password(_form, field):
    """WTForms validator backed by the accounts service's password rule."""
    if problem := password_problem(field.data or ""):
        raise ValidationError(problem)


def valid_phone(_form, field):
    """WTForms validator backed by the accounts service's phone rule."""
    if problem := phone_problem(field.data):
        raise ValidationError(problem)

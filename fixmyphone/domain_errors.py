"""Domain errors raised by services and the workflow; the API maps them onto its error shape,
pages onto flashes. Below every rule, so the workflow and the services share them."""

from __future__ import annotations


class DomainError(Exception):
    """A shop rule refused the operation; ``code`` and ``status`` follow the API contract."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields


class ValidationFailed(DomainError):
    """Input was well-formed but not acceptable."""

    code = "validation_error"
    status = 422


class NotFound(DomainError):
    """The object does not exist, or the caller may not know it exists."""

    code = "not_found"
    status = 404


class Forbidden(DomainError):
    """The caller's role may not do this."""

    code = "forbidden"
    status = 403


class Conflict(DomainError):
    """The object's state does not allow this (illegal move, full slot, duplicate email)."""

    code = "conflict"
    status = 409

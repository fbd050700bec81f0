"""Transitional: the domain errors live in fixmyphone/domain_errors.py (below the workflow)."""

from ..domain_errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed

__all__ = ["Conflict", "DomainError", "Forbidden", "NotFound", "ValidationFailed"]

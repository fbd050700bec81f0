"""The JSON API at /api (contract: ../shared/spec/api-contract.md)."""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    """Mount the API blueprint(s) on the app."""

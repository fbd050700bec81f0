"""Entry point for ``flask --app app`` and ``gunicorn app:app``."""

from fixmyphone import create_app

app = create_app()

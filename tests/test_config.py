"""Configuration from the environment, with safe defaults."""

import importlib
import re
from pathlib import Path

import pytest

from fixmyphone import config as config_module
from fixmyphone import create_app
from fixmyphone.config import normalise_database_url

README = Path(__file__).resolve().parent.parent / "README.md"
GUNICORN = README.with_name("gunicorn.conf.py")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/shop", "postgresql+psycopg://u:p@db:5432/shop"),
        ("postgresql://u@db/shop", "postgresql+psycopg://u@db/shop"),
        ("postgresql+psycopg://u@db/shop", "postgresql+psycopg://u@db/shop"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_urls_are_normalised(given, expected):
    assert normalise_database_url(given) == expected


def _reload_config(monkeypatch, tmp_path, **env):
    for key in (
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "STRIPE_SECRET_KEY",
        "SMTP_HOST",
        "SHOP_TIMEZONE",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FIXMYPHONE_INSTANCE", str(tmp_path / "instance"))
    return importlib.reload(config_module)


def test_defaults_need_no_servers_and_keep_a_generated_secret(monkeypatch, tmp_path):
    cfg = _reload_config(monkeypatch, tmp_path)
    try:
        app = create_app(cfg.Config)
        assert (
            app.config["SQLALCHEMY_DATABASE_URI"]
            == f"sqlite:///{tmp_path / 'instance' / 'fixmyphone.db'}"
        )
        assert app.config["REDIS_URL"] is None
        assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
        assert app.config["STRIPE_SECRET_KEY"] is None and app.config["SMTP_HOST"] is None
        secret = app.config["SECRET_KEY"]
        assert len(secret) >= 32
        assert (tmp_path / "instance" / "secret_key").read_text().strip() == secret
        assert create_app(cfg.Config).config["SECRET_KEY"] == secret  # generated once
        assert app.config["JWT_SECRET_KEY"] != secret
        assert len(app.config["JWT_SECRET_KEY"]) == 64  # long enough for HS256 whatever SECRET_KEY
    finally:
        importlib.reload(config_module)


def test_environment_overrides(monkeypatch, tmp_path):
    cfg = _reload_config(
        monkeypatch,
        tmp_path,
        DATABASE_URL="postgres://u@db/shop",
        REDIS_URL="redis://r:6379/0",
        SHOP_TIMEZONE="Europe/Paris",
        SHOP_CURRENCY="EUR",
        SECRET_KEY="from-env",
    )
    try:
        assert cfg.Config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@db/shop"
        assert cfg.Config.SHOP_TIMEZONE == "Europe/Paris" and cfg.Config.SHOP_CURRENCY == "eur"
        values = {"SECRET_KEY": "from-env", "REDIS_URL": "redis://r:6379/0"}
        cfg.Config.finalise(values)
        assert values["RATELIMIT_STORAGE_URI"] == "redis://r:6379/0"
    finally:
        importlib.reload(config_module)


def test_production_requires_a_secret_key(monkeypatch, tmp_path):
    cfg = _reload_config(monkeypatch, tmp_path)
    try:
        with pytest.raises(RuntimeError, match="SECRET_KEY"):
            cfg.ProductionConfig.finalise({"SECRET_KEY": None})
        values = {"SECRET_KEY": "s3cret"}
        cfg.ProductionConfig.finalise(values)
        assert cfg.ProductionConfig.SESSION_COOKIE_SECURE is True
    finally:
        importlib.reload(config_module)


def _table_names(readme: str, heading: str) -> list[str]:
    """The names in the first column of the tables under a README heading."""
    section = readme.split(heading, 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, flags=re.MULTILINE)


def test_the_readme_lists_every_setting_and_only_those():
    names = _table_names(README.read_text(), "### Environment variables\n")
    assert len(names) == len(set(names)), "a setting is listed twice"
    outside = {"PORT"} | set(re.findall(r'environ\.get\("([A-Z_]+)"', GUNICORN.read_text()))
    assert set(names) - outside == config_module.ENVIRONMENT_NAMES
    assert outside <= set(names)


def test_every_setting_is_a_config_attribute():
    # Read under another name, or before a configuration class is chosen.
    elsewhere = {"DATABASE_URL", "FIXMYPHONE_CONFIG", "FIXMYPHONE_INSTANCE"}
    for name in config_module.ENVIRONMENT_NAMES - elsewhere:
        assert hasattr(config_module.Config, name), name


def test_list_settings_are_parsed_once(monkeypatch, tmp_path):
    cfg = _reload_config(
        monkeypatch,
        tmp_path,
        NOTIFY_RETRY_INTERVALS="10, 60",
        APPOINTMENT_REMINDERS="2d,90m",
        NOTIFY_STATUSES="",
        JOBS_INLINE="yes",
        FIXMYPHONE_CONFIG="testing",
    )
    try:
        assert cfg.Config.NOTIFY_RETRY_INTERVALS == [10, 60]
        assert cfg.Config.APPOINTMENT_REMINDERS == ["2d", "90m"]
        assert cfg.Config.NOTIFY_STATUSES == []
        assert cfg.Config.PICKUP_REMINDER_DAYS == [3, 7]
        assert cfg.Config.JOBS_INLINE is True
        assert cfg.config_from_environment() is cfg.TestConfig
    finally:
        importlib.reload(config_module)

"""Configuration from the environment, with safe defaults."""

import importlib

import pytest

from fixmyphone import config as config_module
from fixmyphone import create_app
from fixmyphone.config import normalise_database_url


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

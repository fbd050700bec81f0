"""Configuration classes; every secret and deployment setting comes from the environment."""

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Optional

# Every environment variable the app reads (the README's table lists each one; a test keeps
# the two equal). FIXMYPHONE_CONFIG is read when an app is made, the others on import.
ENVIRONMENT_NAMES: set[str] = {"FIXMYPHONE_CONFIG"}


def _env(name: str) -> Optional[str]:
    ENVIRONMENT_NAMES.add(name)
    return os.environ.get(name)


def _str(name: str, default: str) -> str:
    value = _env(name)
    return default if value is None else value


def _optional(name: str) -> Optional[str]:
    """A setting that is off when unset or empty (a secret, a server's address)."""
    return _env(name) or None


def _bool(name: str, default: bool = False) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = _env(name)
    return int(value) if value not in (None, "") else default


def _list(name: str, default: str) -> list[str]:
    """A comma-separated setting, as a list of its non-empty items."""
    return [item.strip() for item in _str(name, default).split(",") if item.strip()]


def _ints(name: str, default: str) -> list[int]:
    """A comma-separated list of whole numbers."""
    return [int(item) for item in _list(name, default)]


BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(_str("FIXMYPHONE_INSTANCE", str(BASE_DIR / "instance")))


def normalise_database_url(url: str) -> str:
    """Accept Heroku-style ``postgres://`` URLs and pin the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _local_secret_key() -> str:
    """Generate a secret once into instance/ so sessions survive restarts on a dev box."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


class Config:
    """Development defaults: SQLite in instance/, in-process jobs, in-memory rate limits."""

    ENV_NAME = "development"
    SECRET_KEY = _optional("SECRET_KEY")
    JWT_SECRET_KEY = _optional("JWT_SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        _optional("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'fixmyphone.db'}"
    )
    # No pool_pre_ping: fixmyphone.database checks pooled connections without a round trip.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    REDIS_URL = _optional("REDIS_URL")
    RQ_QUEUES = ["high", "default", "low"]

    SHOP_NAME = _str("SHOP_NAME", "FixMyPhone Demo Shop")
    SHOP_ADDRESS = _str("SHOP_ADDRESS", "12 Market Street, Springfield")
    SHOP_PHONE = _str("SHOP_PHONE", "+1 555 0100")
    SHOP_EMAIL = _str("SHOP_EMAIL", "hello@fixmyphone.example")
    SHOP_TIMEZONE = _str("SHOP_TIMEZONE", "UTC")
    SHOP_CURRENCY = _str("SHOP_CURRENCY", "usd").lower()
    PUBLIC_BASE_URL = _str("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    TAX_RATE_BP = _int("TAX_RATE_BP", 0)  # basis points: 2000 = 20 %
    LABOUR_RATE = _int("LABOUR_RATE", 6000)  # bench labour per hour, minor units, before tax
    SHOP_LOCALE = _str("SHOP_LOCALE", "en_US")  # how amounts and dates are written
    BOOKING_CUTOFF_MINUTES = _int("BOOKING_CUTOFF_MINUTES", 120)
    WARRANTY_DAYS = _int("WARRANTY_DAYS", 90)
    PASSWORD_RESET_MAX_AGE = _int("PASSWORD_RESET_MAX_AGE", 3600)

    STRIPE_SECRET_KEY = _optional("STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = _optional("STRIPE_PUBLISHABLE_KEY")
    STRIPE_WEBHOOK_SECRET = _optional("STRIPE_WEBHOOK_SECRET")
    STRIPE_API_BASE = _optional("STRIPE_API_BASE")
    STRIPE_TIMEOUT = _int("STRIPE_TIMEOUT", 20)  # seconds per Stripe API call
    DEPOSIT_AMOUNT = _int("DEPOSIT_AMOUNT", 0)  # booking deposit, minor units; 0 = off
    SHOP_LOGO = _optional("SHOP_LOGO")  # image path printed on PDFs

    SMTP_HOST = _optional("SMTP_HOST")
    SMTP_PORT = _int("SMTP_PORT", 587)
    SMTP_USERNAME = _optional("SMTP_USERNAME")
    SMTP_PASSWORD = _optional("SMTP_PASSWORD")
    SMTP_USE_TLS = _bool("SMTP_USE_TLS", True)
    MAIL_FROM = _str("MAIL_FROM", "FixMyPhone <no-reply@fixmyphone.example>")
    SMS_PROVIDER = _str("SMS_PROVIDER", "log")  # log or twilio (services/sms.py)
    TWILIO_ACCOUNT_SID = _optional("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = _optional("TWILIO_AUTH_TOKEN")
    TWILIO_FROM = _optional("TWILIO_FROM")
    TWILIO_API_BASE = _str("TWILIO_API_BASE", "https://api.twilio.com")
    # Development: emails and SMS that are not sent are printed on the console, and the
    # recent ones listed at /dev/outbox (never in production; see services/dev_outbox.py).
    DEV_OUTBOX = _bool("DEV_OUTBOX", True)

    # Notifications (services/notifications.py, delivery by fixmyphone.jobs).
    NOTIFY_STATUSES = _list("NOTIFY_STATUSES", "")  # statuses that tell the customer; [] = all
    NOTIFY_MAX_ATTEMPTS = _int("NOTIFY_MAX_ATTEMPTS", 5)
    NOTIFY_RETRY_INTERVALS = _ints("NOTIFY_RETRY_INTERVALS", "30,120,600,1800")  # last repeats
    NOTIFY_BATCH_SIZE = _int("NOTIFY_BATCH_SIZE", 100)  # rows one delivery job claims and sends
    OUTBOX_GRACE_SECONDS = _int("OUTBOX_GRACE_SECONDS", 120)  # pending longer: the sweep sends
    OUTBOX_CLAIM_TIMEOUT_SECONDS = _int("OUTBOX_CLAIM_TIMEOUT_SECONDS", 600)  # then taken back
    APPOINTMENT_REMINDERS = _list("APPOINTMENT_REMINDERS", "24h,1h")  # before the drop-off
    PICKUP_REMINDER_DAYS = _ints("PICKUP_REMINDER_DAYS", "3,7")  # after "ready for pickup"
    PAYMENT_VERIFY_REMINDER_HOURS = _int("PAYMENT_VERIFY_REMINDER_HOURS", 24)

    # Jobs: on RQ when REDIS_URL is set, unless forced to run in-process after commit.
    JOBS_INLINE = _bool("JOBS_INLINE", False)
    SWEEP_OUTBOX_SECONDS = _int("SWEEP_OUTBOX_SECONDS", 60)  # periodic jobs; 0 = never
    SWEEP_REMINDERS_SECONDS = _int("SWEEP_REMINDERS_SECONDS", 300)
    SWEEP_STAFF_CHECKS_SECONDS = _int("SWEEP_STAFF_CHECKS_SECONDS", 3600)
    SWEEP_STRIPE_EVENTS_SECONDS = _int("SWEEP_STRIPE_EVENTS_SECONDS", 300)

    # Customers' side: how far ahead they book, how often they may look up a repair, photos.
    PUBLIC_BOOKING_DAYS = _int("PUBLIC_BOOKING_DAYS", 28)  # capped by the shop's own horizon
    TRACK_RATE_LIMIT = _str("TRACK_RATE_LIMIT", "10 per minute")
    PHOTO_MAX_BYTES = _int("PHOTO_MAX_BYTES", 5 * 1024 * 1024)
    PHOTO_MAX_COUNT = _int("PHOTO_MAX_COUNT", 5)

    JWT_ACCESS_TTL = _int("JWT_ACCESS_TTL", 15 * 60)
    JWT_REFRESH_TTL = _int("JWT_REFRESH_TTL", 14 * 24 * 3600)
    CORS_ORIGINS = _list("CORS_ORIGINS", "")
    API_SIGNUP_RATE_LIMIT = _str("API_SIGNUP_RATE_LIMIT", "20 per hour")
    # JSON bodies are small (413 beyond this); photo uploads keep MAX_CONTENT_LENGTH.
    API_MAX_CONTENT_LENGTH = _int("API_MAX_CONTENT_LENGTH", 100 * 1024)

    # Failed logins allowed per client address (successes never count).
    LOGIN_RATE_LIMIT = _str("LOGIN_RATE_LIMIT", "10 per minute")
    # Per account (services/logins.py): failures that cost nothing, then a wait doubling from
    # 1 s up to the maximum; failures are forgotten a window after the last one.
    LOGIN_ACCOUNT_FREE_FAILURES = _int("LOGIN_ACCOUNT_FREE_FAILURES", 10)
    LOGIN_ACCOUNT_MAX_DELAY = _int("LOGIN_ACCOUNT_MAX_DELAY", 60)
    LOGIN_ACCOUNT_WINDOW = _int("LOGIN_ACCOUNT_WINDOW", 15 * 60)
    # Said explicitly: Flask-Limiter's one limiter otherwise keeps the last app's setting.
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    # A moving window: a fixed one lets twice the limit through across a window's boundary.
    RATELIMIT_STRATEGY = _str("RATELIMIT_STRATEGY", "moving-window")
    # No X-RateLimit-*/Retry-After on every answer of a limited route (a client honouring
    # Retry-After would wait after a success); errors.py puts Retry-After on the 429 itself.
    RATELIMIT_HEADERS_ENABLED = False
    # With Redis down, count in memory per process rather than failing every request.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 16 * 1024 * 1024)
    UPLOAD_FOLDER = _str("UPLOAD_FOLDER", str(INSTANCE_DIR / "uploads"))
    PASSWORD_HASH_METHOD = "scrypt"
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    TESTING = False
    # Logs: JSON lines with a request id (production); None leaves Flask's default logging.
    LOG_JSON = _bool("LOG_JSON") if _optional("LOG_JSON") else None
    LOG_LEVEL = _str("LOG_LEVEL", "INFO")
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted. 0: none, the
    # client is the socket's peer and X-Forwarded-For is ignored (anyone can set it).
    PROXY_COUNT = _int("PROXY_COUNT", 0)

    # flask-smorest / OpenAPI
    API_TITLE = "FixMyPhone API"
    API_VERSION = "1.0"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"

    @classmethod
    def finalise(cls, config: dict) -> None:
        """Fill values that depend on others once the class is chosen."""
        if not config.get("SECRET_KEY"):
            config["SECRET_KEY"] = _local_secret_key()
        if not config.get("JWT_SECRET_KEY"):
            # Its own key, derived (HMAC-SHA256, 64 hex characters whatever SECRET_KEY's
            # length): a token signature never doubles as a session-cookie signature.
            config["JWT_SECRET_KEY"] = hmac.new(
                config["SECRET_KEY"].encode(), b"fixmyphone api tokens", hashlib.sha256
            ).hexdigest()
        config["RATELIMIT_STORAGE_URI"] = config.get("REDIS_URL") or "memory://"


class ProductionConfig(Config):
    """Production: the secret key must come from the environment; cookies are HTTPS-only."""

    ENV_NAME = "production"
    LOG_JSON = _bool("LOG_JSON", True)
    DEV_OUTBOX = False
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    @classmethod
    def finalise(cls, config: dict) -> None:
        if not config.get("SECRET_KEY"):
            raise RuntimeError("SECRET_KEY must be set in the environment in production")
        super().finalise(config)


class TestConfig(Config):
    """Tests: cheap password hashes, a temp database, jobs in-process unless REDIS_URL is set."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret-key"
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    REDIS_URL = None
    STRIPE_SECRET_KEY = None
    STRIPE_PUBLISHABLE_KEY = None
    STRIPE_WEBHOOK_SECRET = None
    SMTP_HOST = None
    SMS_PROVIDER = "log"
    SERVER_NAME = None
    DEV_OUTBOX = False


CONFIGS = {"development": Config, "production": ProductionConfig, "testing": TestConfig}


def config_from_environment() -> type[Config]:
    """The configuration class FIXMYPHONE_CONFIG names (development by default)."""
    return CONFIGS[_str("FIXMYPHONE_CONFIG", "development")]

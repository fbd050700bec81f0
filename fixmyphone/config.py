"""Configuration classes; every secret and deployment setting comes from the environment."""

import hashlib
import hmac
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("FIXMYPHONE_INSTANCE", BASE_DIR / "instance"))


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


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Config:
    """Development defaults: SQLite in instance/, in-process jobs, in-memory rate limits."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY")
    JWT_SECRET_KEY = os.environ.get("JWT_SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'fixmyphone.db'}"
    )
    # No pool_pre_ping: fixmyphone.database checks pooled connections without a round trip.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    REDIS_URL = os.environ.get("REDIS_URL") or None
    RQ_QUEUES = ["high", "default", "low"]

    SHOP_NAME = os.environ.get("SHOP_NAME", "FixMyPhone Demo Shop")
    SHOP_ADDRESS = os.environ.get("SHOP_ADDRESS", "12 Market Street, Springfield")
    SHOP_PHONE = os.environ.get("SHOP_PHONE", "+1 555 0100")
    SHOP_EMAIL = os.environ.get("SHOP_EMAIL", "hello@fixmyphone.example")
    SHOP_TIMEZONE = os.environ.get("SHOP_TIMEZONE", "UTC")
    SHOP_CURRENCY = os.environ.get("SHOP_CURRENCY", "usd").lower()
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    TAX_RATE_BP = _int("TAX_RATE_BP", 0)  # basis points: 2000 = 20 %
    LABOUR_RATE = _int("LABOUR_RATE", 6000)  # bench labour per hour, minor units, before tax
    SHOP_LOCALE = os.environ.get("SHOP_LOCALE", "en_US")  # how amounts and dates are written
    BOOKING_CUTOFF_MINUTES = _int("BOOKING_CUTOFF_MINUTES", 120)
    WARRANTY_DAYS = _int("WARRANTY_DAYS", 90)
    PASSWORD_RESET_MAX_AGE = _int("PASSWORD_RESET_MAX_AGE", 3600)

    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY") or None
    STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY") or None
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET") or None
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE") or None
    STRIPE_TIMEOUT = _int("STRIPE_TIMEOUT", 20)  # seconds per Stripe API call
    DEPOSIT_AMOUNT = _int("DEPOSIT_AMOUNT", 0)  # booking deposit, minor units; 0 = off
    SHOP_LOGO = os.environ.get("SHOP_LOGO") or None  # image path printed on PDFs

    SMTP_HOST = os.environ.get("SMTP_HOST") or None
    SMTP_PORT = _int("SMTP_PORT", 587)
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME") or None
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD") or None
    SMTP_USE_TLS = _bool("SMTP_USE_TLS", True)
    MAIL_FROM = os.environ.get("MAIL_FROM", "FixMyPhone <no-reply@fixmyphone.example>")
    SMS_PROVIDER = os.environ.get("SMS_PROVIDER", "log")
    # Development: emails and SMS that are not sent are printed on the console, and the
    # recent ones listed at /dev/outbox (never in production; see services/dev_outbox.py).
    DEV_OUTBOX = _bool("DEV_OUTBOX", True)

    JWT_ACCESS_TTL = _int("JWT_ACCESS_TTL", 15 * 60)
    JWT_REFRESH_TTL = _int("JWT_REFRESH_TTL", 14 * 24 * 3600)
    CORS_ORIGINS = [o.strip() for o in os.environ.get("CORS_ORIGINS", "").split(",") if o.strip()]

    # Failed logins allowed per client address (successes never count).
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    # Per account (services/logins.py): failures that cost nothing, then a wait doubling from
    # 1 s up to the maximum; failures are forgotten a window after the last one.
    LOGIN_ACCOUNT_FREE_FAILURES = _int("LOGIN_ACCOUNT_FREE_FAILURES", 10)
    LOGIN_ACCOUNT_MAX_DELAY = _int("LOGIN_ACCOUNT_MAX_DELAY", 60)
    LOGIN_ACCOUNT_WINDOW = _int("LOGIN_ACCOUNT_WINDOW", 15 * 60)
    # Said explicitly: Flask-Limiter's one limiter otherwise keeps the last app's setting.
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    # A moving window: a fixed one lets twice the limit through across a window's boundary.
    RATELIMIT_STRATEGY = os.environ.get("RATELIMIT_STRATEGY", "moving-window")
    # No X-RateLimit-*/Retry-After on every answer of a limited route (a client honouring
    # Retry-After would wait after a success); errors.py puts Retry-After on the 429 itself.
    RATELIMIT_HEADERS_ENABLED = False
    # With Redis down, count in memory per process rather than failing every request.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 16 * 1024 * 1024)
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER", str(INSTANCE_DIR / "uploads"))
    PASSWORD_HASH_METHOD = "scrypt"
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    TESTING = False
    # Logs: JSON lines with a request id (production); None leaves Flask's default logging.
    LOG_JSON = _bool("LOG_JSON", False) if os.environ.get("LOG_JSON") else None
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
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
    SERVER_NAME = None
    DEV_OUTBOX = False


CONFIGS = {"development": Config, "production": ProductionConfig, "testing": TestConfig}

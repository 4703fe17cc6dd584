"""Configuration classes, read from the environment (and an optional ``.env``)."""
import logging
import os
import secrets
import sys
import tempfile
from pathlib import Path

import orjson
from dotenv import load_dotenv

load_dotenv()

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
# Once the default in development, and so public: production refuses it although it is long enough.
PUBLISHED_SECRET_KEY = "dev-only-change-me"  # nosec B105  # refused, never used
MIN_SECRET_KEY_LENGTH = 16


def database_url(url):
    """Pin bare ``postgresql://`` URLs to psycopg2, which SQLAlchemy 2.1 no longer picks by default."""
    if url and url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_bool(name, default):
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


def traces_wanted():
    """Whether the standard OpenTelemetry variables ask for traces to be exported (and the SDK is not disabled)."""
    if env_bool("OTEL_SDK_DISABLED", False):
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def default_log_format():
    """Readable lines when the logs go to a terminal; one JSON object per line anywhere else (a file, a pipe, a
    process manager), where a program rather than a person reads them first, as structlog's documentation advises.
    A JSON line is also the cheaper to render: about 2 µs against 16 µs for the access event."""
    return "console" if sys.stderr is not None and sys.stderr.isatty() else "json"


class Config:
    SERVICE_NAME = "bookapi"
    # Unset in development: a random key is generated once and kept here (see use_generated_secret_key).
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    GENERATED_SECRET_KEY_FILE = ROOT / ".data" / "secret_key"
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    # Any one statement's limit, and what a request's reads may spend together (see reads.py).
    DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 5000)
    # A transaction left open (a worker killed or stuck between statements) would hold its locks and its connection
    # slot for good: PostgreSQL ends the session past this.
    DB_IDLE_IN_TRANSACTION_TIMEOUT_MS = env_int("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10000)
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_size": env_int("DB_POOL_SIZE", 10),
        "max_overflow": env_int("DB_MAX_OVERFLOW", 20),
        "pool_pre_ping": True,
        "pool_recycle": env_int("DB_POOL_RECYCLE", 3600),
        "pool_timeout": env_int("DB_POOL_TIMEOUT", 10),
        # Bound values (a password hash, a token) never reach a log line or a traceback through a database error.
        "hide_parameters": True,
        # JSON columns (a book's authors and categories on every read) parsed by orjson, several times json's speed.
        "json_deserializer": orjson.loads,
        "connect_args": {
            # A database that does not answer (a host gone, packets dropped) fails a request within this, as a 503.
            "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 3),
            # A name search (`q` on authors and categories) finds names with a part at least 0.5 like it (pg_trgm's
            # word similarity; its default, 0.6, misses a transposition such as "tolkein").
            "options": (
                f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}"
                f" -c idle_in_transaction_session_timeout={DB_IDLE_IN_TRANSACTION_TIMEOUT_MS}"
                " -c pg_trgm.word_similarity_threshold=0.5"
            ),
            "application_name": "bookapi",
        },
    }
    REDIS_URL = os.environ.get("REDIS_URL")
    ALLOWED_ORIGINS = [o.strip() for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o.strip()]
    TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
    STRICT_TRANSPORT_SECURITY = None
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
    # Readable lines on a terminal, JSON lines elsewhere; production defaults to JSON (bookapi/logs.py).
    LOG_FORMAT = (os.environ.get("LOG_FORMAT") or default_log_format()).lower()
    # One event per request (bookapi/logs.py), in place of gunicorn's access log.
    ACCESS_LOG = env_bool("ACCESS_LOG", True)
    # A request slower than this logs a warning with its database time; 0 turns that (and the timing) off.
    SLOW_REQUEST_MS = env_int("SLOW_REQUEST_MS", 500)
    # OpenTelemetry traces, when the standard OTEL_* variables ask for an exporter (bookapi/tracing.py).
    TRACING = traces_wanted()

    # Prometheus metrics (bookapi/metrics.py), served by gunicorn's master on METRICS_BIND:METRICS_PORT.
    METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
    MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 1024 * 1024)
    LIST_COUNT_CAP = env_int("LIST_COUNT_CAP", 1_000)
    LIST_MAX_OFFSET = env_int("LIST_MAX_OFFSET", 10_000)
    # Seconds a worker keeps the planner's estimate of a table's rows (the total of an unfiltered list too long to
    # count) before it reads it again.
    LIST_ESTIMATE_MAX_AGE = env_int("LIST_ESTIMATE_MAX_AGE", 10)
    RETRY_AFTER_SECONDS = env_int("RETRY_AFTER_SECONDS", 5)
    REQUIRE_IF_MATCH = env_bool("REQUIRE_IF_MATCH", False)
    # Seconds a request's Idempotency-Key is remembered (a retry within them replays the first answer).
    IDEMPOTENCY_KEY_TTL = env_int("IDEMPOTENCY_KEY_TTL", 24 * 3600)
    # Seconds the catalogue's figures (GET /api/v1/stats) may be old before one request counts them again.
    STATS_MAX_AGE = env_int("STATS_MAX_AGE", 10)
    # Access tokens: lifetimes in seconds, the claims that tie them to this service, and how they are signed
    # (HS256 with a key derived from SECRET_KEY; or RS256, ES256 or EdDSA with a PEM private key file).
    JWT_ACCESS_TTL = env_int("JWT_ACCESS_TTL", 15 * 60)
    JWT_REFRESH_TTL = env_int("JWT_REFRESH_TTL", 14 * 24 * 3600)
    JWT_ISSUER = os.environ.get("JWT_ISSUER", "bookapi")
    JWT_AUDIENCE = os.environ.get("JWT_AUDIENCE", "bookapi")
    JWT_ALGORITHM = os.environ.get("JWT_ALGORITHM", "HS256")
    JWT_PRIVATE_KEY_FILE = os.environ.get("JWT_PRIVATE_KEY_FILE")
    JWT_PUBLIC_KEY_FILE = os.environ.get("JWT_PUBLIC_KEY_FILE")
    JWT_LEEWAY = env_int("JWT_LEEWAY", 0)
    RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = REDIS_URL or "memory://"
    RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "5/minute")
    RATELIMIT_LOGIN_ACCOUNT = os.environ.get("RATELIMIT_LOGIN_ACCOUNT", "10/hour")
    RATELIMIT_REGISTER = os.environ.get("RATELIMIT_REGISTER", "5/hour")
    RATELIMIT_REFRESH = os.environ.get("RATELIMIT_REFRESH", "30/hour")
    RATELIMIT_WRITES = os.environ.get("RATELIMIT_WRITES", "600/minute")
    JSON_SORT_KEYS = False

    @classmethod
    def check(cls):
        """Refuse settings that are unsafe for this environment; ``create_app`` calls it."""
        if not cls.SQLALCHEMY_DATABASE_URI:
            raise RuntimeError("DATABASE_URL is not set")
        if cls.JWT_ALGORITHM not in ("HS256", "RS256", "ES256", "EdDSA"):
            raise RuntimeError(f"JWT_ALGORITHM must be HS256, RS256, ES256 or EdDSA, not {cls.JWT_ALGORITHM!r}")
        if cls.JWT_ALGORITHM != "HS256" and not cls.JWT_PRIVATE_KEY_FILE:
            raise RuntimeError(f"JWT_ALGORITHM={cls.JWT_ALGORITHM} needs JWT_PRIVATE_KEY_FILE")
        if cls.TRUSTED_PROXY_COUNT < 0:
            raise RuntimeError("TRUSTED_PROXY_COUNT must be 0 or more")
        if cls.IDEMPOTENCY_KEY_TTL < 1:
            raise RuntimeError("IDEMPOTENCY_KEY_TTL must be 1 second or more")
        if cls.LOG_FORMAT not in ("json", "console"):
            raise RuntimeError(f"LOG_FORMAT must be json or console, not {cls.LOG_FORMAT!r}")
        if cls.SLOW_REQUEST_MS < 0:
            raise RuntimeError("SLOW_REQUEST_MS must be 0 (off) or more")
        if cls.STATS_MAX_AGE < 0:
            raise RuntimeError("STATS_MAX_AGE must be 0 seconds or more")


class TestingConfig(Config):
    TESTING = True
    # Tests that are about limits turn them on in an app of their own.
    RATELIMIT_ENABLED = False
    # Tests empty and fill tables from one to the next: every list reads the table's estimate afresh.
    LIST_ESTIMATE_MAX_AGE = 0
    SECRET_KEY = os.environ.get("SECRET_KEY") or "testing-only-not-a-secret"
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("TEST_DATABASE_URL") or Config.SQLALCHEMY_DATABASE_URI)


class ProductionConfig(Config):
    # Log collectors read JSON without guessing where a line's fields begin and end.
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json").lower()
    # Production is served over HTTPS only: browsers refuse plain HTTP to this host for a year after a visit.
    STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"

    @classmethod
    def check(cls):
        super().check()
        key = cls.SECRET_KEY
        if not key or key == PUBLISHED_SECRET_KEY or len(key) < MIN_SECRET_KEY_LENGTH:
            raise RuntimeError("SECRET_KEY must be set to a random value of at least 16 characters in production")


CONFIGS = {"development": Config, "testing": TestingConfig, "production": ProductionConfig}


def from_environment():
    """The config class named by ``APP_ENV`` (development, testing or production)."""
    name = os.environ.get("APP_ENV", "development")
    if name not in CONFIGS:
        raise RuntimeError(f"APP_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    return CONFIGS[name]


def use_generated_secret_key(app):
    """Without SECRET_KEY (development: production refuses to start), sign with a random key kept on disk, so that
    ``make run`` needs no setting and no key is public. Every process that starts the app reads the same file:
    gunicorn's workers, its preloading master, the flask commands and later starts."""
    if app.config["SECRET_KEY"]:
        return
    path = Path(app.config["GENERATED_SECRET_KEY_FILE"])
    try:
        key, generated = kept_secret_key(path)
    except OSError as error:
        raise RuntimeError(f"SECRET_KEY is not set and no key can be kept in {path}: {error}") from error
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise RuntimeError(f"SECRET_KEY is not set and {path} holds no usable key: delete it to have one generated")
    app.config["SECRET_KEY"] = key
    if generated:
        logger.warning("SECRET_KEY is not set: generated a random key and kept it in %s", path)
    else:
        logger.info("SECRET_KEY is not set: signing with the key kept in %s", path)


def kept_secret_key(path):
    """The key in ``path`` and whether this call generated it.

    A new key is written to a temporary file (created with mode 0600) and hard-linked into place: the file appears
    whole or not at all, and when processes race, the first link wins and the others read its key.
    """
    generated = False
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32) + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.link(temporary, path)
            generated = True
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text().strip(), generated

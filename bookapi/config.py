"""Configuration classes, read from the environment (and an optional ``.env``)."""
import os

from dotenv import load_dotenv

load_dotenv()

DEFAULT_SECRET_KEY = "dev-only-change-me"


def database_url(url):
    """Pin bare ``postgresql://`` URLs to psycopg2, which SQLAlchemy 2.1 no longer picks by default."""
    if url and url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def env_int(name, default):
    return int(os.environ.get(name, default))


class Config:
    SERVICE_NAME = "bookapi"
    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    # Any one statement's limit, and what a request's reads may spend together (see reads.py).
    DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 5000)
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_size": env_int("DB_POOL_SIZE", 10),
        "max_overflow": env_int("DB_MAX_OVERFLOW", 20),
        "pool_pre_ping": True,
        "pool_recycle": env_int("DB_POOL_RECYCLE", 3600),
        "pool_timeout": env_int("DB_POOL_TIMEOUT", 10),
        "connect_args": {
            "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 5),
            "options": f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}",
            "application_name": "bookapi",
        },
    }
    REDIS_URL = os.environ.get("REDIS_URL")
    ALLOWED_ORIGINS = [o.strip() for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o.strip()]
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
    MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 1024 * 1024)
    LIST_COUNT_CAP = env_int("LIST_COUNT_CAP", 1_000)
    LIST_MAX_OFFSET = env_int("LIST_MAX_OFFSET", 10_000)
    RETRY_AFTER_SECONDS = env_int("RETRY_AFTER_SECONDS", 5)
    REQUIRE_IF_MATCH = os.environ.get("REQUIRE_IF_MATCH", "false").lower() in ("1", "true", "yes")
    JSON_SORT_KEYS = False

    @classmethod
    def check(cls):
        """Refuse settings that are unsafe for this environment; ``create_app`` calls it."""
        if not cls.SQLALCHEMY_DATABASE_URI:
            raise RuntimeError("DATABASE_URL is not set")


class TestingConfig(Config):
    TESTING = True
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("TEST_DATABASE_URL") or Config.SQLALCHEMY_DATABASE_URI)


class ProductionConfig(Config):
    @classmethod
    def check(cls):
        super().check()
        if cls.SECRET_KEY == DEFAULT_SECRET_KEY or len(cls.SECRET_KEY) < 16:
            raise RuntimeError("SECRET_KEY must be set to a random value of at least 16 characters in production")


CONFIGS = {"development": Config, "testing": TestingConfig, "production": ProductionConfig}


def from_environment():
    """The config class named by ``APP_ENV`` (development, testing or production)."""
    name = os.environ.get("APP_ENV", "development")
    if name not in CONFIGS:
        raise RuntimeError(f"APP_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    return CONFIGS[name]

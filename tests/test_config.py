import pytest

from bookapi import create_app, reads
from bookapi.config import Config, ProductionConfig, database_url, from_environment
from bookapi.extensions import db
from tests.conftest import make_config


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgresql://u:p@db:5432/books", "postgresql+psycopg2://u:p@db:5432/books"),
        ("postgres://u@db/books", "postgresql+psycopg2://u@db/books"),
        ("postgresql+psycopg2://u@db/books", "postgresql+psycopg2://u@db/books"),
        (None, None),
    ],
)
def test_database_url_is_pinned_to_psycopg2(url, expected):
    assert database_url(url) == expected


def test_production_refuses_default_secret_key():
    config = type("Prod", (ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://db/x"})

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(config)


def test_production_accepts_a_real_secret_key():
    config = type("Prod", (ProductionConfig,), {
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://db/x", "SECRET_KEY": "s" * 32,
    })

    assert create_app(config).config["SECRET_KEY"] == "s" * 32


def test_missing_database_url_is_refused():
    config = type("NoDb", (Config,), {"SQLALCHEMY_DATABASE_URI": None})

    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        create_app(config)


@pytest.mark.parametrize("name, expected", [("production", ProductionConfig), (None, Config)])
def test_app_env_selects_config(monkeypatch, name, expected):
    if name:
        monkeypatch.setenv("APP_ENV", name)
    else:
        monkeypatch.delenv("APP_ENV", raising=False)

    assert from_environment() is expected


def test_unknown_app_env_is_refused(monkeypatch):
    monkeypatch.setenv("APP_ENV", "staging")

    with pytest.raises(RuntimeError, match="APP_ENV"):
        from_environment()


def test_pool_defaults_match_the_design():
    options = Config.SQLALCHEMY_ENGINE_OPTIONS

    assert (options["pool_size"], options["max_overflow"], options["pool_recycle"]) == (10, 20, 3600)
    assert options["pool_pre_ping"] is True


def test_creating_the_app_opens_no_database_connection():
    """gunicorn builds the app in its master and forks workers from it: a connection made there would be shared."""
    app = create_app(make_config())

    with app.app_context():
        pools = [db.engine.pool, app.extensions[reads.EXTENSION].pool]
        assert [(pool.checkedin(), pool.checkedout()) for pool in pools] == [(0, 0), (0, 0)]

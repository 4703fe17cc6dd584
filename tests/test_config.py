import multiprocessing
import stat

import pytest

from bookapi import create_app, reads
from bookapi.config import Config, ProductionConfig, TestingConfig, database_url, from_environment
from bookapi.extensions import db
from tests.conftest import make_config

WORKERS = 6


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


def test_production_refuses_the_once_published_development_key():
    config = type("Prod", (ProductionConfig,), {
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://db/x", "SECRET_KEY": "dev-only-change-me",
    })

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
        pools = [db.engine.pool, app.extensions[reads.EXTENSION].engine.pool]
        assert [(pool.checkedin(), pool.checkedout()) for pool in pools] == [(0, 0), (0, 0)]


@pytest.fixture
def development(tmp_path):
    """Development settings with no SECRET_KEY, keeping their generated key in a directory of the test's own."""
    return type("Development", (Config,), {
        "SECRET_KEY": None, "SQLALCHEMY_DATABASE_URI": TestingConfig.SQLALCHEMY_DATABASE_URI,
        "GENERATED_SECRET_KEY_FILE": tmp_path / ".data" / "secret_key",
        # As a developer sees it on a terminal.
        "LOG_FORMAT": "console",
    })


def test_development_without_secret_key_generates_a_random_one(development, tmp_path):
    other = type("Elsewhere", (development,), {"GENERATED_SECRET_KEY_FILE": tmp_path / "elsewhere" / "secret_key"})

    key = create_app(development).config["SECRET_KEY"]

    assert len(key) == 64
    assert key != create_app(other).config["SECRET_KEY"]


def test_development_keeps_its_generated_key_readable_by_the_owner_only(development):
    key = create_app(development).config["SECRET_KEY"]

    kept = development.GENERATED_SECRET_KEY_FILE
    assert kept.read_text().strip() == key
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_development_reads_back_the_key_an_earlier_start_generated(development):
    first = create_app(development).config["SECRET_KEY"]

    assert create_app(development).config["SECRET_KEY"] == first


def test_development_logs_that_it_generated_a_key(development, capsys):
    create_app(development)

    (line,) = [line for line in capsys.readouterr().err.splitlines() if "SECRET_KEY" in line]
    assert "[warning  ]" in line
    assert f"generated a random key and kept it in {development.GENERATED_SECRET_KEY_FILE}" in line


def start_worker(development, barrier, keys):
    barrier.wait()
    keys.put(create_app(development).config["SECRET_KEY"])


def test_development_workers_starting_at_once_share_one_generated_key(development):
    """gunicorn without preloading starts every worker's app at once; all must sign cursors with the same key."""
    context = multiprocessing.get_context("fork")
    barrier, keys = context.Barrier(WORKERS), context.Queue()
    workers = [context.Process(target=start_worker, args=(development, barrier, keys)) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    started = [keys.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    assert len(set(started)) == 1
    assert [path.name for path in development.GENERATED_SECRET_KEY_FILE.parent.iterdir()] == ["secret_key"]


def test_development_refuses_a_kept_key_file_without_a_usable_key(development):
    development.GENERATED_SECRET_KEY_FILE.parent.mkdir()
    development.GENERATED_SECRET_KEY_FILE.write_text("\n")

    with pytest.raises(RuntimeError, match="secret_key"):
        create_app(development)

"""A database outage gets a 503 problem, and the service recovers by itself when the database returns."""
import threading

import pytest
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bookapi import create_app, reads
from bookapi.extensions import db
from tests.conftest import make_config
from tests.factories import BookPayload

BOOKS = "/api/v1/books"


def test_database_outage_returns_503_with_retry_after(proxied_client, proxy):
    assert proxied_client.get("/health/ready").status_code == 200
    proxy.cut()

    for url in ("/health/ready", BOOKS, f"{BOOKS}/1"):
        response = proxied_client.get(url)
        assert response.status_code == 503, url
        assert response.headers["Retry-After"] == "5"
        assert response.get_json()["detail"] == "The database is unavailable or too slow; try again shortly."


def test_write_during_outage_returns_503_and_is_not_stored(proxied_client, proxy, client):
    proxy.cut()

    assert proxied_client.post(BOOKS, json=BookPayload()).status_code == 503

    proxy.restore()
    assert client.get(BOOKS).get_json()["total"] == 0


def test_liveness_stays_healthy_during_outage(proxied_client, proxy):
    proxy.cut()

    assert proxied_client.get("/health").status_code == 200


def test_service_recovers_when_database_returns(proxied_client, proxy):
    assert proxied_client.post(BOOKS, json=BookPayload()).status_code == 201
    proxy.cut()
    assert proxied_client.get(BOOKS).status_code == 503

    proxy.restore()

    assert proxied_client.get("/health/ready").status_code == 200
    assert proxied_client.get(BOOKS).get_json()["total"] == 1
    assert proxied_client.post(BOOKS, json=BookPayload()).status_code == 201


def test_read_after_database_restart_is_retried_on_a_fresh_connection(proxied_client, proxy):
    assert proxied_client.get(BOOKS).status_code == 200
    proxy.cut()
    proxy.restore()

    assert proxied_client.get(BOOKS).status_code == 200


def test_query_over_statement_timeout_returns_503(app):
    slow_app = create_app(make_config(SQLALCHEMY_ENGINE_OPTIONS={
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        "connect_args": {"options": "-c statement_timeout=200"},
    }))
    locked, release = threading.Event(), threading.Event()

    def hold_table_lock():
        with app.app_context():
            with db.engine.connect() as connection:
                connection.execute(text("LOCK TABLE books IN ACCESS EXCLUSIVE MODE"))
                locked.set()
                release.wait(10)
                connection.rollback()

    holder = threading.Thread(target=hold_table_lock)
    holder.start()
    try:
        locked.wait(10)
        response = slow_app.test_client().get(BOOKS)
    finally:
        release.set()
        holder.join()
        with slow_app.app_context():
            db.engine.dispose()

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"


@pytest.fixture
def budget_app(app):
    """An app whose requests may spend 1 s in the database."""
    budget_app = create_app(make_config(DB_STATEMENT_TIMEOUT_MS=1000, SQLALCHEMY_ENGINE_OPTIONS={
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        "connect_args": {"options": "-c statement_timeout=1000"},
    }))
    yield budget_app
    with budget_app.app_context():
        db.engine.dispose()
        budget_app.extensions[reads.EXTENSION].dispose()


def test_reads_of_one_request_share_the_statement_timeout(budget_app):
    with budget_app.test_request_context():
        reads.rows(text("SELECT pg_sleep(0.6)"))

        with pytest.raises(OperationalError, match="statement timeout"):
            reads.rows(text("SELECT pg_sleep(0.6)"))


def test_next_request_reads_with_the_whole_statement_timeout(budget_app):
    with budget_app.test_request_context():
        reads.rows(text("SELECT pg_sleep(0.3)"))
        reads.rows(text("SELECT 1"))

    with budget_app.test_request_context():
        assert reads.scalar(text("SHOW statement_timeout")) == "1s"


def test_requests_that_share_an_app_context_have_a_budget_each(budget_app):
    with budget_app.app_context():
        for _ in range(2):
            with budget_app.test_request_context():
                reads.rows(text("SELECT pg_sleep(0.6)"))


@pytest.mark.parametrize("engine", [lambda: db.engine, lambda: current_app.extensions[reads.EXTENSION].engine])
def test_every_session_is_bounded_by_statement_and_idle_transaction_timeouts(app, engine):
    with app.app_context(), engine().connect() as connection:
        settings = [connection.exec_driver_sql(f"SHOW {name}").scalar()
                    for name in ("statement_timeout", "idle_in_transaction_session_timeout")]

    assert settings == ["5s", "10s"]

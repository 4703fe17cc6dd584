"""What a request leaves in the logs beyond its access event: its id on every line and every SQL statement, one
event with the stack for a 5xx and none for a 4xx, a warning when it is slow, and never a secret."""
import logging
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from bookapi import reads
from bookapi.access import public
from bookapi.extensions import db
from tests.accounts import NEW_PASSWORD, authorization, login, me, refresh
from tests.conftest import bearer
from tests.factories import BookFactory
from tests.test_access_log import logged_events, own_app

WAITING_FOR_A_LOCK = text(
    "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


@pytest.fixture(scope="module")
def failing_app():
    app = own_app(LOG_FORMAT="json")

    @app.get("/boom")
    @public
    def boom():
        raise RuntimeError("something broke")

    @app.get("/conflict")
    @public
    def conflict():
        db.session.execute(text("INSERT INTO books (title) VALUES ('no author')"))

    yield app
    with app.app_context():
        db.engine.dispose()


def with_exception(events):
    return [event for event in events if "exception" in event]


def test_server_error_logs_one_event_with_its_stack(failing_app, capsys):
    response = failing_app.test_client().get("/boom", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    events = logged_events(capsys)
    (error,) = with_exception(events)
    assert (error["level"], error["request_id"], error["logger"]) == ("error", "req-500", "bookapi.errors")
    assert "Traceback (most recent call last)" in error["exception"]
    assert "RuntimeError: something broke" in error["exception"]
    assert [event["status"] for event in events if event["logger"] == "bookapi.access"] == [500]


@pytest.mark.parametrize("method, url, body, status", [
    ("get", "/api/v1/books/999", None, 404),
    ("post", "/api/v1/books", {"title": ""}, 422),
    ("get", "/conflict", None, 409),
])
def test_client_error_logs_no_stack(failing_app, admin, capsys, method, url, body, status):
    response = getattr(failing_app.test_client(), method)(url, json=body, headers=bearer(admin))

    assert response.status_code == status
    events = logged_events(capsys)
    assert with_exception(events) == []
    assert [event["status"] for event in events if event["logger"] == "bookapi.access"] == [status]


def test_every_line_of_a_request_carries_its_request_id(failing_app, capsys):
    assert failing_app.test_client().get("/conflict", headers={"X-Request-ID": "req-409"}).status_code == 409

    events = logged_events(capsys)
    assert {event["logger"] for event in events} == {"bookapi.errors", "bookapi.access"}
    assert {event["request_id"] for event in events} == {"req-409"}


def test_auth_flow_logs_no_password_token_or_authorization_header(capsys, caplog):
    app = own_app(LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    client = app.test_client()
    # Every statement too, as an operator debugging the database would see them.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    wrong_password = "a wrong guess of a password"

    assert client.post("/api/v1/auth/register",
                       json={"email": "logged@example.com", "password": NEW_PASSWORD}).status_code == 201
    pair = login(client, "logged@example.com", NEW_PASSWORD).get_json()
    renewed = refresh(client, pair["refresh_token"]).get_json()
    assert refresh(client, pair["refresh_token"]).status_code == 401
    assert me(client, renewed["access_token"]).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=authorization(renewed["access_token"])).status_code == 200
    assert login(client, "logged@example.com", wrong_password).status_code == 401

    captured = capsys.readouterr()
    logged = captured.out + captured.err
    issued = [tokens[kind] for tokens in (pair, renewed) for kind in ("access_token", "refresh_token")]
    secrets = [NEW_PASSWORD, wrong_password, *issued]
    assert "INSERT INTO users" in logged and "UPDATE refresh_tokens" in logged  # the capture saw the requests' SQL
    assert logged.count('"event":"request"') == 7
    assert [secret for secret in secrets if secret in logged] == []
    assert "bearer" not in logged.lower() and "authorization" not in logged.lower()


def test_statements_of_a_request_carry_its_request_id(app):
    with app.test_request_context("/", headers={"X-Request-ID": "req-sql-1"}):
        app.preprocess_request()
        written = db.session.execute(text("SELECT current_query()")).scalar()
        read = reads.scalar(text("SELECT current_query()"))

    assert written == "/* request_id=req-sql-1 */ SELECT current_query()"
    assert read == "/* request_id=req-sql-1 */ SELECT current_query()"


def test_request_id_that_would_break_out_of_the_comment_is_replaced(app):
    with app.test_request_context("/", headers={"X-Request-ID": "x */ DROP TABLE books; /*"}):
        app.preprocess_request()
        query = db.session.execute(text("SELECT current_query()")).scalar()

    assert query.count("*/") == 1 and "DROP" not in query
    assert query.endswith(" */ SELECT current_query()")


def test_statements_outside_a_request_carry_no_comment():
    assert db.session.execute(text("SELECT current_query()")).scalar() == "SELECT current_query()"


def send_while_books_are_locked(client, url, headers, hold_seconds):
    """GET ``url`` while another transaction locks the books table, released ``hold_seconds`` after the request's
    statement is seen waiting for it; the response and the statement as pg_stat_activity showed it."""
    engine = create_engine(db.engine.url)
    results = {}
    try:
        # The watcher reads in autocommit: a transaction would see the activity as it was at its first read.
        with engine.connect() as locker, engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
            locker.execute(text("LOCK TABLE books IN ACCESS EXCLUSIVE MODE"))
            thread = threading.Thread(target=lambda: results.update(response=client.get(url, headers=headers)))
            thread.start()
            deadline = time.monotonic() + 30
            while not (waiting := watcher.execute(WAITING_FOR_A_LOCK).scalars().all()):
                assert time.monotonic() < deadline, "the request never waited for the lock"
                time.sleep(0.01)
            time.sleep(hold_seconds)
            locker.rollback()
            thread.join(timeout=30)
    finally:
        engine.dispose()
    return results["response"], waiting


@pytest.fixture(scope="module")
def slow_app():
    app = own_app(LOG_FORMAT="json", SLOW_REQUEST_MS=100)
    yield app
    with app.app_context():
        db.engine.dispose()
        app.extensions[reads.EXTENSION].dispose()


def test_request_waiting_in_the_database_shows_its_request_id_in_pg_stat_activity(slow_app, capsys):
    book = BookFactory()

    response, waiting = send_while_books_are_locked(
        slow_app.test_client(), f"/api/v1/books/{book.id}", {"X-Request-ID": "req-waiting"}, 0)

    assert response.status_code == 200
    (query,) = waiting
    assert query.startswith("/* request_id=req-waiting */ ")


def test_slow_request_logs_a_warning_with_its_database_time(slow_app, capsys):
    book = BookFactory()

    response, _ = send_while_books_are_locked(
        slow_app.test_client(), f"/api/v1/books/{book.id}", {"X-Request-ID": "req-slow"}, 0.3)

    assert response.status_code == 200
    access, warning = logged_events(capsys)
    assert (warning["level"], warning["event"], warning["request_id"]) == ("warning", "slow request", "req-slow")
    assert warning["db_statements"] == 1
    assert warning["duration_ms"] >= warning["db_ms"] >= 300
    assert (access["level"], access["event"], access["db_ms"]) == ("info", "request", warning["db_ms"])


def test_request_under_the_threshold_logs_no_warning(capsys):
    app = own_app(LOG_FORMAT="json", SLOW_REQUEST_MS=60_000)
    book = BookFactory()

    response, _ = send_while_books_are_locked(app.test_client(), f"/api/v1/books/{book.id}", {}, 0.3)

    assert response.status_code == 200
    events = logged_events(capsys)
    assert [event["level"] for event in events] == ["info"]
    assert events[0]["db_ms"] >= 300


def test_slow_request_warning_off_at_zero(capsys):
    app = own_app(LOG_FORMAT="json", SLOW_REQUEST_MS=0)
    book = BookFactory()

    response, _ = send_while_books_are_locked(app.test_client(), f"/api/v1/books/{book.id}", {}, 0.3)

    assert response.status_code == 200
    (event,) = logged_events(capsys)
    assert event["level"] == "info" and "db_ms" not in event

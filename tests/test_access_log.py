"""The access event: one per request, written by the app through structlog, in place of gunicorn's access line."""
import io
import json
import os
import runpy
import sys
from datetime import datetime
from pathlib import Path

import pytest

from bookapi import create_app
from bookapi.config import ProductionConfig, default_log_format
from bookapi.extensions import db
from tests.conftest import RequestScopedClient, make_config, sign_in
from tests.factories import BookFactory

ROOT = Path(__file__).resolve().parent.parent


def logged_events(capsys):
    """Every event written to standard output or error since the last call, parsed."""
    captured = capsys.readouterr()
    return [json.loads(line) for line in (captured.out + captured.err).splitlines() if line.startswith("{")]


def access_events(capsys):
    return [event for event in logged_events(capsys) if event.get("logger") == "bookapi.access"]


def own_app(**settings):
    app = create_app(make_config(**settings))
    app.test_client_class = RequestScopedClient
    return app


@pytest.fixture(scope="module")
def json_app():
    app = own_app(LOG_FORMAT="json")
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def json_client(json_app):
    return json_app.test_client()


def test_read_logs_one_access_event(json_client, capsys):
    book = BookFactory()
    # The first lookup on a connection prepares its statement there: a statement more.
    assert json_client.get(f"/api/v1/books/{book.id}").status_code == 200
    (first,) = access_events(capsys)
    response = json_client.get(f"/api/v1/books/{book.id}", headers={"X-Request-ID": "req-7"})

    assert response.status_code == 200
    (event,) = access_events(capsys)
    assert datetime.fromisoformat(event.pop("time")).utcoffset().total_seconds() == 0
    assert event.pop("duration_ms") >= 0
    assert event.pop("db_ms") >= 0
    assert event == {
        "logger": "bookapi.access", "event": "request", "level": "info", "request_id": "req-7", "method": "GET",
        "route": "/api/v1/books/<int:book_id>", "status": 200, "bytes": len(response.data), "client": "127.0.0.1",
        "db_statements": 1,
    }
    assert first["db_statements"] == 2


def test_signed_in_request_names_the_account_in_its_access_event(json_app, admin, capsys):
    client = sign_in(json_app.test_client(), admin)

    assert client.get("/api/v1/auth/me").status_code == 200
    (event,) = access_events(capsys)
    assert event["user_id"] == admin.id


def test_not_modified_access_event_counts_no_body_bytes(json_client, capsys):
    book = BookFactory()
    etag = json_client.get(f"/api/v1/books/{book.id}").headers["ETag"]
    capsys.readouterr()

    assert json_client.get(f"/api/v1/books/{book.id}", headers={"If-None-Match": etag}).status_code == 304
    (event,) = access_events(capsys)
    assert (event["status"], event["bytes"]) == (304, 0)


def test_client_address_is_the_one_the_trusted_proxy_reported(capsys):
    app = own_app(LOG_FORMAT="json", TRUSTED_PROXY_COUNT=1)

    response = app.test_client().get("/health", headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7"})

    assert response.status_code == 200
    (event,) = access_events(capsys)
    assert event["client"] == "198.51.100.7"


def test_access_event_without_a_peer_address_has_no_client(json_client, capsys):
    assert json_client.get("/health", environ_overrides={"REMOTE_ADDR": None}).status_code == 200
    (event,) = access_events(capsys)
    assert event["client"] is None


def test_unmatched_path_access_event_has_no_route(json_client, capsys):
    assert json_client.get("/api/v1/nowhere").status_code == 404
    (event,) = access_events(capsys)
    assert (event["route"], event["status"]) == (None, 404)


def test_console_format_writes_readable_lines(capsys):
    app = own_app(LOG_FORMAT="console")

    assert app.test_client().get("/health", headers={"X-Request-ID": "req-console"}).status_code == 200
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "bookapi.access" in line]
    assert not line.startswith("{")
    assert " request " in line and " request_id=req-console " in line and " route=/health " in line


def test_access_events_off_when_disabled(capsys):
    app = own_app(LOG_FORMAT="json", ACCESS_LOG=False)

    assert app.test_client().get("/health").status_code == 200
    assert access_events(capsys) == []


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.skipif("LOG_FORMAT" in os.environ, reason="LOG_FORMAT is set for this run")
def test_production_logs_json_and_development_readable_lines_on_a_terminal_only(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    on_a_terminal = default_log_format()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    elsewhere = default_log_format()

    assert (on_a_terminal, elsewhere) == ("console", "json")
    assert ProductionConfig.LOG_FORMAT == "json"


def test_unknown_log_format_is_refused():
    with pytest.raises(RuntimeError, match="LOG_FORMAT must be json or console"):
        make_config(LOG_FORMAT="xml").check()


def test_gunicorn_writes_no_access_line_of_its_own_by_default(monkeypatch):
    monkeypatch.delenv("GUNICORN_ACCESS_LOG", raising=False)

    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["accesslog"] is None

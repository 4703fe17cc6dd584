"""The access line: one per request, written by the app, in place of gunicorn's."""
import re
import runpy
from pathlib import Path

import pytest

from bookapi import create_app
from bookapi.extensions import db
from tests.conftest import make_config
from tests.factories import BookFactory

ROOT = Path(__file__).resolve().parent.parent
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


def access_lines(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if " bookapi.access: " in line]


def test_read_writes_one_access_line(anonymous, capsys):
    book = BookFactory()
    response = anonymous.get(f"/api/v1/books/{book.id}", headers={"X-Request-ID": "req-7"})

    assert response.status_code == 200
    (line,) = access_lines(capsys)
    assert re.fullmatch(
        rf"{STAMP} INFO \[req-7\] bookapi\.access: method=GET route=/api/v1/books/<int:book_id> status=200 "
        rf"duration_ms=\d+\.\d\d bytes={len(response.data)} user=- client=127\.0\.0\.1", line)


def test_signed_in_request_names_the_account_in_its_access_line(client, admin, capsys):
    assert client.get("/api/v1/auth/me").status_code == 200
    (line,) = access_lines(capsys)
    assert f" user={admin.id} " in line


def test_not_modified_access_line_counts_no_body_bytes(anonymous, capsys):
    book = BookFactory()
    etag = anonymous.get(f"/api/v1/books/{book.id}").headers["ETag"]
    capsys.readouterr()

    assert anonymous.get(f"/api/v1/books/{book.id}", headers={"If-None-Match": etag}).status_code == 304
    (line,) = access_lines(capsys)
    assert " status=304 " in line and " bytes=0 " in line


def test_access_line_without_a_peer_address_shows_a_dash(anonymous, capsys):
    assert anonymous.get("/health", environ_overrides={"REMOTE_ADDR": None}).status_code == 200
    (line,) = access_lines(capsys)
    assert line.endswith(" client=-")


def test_unmatched_path_access_line_has_no_route(anonymous, capsys):
    assert anonymous.get("/api/v1/nowhere").status_code == 404
    (line,) = access_lines(capsys)
    assert " route=- status=404 " in line


@pytest.fixture
def quiet_client():
    app = create_app(make_config(ACCESS_LOG=False))
    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


def test_access_line_off_when_disabled(quiet_client, capsys):
    assert quiet_client.get("/health").status_code == 200
    assert access_lines(capsys) == []


def test_gunicorn_writes_no_access_line_of_its_own_by_default(monkeypatch):
    monkeypatch.delenv("GUNICORN_ACCESS_LOG", raising=False)

    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["accesslog"] is None

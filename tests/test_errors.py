"""Every error body is one RFC 9457 shape."""
import logging
import re

import pytest
from sqlalchemy import text

from bookapi import create_app
from bookapi.access import public
from bookapi.config import TestingConfig
from bookapi.extensions import db

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


@pytest.mark.parametrize(
    "method, url, status",
    [
        ("get", "/api/v1/books/999", 404),
        ("get", "/no/such/route", 404),
        ("patch", "/api/v1/books", 405),
        ("post", "/api/v1/books", 415),
        ("get", "/api/v1/books?size=0", 422),
    ],
)
def test_error_has_problem_shape(client, method, url, status):
    response = getattr(client, method)(url)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert PROBLEM_KEYS <= set(body)
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["instance"] == url.split("?")[0]
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_unknown_method_returns_405_with_allow_header(client):
    response = client.patch("/api/v1/books")

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_caller_request_id_is_echoed(client):
    response = client.get("/health", headers={"X-Request-ID": "lb-1234"})

    assert response.headers["X-Request-ID"] == "lb-1234"


def test_unsafe_request_id_is_replaced(client):
    response = client.get("/health", headers={"X-Request-ID": "bad id <script>" + "x" * 200})

    assert len(response.headers["X-Request-ID"]) == 32


# A header arrives as Latin-1 text, so UTF-8 "ê" is "Ãª": two letters to a Unicode-aware pattern.
@pytest.mark.parametrize("request_id", ["lb-é-1234", "lb-\u00c3\u00aa-1234"])
def test_non_ascii_request_id_is_replaced(client, request_id):
    response = client.get("/health", headers={"X-Request-ID": request_id})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


@pytest.fixture
def failing_client():
    app = create_app(TestingConfig)

    @app.get("/boom")
    @public
    def boom():
        raise RuntimeError("password=hunter2 in a stack trace")

    @app.get("/unstorable")
    @public
    def unstorable():
        db.session.execute(text("SELECT CAST('not a number' AS integer)"))

    @app.get("/bad-sql")
    @public
    def bad_sql():
        db.session.execute(text("SELECT * FROM no_such_table"))

    @app.get("/conflict")
    @public
    def conflict():
        db.session.execute(text("INSERT INTO books (title) VALUES ('no author')"))

    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


def test_value_the_database_cannot_store_returns_422(failing_client):
    response = failing_client.get("/unstorable")

    assert response.status_code == 422
    assert response.get_json()["detail"] == "A value could not be stored: it is out of range or malformed."


def test_integrity_error_other_than_duplicate_isbn_returns_409(failing_client):
    assert failing_client.get("/conflict").status_code == 409


def test_database_programming_error_returns_500(failing_client):
    response = failing_client.get("/bad-sql")

    assert response.status_code == 500
    assert "no_such_table" not in response.get_data(as_text=True)


def test_unexpected_error_returns_500_without_internals(failing_client, caplog):
    with caplog.at_level(logging.ERROR):
        response = failing_client.get("/boom", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    body = response.get_json()
    assert "hunter2" not in response.get_data(as_text=True)
    assert body["detail"] == "An unexpected error occurred. Quote the request id when reporting it."
    assert body["request_id"] == "req-500"
    assert any("hunter2" in (r.exc_text or "") for r in caplog.records)

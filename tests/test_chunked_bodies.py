"""Bodies sent without Content-Length (chunked) keep to MAX_CONTENT_LENGTH, through a real gunicorn.

The test client cannot send a chunked body: only a server decides how such a body reaches the app.
"""
import http.client
import json

import pytest

from tests.conftest import bearer
from tests.factories import BookPayload
from tests.served import gunicorn_serving

LIMIT = 4096
BOOKS = "/api/v1/books"


@pytest.fixture(scope="module")
def server_port(app, tmp_path_factory):
    """gunicorn as deployed (gunicorn.conf.py), one worker, on TEST_DATABASE_URL, with a body limit of LIMIT bytes."""
    settings = {"APP_ENV": "testing", "MAX_CONTENT_LENGTH": str(LIMIT), "WEB_CONCURRENCY": "1",
                "GUNICORN_ACCESS_LOG": ""}
    with gunicorn_serving(settings, tmp_path_factory.mktemp("gunicorn") / "gunicorn.log") as (port, _):
        yield port


def post_chunked(port, body, headers):
    """POST ``body`` in 1 KiB chunks with Transfer-Encoding: chunked; the status and the parsed answer."""
    chunks = (body[start:start + 1024] for start in range(0, len(body), 1024))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", BOOKS, body=chunks, headers={"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def book_padded_to(size):
    """A valid book as JSON, followed by spaces up to ``size`` bytes: valid JSON whatever its length."""
    body = json.dumps(BookPayload()).encode()
    return body + b" " * (size - len(body))


@pytest.mark.parametrize("body", [
    pytest.param(book_padded_to(LIMIT + 1), id="a byte over"),
    pytest.param(json.dumps(BookPayload(description="d" * 2 * LIMIT)).encode(), id="twice the limit"),
])
def test_create_book_with_chunked_body_over_the_limit_returns_413(client, admin, server_port, body):
    status, problem = post_chunked(server_port, body, bearer(admin))

    assert status == 413
    assert problem["detail"] == f"The body is larger than {LIMIT} bytes."
    assert client.get(f"{BOOKS}?count=exact").get_json()["total"] == 0


def test_create_book_with_chunked_body_at_the_limit_returns_201(client, admin, server_port):
    status, book = post_chunked(server_port, book_padded_to(LIMIT), bearer(admin))

    assert status == 201
    assert client.get(f"{BOOKS}/{book['id']}").status_code == 200

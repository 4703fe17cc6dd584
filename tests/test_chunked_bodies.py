"""Bodies sent without Content-Length (chunked) keep to MAX_CONTENT_LENGTH, through a real gunicorn.

The test client cannot send a chunked body: only a server decides how such a body reaches the app.
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import bearer
from tests.factories import BookPayload

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 4096
BOOKS = "/api/v1/books"


@pytest.fixture(scope="module")
def server_port(app, tmp_path_factory):
    """gunicorn as deployed (gunicorn.conf.py), one worker, on TEST_DATABASE_URL, with a body limit of LIMIT bytes.

    It serves on a socket bound here and handed over (fd://), so no other process can take the port meanwhile.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {**os.environ, "APP_ENV": "testing", "MAX_CONTENT_LENGTH": str(LIMIT), "WEB_CONCURRENCY": "1",
           "GUNICORN_ACCESS_LOG": ""}
    argv = [Path(sys.executable).parent / "gunicorn", "--config", "gunicorn.conf.py",
            "--bind", f"fd://{listener.fileno()}", "wsgi:app"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, pass_fds=[listener.fileno()], stdout=log,
                                   stderr=subprocess.STDOUT)
    port = listener.getsockname()[1]
    try:
        # The socket listens already, so this waits in its backlog until the worker is up.
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30).close()
    except OSError:
        process.kill()
        process.wait()
        pytest.fail(f"gunicorn did not serve /health within 30 s:\n{log_path.read_text()}")
    yield port
    process.terminate()
    process.wait(timeout=30)
    listener.close()


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

"""Writes that a reliability test sends under faults, and what it checks of their answers and of the database."""
import http.client
import json

from tests.factories import isbn13
from tests.reliability.harness import request

BOOKS = "/api/v1/books"
# Every failure a database outage may cause must be a 503 problem answered within the connect timeout and this.
LATENCY_MARGIN = 2.0


def book(number):
    """A valid new book, its ISBN made from ``number``: distinct numbers, distinct books."""
    return {"title": f"Book {number}", "author": "Reliability Test", "isbn": isbn13(number),
            "published_date": "2001-02-03"}


def key_of(body):
    """The Idempotency-Key a test sends with ``body``: one per book, so a retry reuses it."""
    return f"book-{body['isbn']}"


def writer(token, first=0, per_client=100_000):
    """``make_request`` for a Load: each client POSTs new books of its own, each with its own Idempotency-Key."""
    def make_request(client, n):
        body = book(first + client * per_client + n)
        return "POST", BOOKS, body, {"Authorization": f"Bearer {token}", "Idempotency-Key": key_of(body)}
    return make_request


def retry(port, token, bodies):
    """{isbn: answer} of sending each book again with its Idempotency-Key, one after another on one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        return {body["isbn"]: request("POST", port, BOOKS, body, {
            "Authorization": f"Bearer {token}", "Idempotency-Key": key_of(body)}, connection=connection)
            for body in bodies}
    finally:
        connection.close()


def problem_503_faults(outcome):
    """What is wrong with ``outcome`` as a database outage's answer: [] for a 503 problem with Retry-After."""
    faults = []
    headers = outcome.detail.get("headers", {})
    body = outcome.detail.get("body", b"")
    if outcome.status != 503:
        faults.append(f"status {outcome.status or outcome.error}: {body[:300]!r}")
    if headers.get("content-type") != "application/problem+json":
        faults.append(f"content type {headers.get('content-type')}")
    if not headers.get("retry-after", "").isdigit():
        faults.append("no Retry-After")
    if b"Traceback" in body or b"psycopg2" in body:
        faults.append("a traceback in the body")
    elif outcome.status == 503 and json.loads(body)["status"] != 503:
        faults.append("a body that is not the problem")
    return faults


def created(outcome):
    """(isbn13, id) of the book a 201 outcome reports."""
    answer = json.loads(outcome.detail["body"])
    return answer["isbn13"], answer["id"]


def stored_books(postgres):
    """{isbn13: id} of every book in the cluster's bookapi database."""
    rows = postgres.psql("SELECT isbn13, id FROM books", "bookapi")
    return {isbn: int(book_id) for isbn, book_id in (row.split("|") for row in rows)}


def service_sessions(postgres):
    """(state, count) of the server sessions the service has open, by its application_name."""
    rows = postgres.psql(
        "SELECT state, count(*) FROM pg_stat_activity WHERE application_name = 'bookapi' GROUP BY state", "bookapi"
    )
    return {state: int(count) for state, count in (row.split("|") for row in rows)}

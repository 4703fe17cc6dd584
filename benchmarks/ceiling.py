"""The ceiling: the same two reads as the service with nothing in between but WSGI, psycopg2 and orjson.

No framework, no ORM, no pool, no validation: one psycopg2 connection per gunicorn worker (opened on the first
request, so after the fork), one SELECT per request. Whatever the service spends beyond this is its own cost.

    GET /books/{id}     one book, the service's JSON shape
    GET /books?size=N   the first page of N books by id (1-100, default 20), the service's page shape

Served by benchmarks/run.py as ``gunicorn benchmarks.ceiling:app``, with DATABASE_URL set.
"""
import os
import re
from urllib.parse import parse_qs

import orjson
import psycopg2

FIELDS = ("id", "title", "author", "isbn", "isbn13", "published_date", "description", "created_by", "created_at",
          "updated_at")
BOOK = f"SELECT {', '.join(FIELDS)} FROM books WHERE id = %s"
# The total rides along in the same statement: the planner's estimate, as the service reports above its count cap.
PAGE = (
    f"SELECT {', '.join(FIELDS)}, (SELECT reltuples::bigint FROM pg_class WHERE oid = 'books'::regclass) "
    "FROM books ORDER BY id LIMIT %s"
)
BOOK_PATH = re.compile(r"/books/(\d{1,18})")
JSON = [("Content-Type", "application/json")]
# How benchmarks/run.py finds this app's PostgreSQL backends, to count their CPU.
APPLICATION_NAME = "bookapi-ceiling"

connection = None


def database():
    global connection
    if connection is None or connection.closed:
        # libpq takes postgresql:// URLs but not SQLAlchemy's postgresql+psycopg2:// spelling.
        url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", os.environ["DATABASE_URL"])
        connection = psycopg2.connect(url, application_name=APPLICATION_NAME)
        connection.autocommit = True
    return connection.cursor()


def respond(start_response, status, body):
    payload = orjson.dumps(body)
    start_response(status, JSON + [("Content-Length", str(len(payload)))])
    return [payload]


def get_book(book_id):
    with database() as cursor:
        cursor.execute(BOOK, (book_id,))
        row = cursor.fetchone()
    if row is None:
        return "404 Not Found", {"status": 404, "detail": f"Book with id {book_id} not found"}
    return "200 OK", dict(zip(FIELDS, row))


def list_books(query_string):
    size = parse_qs(query_string).get("size", ["20"])[0]
    size = min(max(int(size), 1), 100) if size.isdigit() else 20
    with database() as cursor:
        cursor.execute(PAGE, (size,))
        rows = cursor.fetchall()
    total = rows[0][-1] if rows else 0
    return "200 OK", {
        "items": [dict(zip(FIELDS, row)) for row in rows], "page": 1, "size": size, "total": total,
        "pages": -(-total // size), "total_is_estimate": True, "next_cursor": None, "prev_cursor": None,
    }


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if environ["REQUEST_METHOD"] != "GET":
        return respond(start_response, "405 Method Not Allowed", {"status": 405})
    if path == "/books":
        return respond(start_response, *list_books(environ.get("QUERY_STRING", "")))
    match = BOOK_PATH.fullmatch(path)
    if match:
        return respond(start_response, *get_book(int(match[1])))
    return respond(start_response, "404 Not Found", {"status": 404})

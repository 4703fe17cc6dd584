"""Parallel writers: racing for one ISBN, the database's unique index decides; nobody gets a 500 or deadlocks."""
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import insert, text

from bookapi.books import staging, transfer
from bookapi.books.batch import create_many
from bookapi.books.models import Book
from bookapi.books.schemas import book_schema
from bookapi.extensions import db
from tests.conftest import sign_in
from tests.factories import BookPayload, UserFactory, isbn13


def test_parallel_creates_with_one_isbn_yield_exactly_one_201(app, admin):
    payload = BookPayload()
    racers = 8
    start = threading.Barrier(racers)
    statuses = []

    def create():
        client = sign_in(app.test_client(), admin)
        start.wait()
        statuses.append(client.post("/api/v1/books", json=payload).status_code)

    threads = [threading.Thread(target=create) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(statuses) == [201] + [400] * (racers - 1)
    assert app.test_client().get("/api/v1/books").get_json()["total"] == 1


def test_parallel_bulk_creates_of_the_same_isbns_never_deadlock(app, admin):
    items = BookPayload.build_batch(300)
    batches = [items, items[::-1]] * 2
    start = threading.Barrier(len(batches))
    statuses = []

    def create(batch):
        client = sign_in(app.test_client(), admin)
        start.wait()
        statuses.append(client.post("/api/v1/books/bulk", json={"items": batch, "atomic": False}).status_code)

    threads = [threading.Thread(target=create, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert statuses == [200] * len(batches)
    assert app.test_client().get("/api/v1/books?count=exact").get_json()["total"] == 300


# Deadlocks, staged for real: a connection of the test's own holds uncommitted books, so that each writer waits
# exactly where the test wants it, and PostgreSQL's deadlock detector decides the rest.
WAITING_ON_BACKEND = text("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid)))")
WAITING_ON_TRANSACTION = text(
    "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted "
    "AND transactionid = CAST(:xid AS xid))"
)


def wait_until(condition, **parameters):
    deadline = time.monotonic() + 10
    with db.engine.connect() as observer:
        while not observer.scalar(condition, parameters):
            assert time.monotonic() < deadline, "the writer never started waiting"
            observer.rollback()
            time.sleep(0.01)


def backend_pid(connection):
    return connection.scalar(text("SELECT pg_backend_pid()"))


@pytest.fixture
def holder(app):
    """A transaction that inserts books and keeps them uncommitted until the test rolls it back.

    Its deadlock timeout is long, so that in a deadlock with it the other transaction, which waits for the
    deadlock detector's default second, is the one PostgreSQL aborts.
    """
    with db.engine.connect() as connection:
        connection.execute(text("SET LOCAL deadlock_timeout = '10s'"))
        yield connection
        connection.rollback()


def hold(holder, *payloads):
    holder.execute(insert(Book), [{**payload, "isbn13": payload["isbn"]} for payload in payloads])
    return holder.scalar(text("SELECT backend_xid FROM pg_stat_activity WHERE pid = pg_backend_pid()"))


def ascending_payloads(count):
    return [BookPayload(isbn=isbn13(800_000_000 + n)) for n in range(count)]


def staged_rows(payloads):
    return [(line, p["title"], p["author"], p["isbn"], p["isbn"], p["published_date"], p["description"])
            for line, p in enumerate(payloads, start=1)]


def import_load(connection, rows):
    with staging.tables(connection, remember_isbns=True):
        staging.load_returning_duplicates(connection, rows)


def seed_load(connection, rows):
    with staging.tables(connection):
        staging.load_new(connection, rows)


def bulk_create(app, payloads):
    with app.app_context():
        rejected = create_many([book_schema.load(payload) for payload in payloads], atomic=False)["rejected"]
        db.session.commit()
        return rejected


@pytest.mark.parametrize("load", [import_load, seed_load], ids=["import", "seed"])
def test_load_and_bulk_create_of_the_same_isbns_never_deadlock(app, holder, load):
    low, middle, high = ascending_payloads(3)
    hold(holder, middle)
    with db.engine.connect() as loader, ThreadPoolExecutor(2) as threads:
        loader_pid = backend_pid(loader)
        loader.commit()
        # The file lists the highest ISBN first: a load in file order takes high, then waits for middle.
        loading = threads.submit(load, loader, staged_rows([high, middle, low]))
        wait_until(WAITING_ON_BACKEND, pid=backend_pid(holder))
        bulk = threads.submit(bulk_create, app, [low, high])
        wait_until(WAITING_ON_BACKEND, pid=loader_pid)
        holder.rollback()

        loading.result(timeout=30)
        assert bulk.result(timeout=30) == 2
    assert app.test_client().get("/api/v1/books").get_json()["total"] == 3


def post_bulk(app, payloads):
    with app.app_context():
        admin = UserFactory(role="admin")
    return sign_in(app.test_client(), admin).post("/api/v1/books/bulk", json={"items": payloads, "atomic": False})


def test_bulk_create_that_loses_a_deadlock_is_retried(app, holder):
    first, second = ascending_payloads(2)
    holding = hold(holder, second)
    with ThreadPoolExecutor(1) as threads:
        response = threads.submit(post_bulk, app, [first, second])
        wait_until(WAITING_ON_TRANSACTION, xid=holding)
        # The request holds first and waits for second; taking first now closes the cycle.
        hold(holder, first)
        holder.rollback()

        assert response.result(timeout=30).status_code == 200
    assert response.result().get_json()["created"] == 2


def test_bulk_create_that_loses_two_deadlocks_returns_409_and_stores_nothing(app, holder):
    first, second = ascending_payloads(2)
    holding = hold(holder, second)
    with ThreadPoolExecutor(1) as threads:
        response = threads.submit(post_bulk, app, [first, second])
        for _ in range(2):
            wait_until(WAITING_ON_TRANSACTION, xid=holding)
            deadlocking = holder.begin_nested()
            hold(holder, first)
            # Letting first go again lets the retry take it and wait for second once more.
            deadlocking.rollback()
        holder.rollback()

        assert response.result(timeout=30).status_code == 409
    assert response.result().mimetype == "application/problem+json"
    assert app.test_client().get("/api/v1/books").get_json()["total"] == 0


def test_import_batch_that_loses_a_deadlock_is_retried(app, holder):
    first, second = ascending_payloads(2)
    holding = hold(holder, second)
    text_file = io.StringIO("".join(json.dumps(payload) + "\n" for payload in (first, second)))
    with db.engine.connect() as importer, ThreadPoolExecutor(1) as threads:
        outcomes = threads.submit(lambda: list(transfer.import_books(importer, text_file, "jsonl", 10)))
        wait_until(WAITING_ON_TRANSACTION, xid=holding)
        hold(holder, first)
        holder.rollback()

        assert outcomes.result(timeout=30) == [transfer.BatchOutcome(2, [])]

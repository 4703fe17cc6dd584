"""Parallel writers racing for one ISBN: the database's unique index decides, and nobody gets a 500."""
import threading

from tests.conftest import sign_in
from tests.factories import BookPayload


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

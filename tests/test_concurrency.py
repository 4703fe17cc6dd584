"""Parallel writers racing for one ISBN: the database's unique index decides, and nobody gets a 500."""
import threading

from tests.factories import BookPayload


def test_parallel_creates_with_one_isbn_yield_exactly_one_201(app):
    payload = BookPayload()
    racers = 8
    start = threading.Barrier(racers)
    statuses = []

    def create():
        client = app.test_client()
        start.wait()
        statuses.append(client.post("/api/v1/books", json=payload).status_code)

    threads = [threading.Thread(target=create) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(statuses) == [201] + [400] * (racers - 1)
    assert app.test_client().get("/api/v1/books").get_json()["total"] == 1

"""Retries with an Idempotency-Key against the service under gunicorn: duplicates sent at once to several workers
create one book, and a retry across a database restart replays the stored answer or creates the book once."""
import http.client
import json
import threading

import psycopg2

from tests.reliability.harness import request, wait_for
from tests.reliability.writes import BOOKS, book, key_of, stored_books

DUPLICATES = 6


def send_at_once(port, body, headers, count):
    """Send ``count`` copies of one request at the same moment, each on a connection of its own; their answers."""
    answers, barrier = [], threading.Barrier(count)

    def send():
        barrier.wait()
        answer = request("POST", port, BOOKS, body, headers, timeout=15)
        answers.append(answer)

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    return answers, threads


def test_concurrent_duplicates_create_one_book(postgres, serve):
    service = serve(postgres.url(), RATELIMIT_WRITES="100000/minute")
    token = service.sign_in()
    held_book, racing_book = book(1), book(2)
    auth = {"Authorization": f"Bearer {token}"}

    # The first request to take the key is held inside its write (the books table locked against inserts), so that
    # every duplicate surely arrives while it is still running.
    blocker = psycopg2.connect(postgres.url())
    blocker.cursor().execute("LOCK TABLE books IN SHARE MODE")
    answers, threads = send_at_once(service.port, held_book, {**auth, "Idempotency-Key": key_of(held_book)},
                                    DUPLICATES)
    wait_for(lambda: len(answers) == DUPLICATES - 1, 4, what="the duplicates answered")
    blocker.rollback()
    blocker.close()
    for thread in threads:
        thread.join(15)
    replay = request("POST", service.port, BOOKS, held_book, {**auth, "Idempotency-Key": key_of(held_book)})

    assert sorted(a.status for a in answers) == [201] + [409] * (DUPLICATES - 1)
    created = next(a for a in answers if a.status == 201)
    assert "idempotent-replayed" not in created.headers
    assert (replay.status, replay.headers["idempotent-replayed"], replay.body) == (201, "true", created.body)

    # Unheld: whichever duplicates overlap the first get 409, the later ones its stored answer.
    answers, threads = send_at_once(service.port, racing_book, {**auth, "Idempotency-Key": key_of(racing_book)},
                                    DUPLICATES)
    for thread in threads:
        thread.join(15)

    first = [a for a in answers if a.status == 201 and "idempotent-replayed" not in a.headers]
    assert len(first) == 1, [(a.status, a.headers.get("idempotent-replayed")) for a in answers]
    assert all(a.status == 409 or a.body == first[0].body for a in answers)
    assert {a.status for a in answers} <= {201, 409}
    stored = stored_books(postgres)
    assert set(stored) == {json.loads(created.body)["isbn13"], json.loads(first[0].body)["isbn13"]}
    assert stored[json.loads(created.body)["isbn13"]] == json.loads(created.body)["id"]


def send_without_reading(port, body, headers):
    """Send a request and hang up before its answer, as a client whose connection dropped: it cannot know
    whether the write was stored."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", BOOKS, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})
    connection.close()


def test_retry_across_a_database_restart_stores_each_book_once(postgres, serve):
    service = serve(postgres.url())
    token = service.sign_in()
    unheard, refused = book(1), book(2)
    headers = {book["isbn"]: {"Authorization": f"Bearer {token}", "Idempotency-Key": key_of(book)}
               for book in (unheard, refused)}

    send_without_reading(service.port, unheard, headers[unheard["isbn"]])
    postgres.stop("immediate")
    during = request("POST", service.port, BOOKS, refused, headers[refused["isbn"]])
    postgres.start()
    retries = {b["isbn"]: request("POST", service.port, BOOKS, b, headers[b["isbn"]]) for b in (unheard, refused)}

    assert during.status == 503
    assert [answer.status for answer in retries.values()] == [201, 201]
    assert "idempotent-replayed" not in retries[refused["isbn"]].headers
    assert stored_books(postgres) == {isbn: answer.json()["id"] for isbn, answer in retries.items()}

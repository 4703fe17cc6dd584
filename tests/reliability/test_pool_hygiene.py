"""After a load run with refusals, missing items, duplicates and a database restart mixed in, the service holds no
more connections than its pools allow and leaves no session idle in a transaction."""
from tests.reliability.harness import Load, wait_for
from tests.reliability.writes import BOOKS, book, service_sessions

WORKERS = 2
POOL_SIZE, MAX_OVERFLOW = 10, 20


def test_load_with_errors_and_a_restart_leaves_no_leaked_connection(postgres, serve):
    service = serve(postgres.url(), WORKERS, RATELIMIT_WRITES="100000/minute")
    auth = {"Authorization": f"Bearer {service.sign_in()}"}
    taken = book(0)
    requests = [
        lambda n: ("POST", BOOKS, {**book(n), "published_date": "not a date"}, auth),  # 422
        lambda n: ("POST", BOOKS, taken, auth),  # 400: the ISBN is in the catalogue
        lambda n: ("GET", f"{BOOKS}/{10_000_000 + n}", None, {}),  # 404
        lambda n: ("GET", f"{BOOKS}?size=5&sort=-published_date", None, {}),
        lambda n: ("PATCH", f"{BOOKS}/1", {"title": f"Title {n}"}, auth),
    ]

    def make_request(client, n):
        if client == 0:
            return "POST", BOOKS, book(n + 1), auth
        return requests[(client * 7 + n) % len(requests)](n)

    with Load(service.port, make_request, clients=3, timeout=10, pause=0.02) as load:
        load.stopping.wait(2)
        postgres.stop("fast")
        load.stopping.wait(1)
        postgres.start()
        wait_for(lambda: service.status("/health/ready") == 200, 10, what="ready again")
        load.stopping.wait(2)

    sessions = service_sessions(postgres)
    statuses = load.statuses()
    assert {200, 201, 400, 404, 422, 503} <= set(statuses), statuses
    assert set(statuses) <= {200, 201, 400, 404, 409, 412, 422, 428, 503}, statuses
    assert sum(sessions.values()) <= WORKERS * (POOL_SIZE + MAX_OVERFLOW)
    # A sync worker serves one request at a time, so each of its two pools (writes, reads) needs one connection.
    assert sum(sessions.values()) <= WORKERS * 2, sessions
    assert "idle in transaction" not in sessions, sessions

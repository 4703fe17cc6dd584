"""PostgreSQL down for 30 s: every request that needs it fails fast with a 503 problem, whether the server refuses
connections (stopped) or takes them and never answers (a host that hangs); readiness follows the database by itself
and liveness never does."""
import socket
import time

from tests.reliability.harness import Load, wait_for
from tests.reliability.writes import BOOKS, LATENCY_MARGIN, book, problem_503_faults

CONNECT_TIMEOUT = 3
REFUSED_FOR = 10
UNANSWERED_FOR = 20
RECOVERY = 5.0


def silent_listener(port):
    """A socket on ``port`` that takes connections (the kernel completes them) and never answers, as a database
    host that hangs: only the client's connect timeout ends the wait."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(256)
    return listener


def test_database_down_for_30_s_fails_fast_and_recovers_by_itself(postgres, serve):
    service = serve(postgres.url(), RATELIMIT_WRITES="100000/minute")
    token = service.sign_in()
    auth = {"Authorization": f"Bearer {token}"}
    requests = [("GET", f"{BOOKS}?size=5", None, {}), ("GET", "/health/ready", None, {}),
                ("GET", "/health", None, {})]

    # One client per worker: a third would wait in gunicorn's queue behind two requests waiting out the connect
    # timeout, and so take longer than it.
    def make_request(client, n):
        if client == 0:
            return "POST", BOOKS, book(n), auth
        return requests[n % len(requests)]

    with Load(service.port, make_request, clients=2, timeout=15, pause=0.2) as load:
        load.stopping.wait(1.5)
        postgres.stop("fast")
        down = time.perf_counter()
        load.stopping.wait(REFUSED_FOR)
        with silent_listener(postgres.port):
            load.stopping.wait(UNANSWERED_FOR)
        up = time.perf_counter()
        postgres.start()
        back = time.perf_counter()
        wait_for(lambda: any(o.path == "/health/ready" and o.status == 200 for o in load.since(back)), RECOVERY + 1,
                 what="ready again")
        load.stopping.wait(1.5)

    during = [o for o in load.outcomes if down + 0.5 <= o.started and o.started + o.elapsed <= up]
    liveness = [o for o in load.outcomes if o.path == "/health"]
    assert {o.status for o in liveness} == {200}
    needing_database = [o for o in during if o.path != "/health"]
    assert {o.path for o in needing_database} == {BOOKS, f"{BOOKS}?size=5", "/health/ready"}
    assert [problem_503_faults(o) for o in needing_database if problem_503_faults(o)] == []
    assert max(o.elapsed for o in load.outcomes) <= CONNECT_TIMEOUT + LATENCY_MARGIN
    unanswered = [o for o in needing_database if o.started >= up - UNANSWERED_FOR]
    assert min(o.elapsed for o in unanswered) >= CONNECT_TIMEOUT * 0.9, "the silent database was not waited for"
    ready_again = min(o.started + o.elapsed for o in load.since(back) if o.path == "/health/ready" and o.status == 200)
    assert ready_again - back <= RECOVERY
    settled = load.since(ready_again)
    assert settled and {o.status for o in settled} <= {200, 201}
    print(f"down 30 s: {len(needing_database)} requests answered 503 (slowest {max(o.elapsed for o in during):.2f} s),"
          f" ready again {ready_again - back:.2f} s after PostgreSQL accepted connections")

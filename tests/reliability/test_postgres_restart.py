"""PostgreSQL restarts under concurrent writes: no acknowledged write is lost, every failure is a quick 503 problem,
writes succeed again within 5 s of the database accepting connections, and a retry with the same Idempotency-Key
never doubles a book."""
import time

import pytest

from tests.reliability.harness import Load, wait_for
from tests.reliability.writes import (
    LATENCY_MARGIN,
    created,
    problem_503_faults,
    retry,
    stored_books,
    writer,
)

CONNECT_TIMEOUT = 3
RECOVERY = 5.0
# The first write after recovery may wait for a worker still busy with one sent just before.
RECOVERY_MARGIN = 1.0


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart_under_writes_loses_no_acknowledged_write(postgres, serve, mode):
    service = serve(postgres.url(), RATELIMIT_WRITES="100000/minute")
    token = service.sign_in()

    # Each failed write is retried afterwards, one at a time: the pause keeps their number (and the test) small.
    with Load(service.port, writer(token), clients=4, timeout=15, pause=0.2) as load:
        load.stopping.wait(1.5)
        postgres.stop(mode)
        load.stopping.wait(0.5)
        postgres.start()
        back = time.perf_counter()
        wait_for(lambda: any(o.status == 201 for o in load.since(back)), 10, what="a write acknowledged")
        load.stopping.wait(1)

    outcomes = load.outcomes
    failed = [o for o in outcomes if o.status != 201]
    assert failed, "the restart failed no request: it happened between them"
    assert {o.status for o in outcomes} <= {201, 503}, load.statuses()
    assert [problem_503_faults(o) for o in failed if problem_503_faults(o)] == []
    assert max(o.elapsed for o in outcomes) <= CONNECT_TIMEOUT + LATENCY_MARGIN
    recovered_in = min(o.started + o.elapsed for o in load.since(back) if o.status == 201) - back
    assert recovered_in <= RECOVERY + RECOVERY_MARGIN
    acknowledged = dict(created(o) for o in outcomes if o.status == 201)
    assert {isbn: stored_books(postgres).get(isbn) for isbn in acknowledged} == acknowledged

    retried = retry(service.port, token, [o.sent for o in failed])

    assert {isbn: answer.status for isbn, answer in retried.items()} == dict.fromkeys(retried, 201)
    stored = stored_books(postgres)
    assert {isbn: stored.get(isbn) for isbn in retried} == {
        isbn: answer.json()["id"] for isbn, answer in retried.items()}
    assert set(stored) == set(acknowledged) | set(retried)
    assert postgres.psql("SELECT count(*) FROM books", "bookapi") == [str(len(stored))]
    print(f"{mode}: {len(acknowledged)} acknowledged writes verified, {len(failed)} failed and retried "
          f"({sum('idempotent-replayed' in a.headers for a in retried.values())} replayed), "
          f"recovered {recovered_in:.2f} s after PostgreSQL accepted connections")

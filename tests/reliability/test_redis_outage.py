"""Redis hanging, then gone, then back: the rate limits fall back to each worker's memory without slowing
requests, nothing fails, no request waits on Redis while it holds a database transaction, and the limits are kept
in Redis again once it answers."""
import os
import signal
import threading
import time

import psycopg2
import redis

from tests.reliability.harness import Load, wait_for
from tests.reliability.writes import BOOKS, book

# Redis's socket timeouts (bookapi.limits.REDIS_OPTIONS) are 0.25 s; a request may meet a few of them (its limit's
# hit, a check whether Redis is back, a readiness probe), never a long wait.
SLOWEST = 1.5
HANGS_FOR = 3
GONE_FOR = 3


def limit_keys(port):
    return redis.Redis(port=port, socket_timeout=2).keys("*bookapi*")


def watch_for_waiting_transactions(postgres, stopping, found):
    """Until ``stopping``, record each sighting of a service session idle in a transaction for longer than any
    gap between two statements of a request: one that waits on something else (Redis) while holding it."""
    connection = psycopg2.connect(postgres.url())
    connection.autocommit = True
    with connection, connection.cursor() as cursor:
        while not stopping.wait(0.05):
            cursor.execute("SELECT query FROM pg_stat_activity WHERE application_name = 'bookapi'"
                           " AND state = 'idle in transaction' AND clock_timestamp() - state_change > '0.2 s'")
            found.extend(query for query, in cursor.fetchall())
    connection.close()


def test_redis_hanging_then_gone_degrades_limits_and_recovers(postgres, redis_server, serve):
    service = serve(postgres.url(), REDIS_URL=redis_server.url, RATELIMIT_WRITES="100000/minute")
    token = service.sign_in()
    reads = [("GET", f"{BOOKS}?size=5", None, {}), ("GET", "/health/ready", None, {})]

    def make_request(client, n):
        if client == 0:
            return "POST", BOOKS, book(n), {"Authorization": f"Bearer {token}"}
        return reads[n % len(reads)]

    with Load(service.port, make_request, clients=2, timeout=10, pause=0.05) as load:
        wait_for(lambda: limit_keys(redis_server.port), 10, what="a rate-limit counter in Redis")
        stopping, waiting = threading.Event(), []
        watcher = threading.Thread(target=watch_for_waiting_transactions, args=(postgres, stopping, waiting))
        watcher.start()
        hung = time.perf_counter()
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        load.stopping.wait(HANGS_FOR)
        redis_server.stop()
        load.stopping.wait(GONE_FOR)
        returning = time.perf_counter()
        redis_server.start()
        back = time.perf_counter()
        wait_for(lambda: limit_keys(redis_server.port), 40, what="the limits kept in Redis again")
        used_again = time.perf_counter() - back
        stopping.set()
        watcher.join(5)
        load.stopping.wait(0.5)

    assert set(load.statuses()) == {200, 201}, load.statuses()
    away = [o for o in load.since(hung) if o.started + o.elapsed < returning]
    assert max(o.elapsed for o in away) <= SLOWEST
    readiness = [o.detail["body"] for o in away if o.path == "/health/ready"]
    assert readiness and all(b'"redis":"degraded"' in body for body in readiness)
    assert waiting == [], __import__("collections").Counter(waiting)
    assert "falling back to in-memory storage" in service.log_text()
    print(f"redis away {returning - hung:.1f} s: {len(away)} requests, all 2xx, slowest "
          f"{max(o.elapsed for o in away):.2f} s; limits kept in Redis again {used_again:.1f} s after it returned")

"""gunicorn's signals under load: HUP replaces workers without a failed request, TERM lets a request in progress
finish and refuses new connections, a worker killed or stuck is replaced.

A request is made slow for real, without a route of its own: the test holds an ACCESS EXCLUSIVE lock on the books
table, so a books read waits in PostgreSQL until the test lets go.
"""
import os
import signal
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker

from bookapi.workers import SyncWorker
from tests.reliability.harness import Load, TableLock, request, wait_for

BOOKS = ("GET", "/api/v1/books?size=5", None, {})


def books(client, n):
    return BOOKS


def all_workers(service, count=2):
    """The service's worker pids once all ``count`` are forked (it answers as soon as the first is)."""
    wait_for(lambda: len(service.workers()) == count, 30, what=f"{count} workers")
    return service.workers()


def replaced(service, old):
    """True once the service runs as many workers as before, none of them one of ``old``."""
    now = set(service.workers())
    return len(now) == len(old) and not now & set(old)


class InFlight(threading.Thread):
    """One request sent in the background; its response, or the error that stood for one."""

    def __init__(self, port, method, path, timeout=30):
        super().__init__(daemon=True)
        self.port, self.method, self.path, self.timeout = port, method, path, timeout
        self.response = self.error = None
        self.elapsed = None

    def run(self):
        started = time.monotonic()
        try:
            self.response = request(self.method, self.port, self.path, timeout=self.timeout)
        except OSError as error:
            self.error = error
        self.elapsed = time.monotonic() - started


def refuses_connections(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except (ConnectionRefusedError, ConnectionResetError):
        # A connection caught in the accept queue as the socket shuts down is reset during connect: not taken
        # either, as a client or a proxy sees at once.
        return True
    return False


def test_hup_twice_under_load_fails_no_request(database, serve):
    service = serve(database, prepare=False)
    first = all_workers(service)

    with Load(service.port, books, clients=4) as load:
        load.stopping.wait(1)
        service.signal(signal.SIGHUP)
        wait_for(lambda: replaced(service, first), 30, what="workers replaced after the first HUP")
        second = service.workers()
        service.signal(signal.SIGHUP)
        wait_for(lambda: replaced(service, second), 30, what="workers replaced after the second HUP")
        after_second = time.perf_counter()
        load.stopping.wait(1)

    print(f"two HUPs: {load.statuses()}")
    assert set(load.statuses()) == {200}, load.statuses()
    # The workers forked after each HUP, from the master's already imported app, served too.
    assert len(load.since(after_second)) > 0
    assert service.log_text().count("Hang up: Master") == 2


def test_term_finishes_the_request_in_progress_and_refuses_new_connections(database, serve):
    service = serve(database, prepare=False)
    lock = TableLock(database, "books")
    slow = InFlight(service.port, *BOOKS[:2])
    try:
        slow.start()
        wait_for(lambda: lock.waiting() == 1, 10, what="the books read waiting for the lock")
        signalled = time.monotonic()
        service.signal(signal.SIGTERM)
        wait_for(lambda: refuses_connections(service.port), 10, what="new connections refused")
        refused_after = time.monotonic() - signalled
        time.sleep(2)
        assert slow.is_alive()
    finally:
        lock.release()
    slow.join(30)
    service.process.wait(30)

    print(f"TERM: refused after {refused_after:.2f} s; the request in progress: "
          f"{slow.response and slow.response.status} after {slow.elapsed:.1f} s")
    assert slow.response is not None, slow.error
    assert slow.response.status == 200
    assert slow.elapsed < 20  # GUNICORN_GRACEFUL_TIMEOUT
    # Refused as soon as the master had the signal, while the request was still waiting for the lock.
    assert refused_after < 2
    assert service.process.returncode == 0
    assert "Traceback" not in service.log_text()


@contextmanager
def worker_on_a_shut_listener(worker_class):
    """A worker of ``worker_class`` whose listener the master has already shut down: the race the TERM above can
    lose, when the master's ``stop_listening`` comes before the worker's own TERM handler has run, and the worker goes
    from its look at ``alive`` to ``accept``."""
    config = Config()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        worker = worker_class(1, os.getpid(), [listener], None, 30, config, Logger(config))
        listener.shutdown(socket.SHUT_RD)
        try:
            yield worker
        finally:
            worker.tmp.close()


def test_a_worker_whose_listener_was_shut_down_stops_without_a_traceback():
    with worker_on_a_shut_listener(SyncWorker) as worker:
        worker.run_for_one(0.1)

    assert worker.alive is False


def test_gunicorns_own_worker_crashes_on_a_shut_listener():
    # What the TERM test once saw in its log, and why gunicorn.conf.py names bookapi's worker.
    with worker_on_a_shut_listener(GunicornSyncWorker) as worker, pytest.raises(OSError, match="Invalid argument"):
        worker.run_for_one(0.1)


def test_worker_killed_is_replaced_losing_at_most_its_own_request(database, serve):
    service = serve(database, prepare=False)
    workers = all_workers(service)

    with Load(service.port, books, clients=4) as load:
        load.stopping.wait(1)
        os.kill(workers[0], signal.SIGKILL)
        wait_for(lambda: len(service.workers()) == 2 and workers[0] not in service.workers(), 30,
                 what="a new worker in place of the killed one")
        replaced_at = time.perf_counter()
        load.stopping.wait(1)

    failed = [o for o in load.outcomes if o.status != 200]
    print(f"-9: {load.statuses()}")
    assert len(failed) <= 1, load.statuses()
    assert {o.status for o in load.since(replaced_at)} == {200}


def test_worker_stuck_past_the_timeout_is_replaced(database, serve):
    # The statement would wait a minute for the lock: it is gunicorn's 3 s timeout that ends it.
    service = serve(database, prepare=False, GUNICORN_TIMEOUT=3, DB_STATEMENT_TIMEOUT_MS=60_000)
    workers = all_workers(service)
    lock = TableLock(database, "books")
    stuck = InFlight(service.port, *BOOKS[:2])
    try:
        stuck.start()
        wait_for(lambda: lock.waiting() == 1, 10, what="the books read waiting for the lock")
        health_while_stuck = request("GET", service.port, "/health").status
        wait_for(lambda: not stuck.is_alive(), 30, what="the stuck request ended")
        after = all_workers(service)
    finally:
        lock.release()
    with Load(service.port, books, clients=2) as load:
        load.stopping.wait(1)

    print(f"stuck: {stuck.error!r} after {stuck.elapsed:.1f} s; workers {workers} -> {after}; "
          f"then {load.statuses()}")
    assert health_while_stuck == 200
    # Its worker was killed: the connection closed with no answer, after the timeout and long before the lock went.
    assert stuck.response is None and isinstance(stuck.error, ConnectionError), stuck.error
    assert 3 <= stuck.elapsed < 15
    assert len(set(after) - set(workers)) == 1
    assert "WORKER TIMEOUT" in service.log_text()
    assert set(load.statuses()) == {200}

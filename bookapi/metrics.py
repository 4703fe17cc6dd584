"""Prometheus metrics of the service: requests, the database pools and queries, limits, tokens, replays, Redis.

The metrics live in each gunicorn worker and are written to files under PROMETHEUS_MULTIPROC_DIR, which gunicorn's
master reads and serves on a listener of its own (METRICS_BIND:METRICS_PORT, see gunicorn.conf.py): never a route
of the public app. Without that directory (tests, the flask command) they stay in the process's memory.

What a request pays is kept to a few writes: the labelled children of a route, method and status class are looked
up once per process and kept, the request is counted by its latency histogram (whose ``_count`` is the request
count) rather than by a counter as well, and the pools' gauges move on checkout and checkin only.
"""
import logging
import os
import shutil
import subprocess  # nosec B404  # one fixed git command, for the revision of a source checkout
import time
from functools import cache
from pathlib import Path

from flask import request
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event

from bookapi import __version__

ROOT = Path(__file__).resolve().parent.parent
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
# No route matched (a 404, or a 405 before any rule): one label value, not the raw path.
UNMATCHED = "(unmatched)"
ROUTE = "bookapi.metrics.route"
# Marks a pooled connection whose checkout the gauge counted (in its pool entry's ``info``).
COUNTED = "bookapi.metrics.counted"
# From a millisecond (a lookup) to the gunicorn timeout's order of magnitude.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# Flask-Limiter's own words when its storage (Redis) fails: it then falls back to memory, or lets the request pass.
STORAGE_FAILURES = ("Rate limit storage unreachable", "Failed to ")

REQUEST_SECONDS = Histogram(
    "bookapi_http_request_duration_seconds", "Requests answered (its _count) and the time from each reaching the app "
    "to its response being built, by route template, method and status class.",
    ["route", "method", "status_class"], buckets=REQUEST_BUCKETS,
)
IN_FLIGHT = Gauge(
    "bookapi_http_requests_in_flight", "Requests being handled now, over every live worker.",
    multiprocess_mode="livesum",
)
POOL_CHECKED_OUT = Gauge(
    "bookapi_db_pool_checked_out", "Database connections checked out of the pools now, over every live worker "
    "(the reads pool's are the connections the app keeps for reads, in use or not).",
    ["pool"], multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "bookapi_db_pool_overflow", "Connections open beyond DB_POOL_SIZE (as of each worker's last checkout).",
    ["pool"], multiprocess_mode="livesum",
)
POOL_CAPACITY = Gauge(
    "bookapi_db_pool_capacity", "Connections the pools may hold (DB_POOL_SIZE + DB_MAX_OVERFLOW), over every live "
    "worker that has connected.", ["pool"], multiprocess_mode="livesum",
)
QUERY_SECONDS = Histogram(
    "bookapi_db_query_duration_seconds", "Time PostgreSQL statements take, from the driver's call to its return.",
    ["pool"], buckets=QUERY_BUCKETS,
)
RATE_LIMITED = Counter("bookapi_rate_limit_rejections", "Requests refused with 429, by limit.", ["limit"])
REFRESH_REUSE = Counter(
    "bookapi_refresh_token_reuse_detections", "Refresh tokens presented a second time (their family is revoked).",
)
IDEMPOTENT_REPLAYS = Counter(
    "bookapi_idempotent_replays", "Requests answered from a stored Idempotency-Key outcome instead of running again.",
)
REDIS_ERRORS = Counter(
    "bookapi_redis_errors", "Failures to reach or use Redis, by what was being done.", ["operation"],
)
BUILD_INFO = Gauge(
    "bookapi_build_info", "Always 1; the labels name the version and git revision running.",
    ["version", "revision"], multiprocess_mode="max",
)


class RequestMetrics:
    """WSGI middleware around the Flask app: the request in flight while the app holds it, then its latency under
    its route template (which ``keep_route`` leaves in the environ), method and status class.

    Middleware rather than Flask hooks, so that the count and the time take in every hook and the teardown, and a
    request the app raised out of still leaves the in-flight gauge.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.children = {}

    def __call__(self, environ, start_response):
        IN_FLIGHT.inc()
        started, statuses = time.perf_counter(), []

        def keep_status(status, headers, exc_info=None):
            statuses.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, keep_status)
        finally:
            IN_FLIGHT.dec()
            rule = environ.get(ROUTE)
            # No status: the app raised instead of answering (a server answers that with a 500).
            status = int(statuses[-1][:3]) if statuses else 500
            method = environ["REQUEST_METHOD"]
            # Any other method is of the caller's choosing: one label value for them all, and one entry below.
            self.histogram(rule.rule if rule else None, method if method in METHODS else "other", status).observe(
                time.perf_counter() - started
            )

    def histogram(self, route, method, status):
        """The latency histogram's child for these labels, made once per process."""
        key = (route, method, status // 100)
        found = self.children.get(key)
        if found is None:
            found = self.children[key] = REQUEST_SECONDS.labels(route or UNMATCHED, method, STATUS_CLASSES[key[2] - 1])
        return found


def keep_route(response):
    """After each request, the matched rule, for RequestMetrics: Flask's request is gone by the time it looks."""
    current = request._get_current_object()
    current.environ[ROUTE] = current.url_rule
    return response


def timed(seconds, run):
    """A dialect ``do_execute``-style listener that runs the statement itself, as ``run`` does, and times it.

    The dialect's events, not the connection's: listening on a connection's (or the engine's) cursor events sends
    every statement down SQLAlchemy's slower path, which builds the joined listeners anew at each event point.
    """

    def execute(cursor, statement, *rest):
        started = time.perf_counter()
        try:
            run(cursor, statement, *rest)
        finally:
            seconds.observe(time.perf_counter() - started)
        return True  # executed: the dialect is not to run it again

    return execute


def instrument_pool(engine, pool, capacity):
    """The gauges of one engine's pool (``pool`` names it in the labels)."""
    checked_out, overflow, reported = POOL_CHECKED_OUT.labels(pool), POOL_OVERFLOW.labels(pool), [0]

    def checkout(dbapi_connection, record, proxy):
        checked_out.inc()
        record.info[COUNTED] = True
        # A write only when it changed: overflow moves when the pool opens or closes a connection, rarely.
        now = max(0, engine.pool.overflow())
        if now != reported[0]:
            reported[0] = now
            overflow.set(now)

    def checkin(dbapi_connection, record):
        # SQLAlchemy also checks in a connection whose checkout failed (its ping failed and so did a new connection,
        # as in a database outage), which was never counted out.
        if record.info.pop(COUNTED, False):
            checked_out.dec()

    def first_connect(dbapi_connection, record):
        # In the worker: the app opens no connection before gunicorn forks.
        POOL_CAPACITY.labels(pool).set(capacity)

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine.pool, "checkin", checkin)
    event.listen(engine.pool, "first_connect", first_connect)


def time_statements(engine, pool):
    """Query times of the statements SQLAlchemy runs on ``engine``."""
    seconds, dialect = QUERY_SECONDS.labels(pool), engine.dialect
    event.listen(engine, "do_execute", timed(seconds, dialect.do_execute))
    event.listen(engine, "do_execute_no_params", timed(seconds, dialect.do_execute_no_params))
    event.listen(engine, "do_executemany", timed(seconds, dialect.do_executemany))


class LimiterStorageFailures(logging.Filter):
    """Counts Flask-Limiter's reports of a failing storage: it catches Redis errors itself and only logs them.

    The limiter's logger is opened to warnings so that they are counted whatever LOG_LEVEL is; this filter then
    drops what LOG_LEVEL would not have logged.
    """

    def filter(self, record):
        if record.levelno >= logging.WARNING and str(record.msg).startswith(STORAGE_FAILURES):
            REDIS_ERRORS.labels("rate_limit").inc()
        return record.levelno >= logging.getLogger().getEffectiveLevel()


def count_limiter_storage_failures(limiter_logger):
    if not any(isinstance(existing, LimiterStorageFailures) for existing in limiter_logger.filters):
        limiter_logger.addFilter(LimiterStorageFailures())
    limiter_logger.setLevel(min(limiter_logger.getEffectiveLevel(), logging.WARNING))


@cache
def git_revision():
    """GIT_REVISION (the image's build argument), else the checkout's HEAD, else "unknown"."""
    revision = os.environ.get("GIT_REVISION")
    if revision:
        return revision
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        return "unknown"
    try:
        found = subprocess.run(  # nosec B603  # fixed arguments, no shell
            [git, "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else "unknown"


def init_app(app, engine, reader):
    """Instrument the app's requests, the ORM's ``engine`` and the reads' ``reader`` (bookapi.reads); nothing when
    METRICS_ENABLED is off."""
    if not app.config["METRICS_ENABLED"]:
        return
    BUILD_INFO.labels(__version__, git_revision()).set(1)
    app.wsgi_app = RequestMetrics(app.wsgi_app)
    app.after_request(keep_route)
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    capacity = options.get("pool_size", 5) + max(0, options.get("max_overflow", 10))
    instrument_pool(engine, "orm", capacity)
    time_statements(engine, "orm")
    instrument_pool(reader.engine, "reads", capacity)
    reader.observers.append(QUERY_SECONDS.labels("reads").observe)

"""gunicorn settings, read from the environment; see .env.example."""
import gc
import multiprocessing
import os
import re
import shutil
import signal
import socket
import tempfile
from pathlib import Path

from gunicorn import glogging

from bookapi import logs, tracing
from bookapi.config import from_environment

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# gunicorn's sync worker, stopping cleanly when TERM shuts the listener down (see refuse_connections_on_term).
worker_class = "bookapi.workers.SyncWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM lets in-flight requests finish within this many seconds before workers are stopped.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# A worker is replaced after this many requests (0: never), each after up to a tenth more, so that they go one by one.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
# The master imports the app once and workers fork from it, so a worker replaced after max_requests serves at
# once instead of importing everything again. The app opens no database connection before the fork (a test
# checks). New code then needs a restart of the master, not a HUP; off for --reload, which can only pick up
# changed code in workers that import it themselves.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() in ("1", "true", "yes")
# The app writes one access event per request itself (ACCESS_LOG), with the request id, the route and the account,
# for a fraction of what gunicorn's costs; GUNICORN_ACCESS_LOG=- adds gunicorn's own on stdout as well.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# A list cursor can be about 6,000 characters long (bookapi.books.statements.MAX_CURSOR_LENGTH), more than
# gunicorn's default request line of 4,094 bytes allows: take the largest bounded limit it offers.
limit_request_line = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Connections the kernel holds while every worker is busy. Behind the proxy (deploy/nginx.conf), which lets at
# most 24 requests in flight, it never fills: the proxy sheds with a fast 503 instead. A full queue would drop
# new connections silently and clients would retry after 1, 3, 7 s; a queue much longer than the proxy's would
# only let requests wait longer when the service is reached without it.
backlog = int(os.environ.get("GUNICORN_BACKLOG", "256"))


metrics_enabled = os.environ.get("METRICS_ENABLED", "true").lower() in ("1", "true", "yes", "on")
metrics_port = int(os.environ.get("METRICS_PORT", "9464"))
metrics_bind = os.environ.get("METRICS_BIND", "127.0.0.1")


# The files prometheus_client's multiprocess mode writes, one per kind of metric and process.
METRICS_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def prepare_metrics_directory():
    """Where the workers write their metrics for the master to add up: PROMETHEUS_MULTIPROC_DIR, or a private
    directory made here. Set before the app is imported (prometheus_client picks its storage then), and emptied of
    an earlier run's files, whose dead workers' gauges would be added in. gunicorn reads this file again on HUP,
    while the workers write there: a marker naming this master tells that the directory is ready."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    marker = f".bookapi-master-{os.getpid()}"
    if directory and Path(directory, marker).exists():
        return
    if directory:
        # prometheus_client's files alone (counter_<pid>.db, gauge_livesum_<pid>.db, …): a directory given by
        # mistake loses nothing else.
        for leftover in Path(directory).iterdir():
            if METRICS_FILE.fullmatch(leftover.name) or leftover.name.startswith(".bookapi-master-"):
                leftover.unlink()
        Path(directory, marker).write_text("given")
    else:
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bookapi-metrics-")
        Path(directory, marker).write_text("made")


if metrics_enabled:
    prepare_metrics_directory()


def serve_metrics(server):
    """The workers' metrics, summed, and the master's process metrics (its start time tells restarts), on a
    listener of their own: the public port never serves them."""
    from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    ProcessCollector(registry=registry)
    try:
        start_http_server(metrics_port, addr=metrics_bind, registry=registry)
    except OSError as error:
        # The API still serves; Prometheus sees the target down, which is what its alert is for.
        server.log.error("Metrics cannot be served on %s:%s: %s", metrics_bind, metrics_port, error)
        return
    server.log.info("Metrics served on http://%s:%s/metrics", metrics_bind, metrics_port)


def when_ready(server):
    """Before the first fork: what the import built lives as long as the workers do, so their garbage collector
    need not walk it again and again."""
    if metrics_enabled:
        serve_metrics(server)
    gc.freeze()
    refuse_connections_on_term(server)


def refuse_connections_on_term(server):
    """On SIGTERM, stop listening at once rather than when the last busy worker is done.

    Every worker holds its own descriptor of the listening socket, so gunicorn closing the master's leaves the
    socket listening while a request is in progress: connections made meanwhile are accepted by the kernel, wait,
    and are reset when that worker exits, and a proxy cannot tell whether they reached the app. Shut down, the
    socket refuses them, which a proxy retries on another replica whatever the method. The workers are told to
    stop first, so that none of them accepts on the shut socket. Nothing is done while another master shares the
    socket (a USR2 upgrade) or it belongs to systemd or is one of several (reuse_port): the same test gunicorn
    makes before unlinking a socket. This reads gunicorn's Arbiter (LISTENERS, WORKERS), pinned in
    requirements.txt; tests/reliability/test_gunicorn_signals.py checks the behaviour.
    """
    queue_term = signal.getsignal(signal.SIGTERM)

    def stop_listening(signum, frame):
        # Asked when the signal comes, not once at start: after a USR2 the new master shares these sockets, and
        # shutting them down would stop it listening too.
        if server.reexec_pid == server.master_pid == 0 and not server.systemd and not server.cfg.reuse_port:
            for pid in list(server.WORKERS):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            for listener in server.LISTENERS:
                listener.shutdown(socket.SHUT_RD)
        queue_term(signum, frame)

    signal.signal(signal.SIGTERM, stop_listening)


class Logger(glogging.Logger):
    """gunicorn's own lines, and its access lines when GUNICORN_ACCESS_LOG asks for them, rendered as the app's
    (LOG_FORMAT). Only the formatters change: gunicorn still builds its access line only when it is asked for."""

    def setup(self, cfg):
        super().setup(cfg)
        formatter = logs.formatter(from_environment().LOG_FORMAT)
        for handler in [*self.error_log.handlers, *self.access_log.handlers]:
            handler.setFormatter(formatter)


logger_class = Logger


def post_fork(server, worker):
    """Traces are set up in each worker, never in the master: the span processor's thread and the exporter's
    connections would not survive the fork."""
    if from_environment().TRACING:
        tracing.setup(worker.app.wsgi())


def worker_exit(server, worker):
    """The spans still buffered leave with the worker."""
    tracing.shutdown(getattr(worker, "wsgi", None))


def child_exit(server, worker):
    """A worker's gauges (in flight, pool) leave the sums with it; its counters stay, as totals do."""
    if metrics_enabled:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """The private metrics directory goes; a given one stays, for the next start to empty."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    marker = Path(directory, f".bookapi-master-{os.getpid()}") if directory else None
    if marker is None or not marker.exists():
        return
    if marker.read_text() == "made":
        shutil.rmtree(directory, ignore_errors=True)
    else:
        marker.unlink()

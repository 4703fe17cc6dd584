"""gunicorn settings, read from the environment; see .env.example."""
import gc
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM lets in-flight requests finish within this many seconds before workers are stopped.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
max_requests = 10_000
max_requests_jitter = 1_000
# The master imports the app once and workers fork from it, so a worker replaced after max_requests serves at
# once instead of importing everything again. The app opens no database connection before the fork (a test
# checks). New code then needs a restart of the master, not a HUP; off for --reload, which can only pick up
# changed code in workers that import it themselves.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() in ("1", "true", "yes")
# The app writes one access line per request itself (ACCESS_LOG), with the request id, the route and the account, for
# a fraction of what gunicorn's costs; GUNICORN_ACCESS_LOG=- adds gunicorn's own line on stdout as well.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# A list cursor can be about 6,000 characters long (bookapi.books.statements.MAX_CURSOR_LENGTH), more than
# gunicorn's default request line of 4,094 bytes allows: take the largest bounded limit it offers.
limit_request_line = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


metrics_enabled = os.environ.get("METRICS_ENABLED", "true").lower() in ("1", "true", "yes", "on")
metrics_port = int(os.environ.get("METRICS_PORT", "9464"))
metrics_bind = os.environ.get("METRICS_BIND", "127.0.0.1")


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
        for leftover in [*Path(directory).glob("*.db"), *Path(directory).glob(".bookapi-master-*")]:
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

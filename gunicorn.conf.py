"""gunicorn settings, read from the environment; see .env.example."""
import gc
import multiprocessing
import os

from gunicorn import glogging

from bookapi import logs, tracing
from bookapi.config import from_environment

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
# The app writes one access event per request itself (ACCESS_LOG), with the request id, the route and the account,
# for a fraction of what gunicorn's costs; GUNICORN_ACCESS_LOG=- adds gunicorn's own on stdout as well.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# A list cursor can be about 6,000 characters long (bookapi.books.statements.MAX_CURSOR_LENGTH), more than
# gunicorn's default request line of 4,094 bytes allows: take the largest bounded limit it offers.
limit_request_line = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def when_ready(server):
    """Before the first fork: what the import built lives as long as the workers do, so their garbage collector
    need not walk it again and again."""
    gc.freeze()


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

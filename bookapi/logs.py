"""Structured logs (structlog): one JSON object per line in production, readable lines in a terminal.

Two paths lead to the same renderer. The app's and its libraries' ``logging`` records (gunicorn's too, through
gunicorn.conf.py's logger class) are rendered by the root handler's ``ProcessorFormatter``. The access event, the
one event every request writes, is stamped and rendered by the same structlog processors, called directly, and
skips ``logging`` altogether: building, filtering and handling a ``LogRecord`` costs several times what rendering
the event does.
"""
import logging
import os
import re
import sys
import time

import orjson
import structlog
from flask import g, has_app_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# ASCII only: the id goes into log lines, back out in a header and into SQL comments, so no letter of it may be
# mangled, close a comment or be taken for a placeholder.
ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
LOG_FORMATS = ("json", "console")
ACCESS_LOGGER = "bookapi.access"
# Responses whose body the server leaves out, whatever the response object holds (RFC 9110 §6.4.1).
BODILESS_STATUSES = frozenset({204, 304})
# Set by bookapi.tracing while traces are on: the current trace id, for every event to carry.
current_trace_id = None


def json_dumps(event, **options):
    return orjson.dumps(event, default=str).decode()


def renderer(log_format):
    if log_format == "json":
        return structlog.processors.JSONRenderer(serializer=json_dumps)
    # A plain traceback: structlog's richer ones print each frame's local variables, a password among them.
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), timestamp_key="time",
                                         exception_formatter=structlog.dev.plain_traceback)


def timestamper():
    return structlog.processors.TimeStamper(fmt="iso", utc=True, key="time")


def add_request_context(logger, method_name, event_dict):
    """The request id (and trace id) of the request a record was logged in, if any."""
    if has_app_context() and "request_id" not in event_dict:
        request_id = g.get("request_id")
        if request_id is not None:
            event_dict["request_id"] = request_id
    if current_trace_id is not None and "trace_id" not in event_dict:
        current = current_trace_id()
        if current is not None:
            event_dict["trace_id"] = current
    return event_dict


def formatter(log_format):
    """The ``logging`` formatter that renders records as the access events are rendered."""
    finish = [structlog.processors.format_exc_info] if log_format == "json" else []
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            timestamper(),
            add_request_context,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finish, renderer(log_format)],
        # Other handlers of the same record (pytest's, say) still see its exception.
        keep_exc_info=True,
    )


class StandardError(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a line is written, not as it was when logging was configured."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def standard_output(line):
    """Where the access events go: ``sys.stdout`` as it is when each is written, one line each, flushed."""
    stream = sys.stdout
    stream.write(line + "\n")
    stream.flush()


def configure_logging(level, log_format):
    handler = StandardError()
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def assign_request_id():
    """Adopt the caller's request id when it is sane (a proxy's, say), else make one; start the request's clock."""
    context = g._get_current_object()
    context.request_started = time.perf_counter()
    incoming = request._get_current_object().environ.get("HTTP_X_REQUEST_ID")
    # 128 random bits as 32 hex digits, as uuid4().hex gave, without building a UUID first.
    context.request_id = incoming if incoming and ACCEPTABLE_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()


def echo_request_id(response):
    response.headers[REQUEST_ID_HEADER] = g._get_current_object().get("request_id", "")
    return response


class AccessLog:
    """After each request: the access event (when ``every`` request is logged) and, for a request slower than
    ``slow_ms``, a warning with the time its SQL statements took (see bookapi.statement_hooks)."""

    def __init__(self, log_format, every, slow_ms):
        # The two processors an event needs, run directly: whether it is written at all is decided here (``every``,
        # ``slow_ms``), so a bound logger's level check and its copy of a context would be work done twice.
        self.stamp, self.render = timestamper(), renderer(log_format)
        self.every, self.slow_ms = every, slow_ms

    def write(self, level, message, event):
        line = self.render(None, level, self.stamp(None, level, {"logger": ACCESS_LOGGER, "level": level, **event,
                                                                 "event": message}))
        standard_output(line)

    def __call__(self, response):
        # The objects behind Flask's proxies, looked up once rather than on every attribute.
        current, context = request._get_current_object(), g._get_current_object()
        took = (time.perf_counter() - context.request_started) * 1000
        slow = self.slow_ms and took > self.slow_ms
        if not (self.every or slow):
            return response
        # The account from its token, not from g.user: a rollback (a database outage's) has expired that row, and
        # reading its id again would query the database from a log line.
        rule, claims = current.url_rule, context.get("token_claims")
        method, status = current.method, response.status_code
        sent = 0 if method == "HEAD" or status in BODILESS_STATUSES or status < 200 else response.content_length
        event = {"request_id": context.request_id, "method": method, "route": rule.rule if rule else None,
                 "status": status, "duration_ms": round(took, 2), "bytes": sent, "client": current.remote_addr}
        if claims is not None:
            event["user_id"] = int(claims["sub"])
        if current_trace_id is not None:
            event["trace_id"] = current_trace_id()
        if self.slow_ms:
            event["db_ms"] = round(context.get("db_seconds", 0.0) * 1000, 2)
            event["db_statements"] = context.get("db_statements", 0)
        if self.every:
            self.write("info", "request", event)
        if slow:
            self.write("warning", "slow request", event)
        return response


def init_app(app):
    level, log_format = logging.getLevelName(app.config["LOG_LEVEL"]), app.config["LOG_FORMAT"]
    configure_logging(level, log_format)
    every = app.config["ACCESS_LOG"] and level <= logging.INFO
    slow_ms = app.config["SLOW_REQUEST_MS"] if level <= logging.WARNING else 0
    # After-request functions run last-registered first: the access event goes out after every other one has run.
    if every or slow_ms:
        app.after_request(AccessLog(log_format, every, slow_ms))
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)

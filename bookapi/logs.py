"""Request ids, log lines that carry them, and one access line per request."""
import logging
import os
import re
import sys
import time

from flask import g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# ASCII only: the id goes into log lines and back out in a header, where other letters are mangled or refused.
ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
ACCESS_LOGGER = "bookapi.access"
# Responses whose body the server leaves out, whatever the response object holds (RFC 9110 §6.4.1).
BODILESS_STATUSES = frozenset({204, 304})


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(level):
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def assign_request_id():
    """Adopt the caller's request id when it is sane (a proxy's, say), else make one; start the request's clock."""
    g.request_started = time.perf_counter()
    incoming = request.environ.get("HTTP_X_REQUEST_ID")
    # 128 random bits as 32 hex digits, as uuid4().hex gave, without building a UUID first.
    g.request_id = incoming if incoming and ACCEPTABLE_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()


def echo_request_id(response):
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    return response


class AccessLog:
    """One line per request on standard output: request id, method, route template, status, duration, body bytes
    sent, the signed-in account and the client's address, in the layout of the other log lines.

    Written straight to the stream rather than through ``logging``: building, filtering and formatting a
    ``LogRecord`` costs several times what writing the line does, on every request. ``configure_logging``'s level
    still applies: the line is INFO, and ``init_app`` leaves it out when INFO is not logged.
    """

    def __init__(self):
        self.second = (None, "")

    def timestamp(self, now):
        """``logging``'s ``asctime`` (local time, milliseconds after a comma), formatted once a second."""
        second, stamp = self.second
        if int(now) != second:
            # One tuple, replaced whole, so that threads never pair a second with another second's text.
            second, stamp = int(now), time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(now)))
            self.second = (second, stamp)
        return f"{stamp},{int((now - second) * 1000):03d}"

    def __call__(self, response):
        # The objects behind Flask's proxies, looked up once rather than on every attribute.
        current, context = request._get_current_object(), g._get_current_object()
        took = (time.perf_counter() - context.request_started) * 1000
        # The account from its token, not from g.user: a rollback (a database outage's) has expired that row, and
        # reading its id again would query the database from a log line.
        rule, claims = current.url_rule, context.get("token_claims")
        method, status = current.method, response.status_code
        sent = 0 if method == "HEAD" or status in BODILESS_STATUSES or status < 200 else response.content_length
        stream = sys.stdout
        stream.write(
            f"{self.timestamp(time.time())} INFO [{context.request_id}] {ACCESS_LOGGER}: method={method} "
            f"route={rule.rule if rule else '-'} status={status} duration_ms={took:.2f} "
            f"bytes={'-' if sent is None else sent} user={'-' if claims is None else claims['sub']} "
            f"client={current.remote_addr or '-'}\n"
        )
        stream.flush()
        return response


def init_app(app):
    configure_logging(app.config["LOG_LEVEL"])
    # After-request functions run last-registered first: the access line goes out after every other one has run.
    if app.config["ACCESS_LOG"] and logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO):
        app.after_request(AccessLog())
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)

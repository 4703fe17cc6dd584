"""Request ids and log lines that carry them."""
import logging
import re
import uuid

from flask import g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# ASCII only: the id goes into log lines and back out in a header, where other letters are mangled or refused.
ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(level):
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def assign_request_id():
    """Adopt the caller's request id when it is sane (a proxy's, say), else make one."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if ACCEPTABLE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def echo_request_id(response):
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    return response


def init_app(app):
    configure_logging(app.config["LOG_LEVEL"])
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)

"""Every error leaves as an RFC 9457 problem document; this module is the one place that builds them."""
import logging
import re
from contextlib import contextmanager

from flask import abort, current_app, g, request
from marshmallow import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from bookapi.conflicts import is_conflict
from bookapi.extensions import db

log = logging.getLogger(__name__)
DUPLICATE_KEY = re.compile(r"Key \((?P<column>\w+)\)=\((?P<value>[^)]*)\) already exists")
DETAILS = {
    404: "The requested URL was not found on the server.",
    405: "The method is not allowed for the requested URL.",
    413: "The body is larger than {limit} bytes.",
    500: "An unexpected error occurred. Quote the request id when reporting it.",
}


def problem(status, detail, headers=None, **extra):
    body = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": g.get("request_id"),
        **extra,
    }
    response = current_app.json.response(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    response.headers.extend(headers or {})
    return response


def handle_http_error(error):
    detail = error.description
    if error.code in DETAILS and not detail_was_given(error):
        detail = DETAILS[error.code].format(limit=current_app.config["MAX_CONTENT_LENGTH"])
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return problem(error.code, detail, headers)


def detail_was_given(error):
    return error.description != type(error).description


def handle_validation_error(error):
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    fields = ", ".join(sorted(messages))
    return problem(422, f"Invalid values for: {fields}.", errors=messages)


def handle_integrity_error(error):
    db.session.rollback()
    duplicate = DUPLICATE_KEY.search(str(error.orig))
    if duplicate and duplicate["column"] == "isbn13":
        return problem(400, f"Book with ISBN {duplicate['value']} already exists")
    log.warning("integrity error: %s", error.orig)
    return problem(409, "The change conflicts with data already stored.")


@contextmanager
def duplicate_as(constraint, detail):
    """Within the block, a write that breaks the unique ``constraint`` is a 400 with ``detail``: the database
    decides, so that two racing requests get one success and one 400, never a 500."""
    try:
        yield
    except IntegrityError as error:
        if getattr(error.orig.diag, "constraint_name", None) != constraint:
            raise
        db.session.rollback()
        abort(400, detail)


def handle_data_error(error):
    db.session.rollback()
    log.warning("data error: %s", error.orig)
    return problem(422, "A value could not be stored: it is out of range or malformed.")


def handle_operational_error(error):
    if is_conflict(error):
        return handle_transaction_conflict(error)
    return handle_database_unavailable(error)


def handle_transaction_conflict(error):
    # A write view gets here after losing twice: conflicts.retry_once_on_conflict has run it once more.
    db.session.rollback()
    log.warning("transaction conflict: %s", error.orig.pgcode)
    return problem(409, "The change collided with a concurrent one and was not stored; send it again.")


def handle_database_unavailable(error):
    db.session.rollback()
    # A 5xx: the one event of it carries the stack (its SQL, never its bound values: hide_parameters).
    log.error("database unavailable", exc_info=error)
    seconds = current_app.config["RETRY_AFTER_SECONDS"]
    return problem(503, "The database is unavailable or too slow; try again shortly.", {"Retry-After": str(seconds)})


def handle_unexpected_error(error):
    log.exception("unhandled error in %s %s", request.method, request.path)
    return problem(500, DETAILS[500])


def register_error_handlers(app):
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(DataError, handle_data_error)
    app.register_error_handler(OperationalError, handle_operational_error)
    app.register_error_handler(InterfaceError, handle_database_unavailable)
    app.register_error_handler(PoolTimeoutError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected_error)

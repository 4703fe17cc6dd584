"""Database reads for GET requests: a connection of their own per request, in autocommit, with no ORM session.

A read needs no transaction, so a GET skips the BEGIN and ROLLBACK round trips and the session's bookkeeping;
writes go through ``db.session`` as usual. The read pool does not ping each connection it hands out (a round
trip per request): a read that finds its connection dead, as after a database restart, is simply run again
on a fresh one, which a read can safely be.

A request's reads share one budget of database time, DB_STATEMENT_TIMEOUT_MS, rather than having it once each.
The first read runs under the connection's own statement_timeout, which is the whole budget, so a request of
one read pays nothing for it. Each later read is sent as ``SET LOCAL statement_timeout = <what is left>; <read>``:
PostgreSQL runs a message of several statements as one transaction, so the setting ends with the read, and it
travels in the read's own round trip.
"""
import time

from flask import current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.exc import DBAPIError

EXTENSION = "bookapi.reads"


def connection():
    """This request's read connection, checked out on first use and returned when the request ends."""
    if "read_connection" not in g:
        g.read_connection = current_app.extensions[EXTENSION].connect()
    return g.read_connection


def execute(statement, parameters=None):
    try:
        return within_budget(connection()).execute(statement, parameters)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        return_connection()
        return within_budget(connection()).execute(statement, parameters)


def explain(statement, parameters, options="FORMAT JSON"):
    """The plan PostgreSQL makes for ``statement`` with ``parameters``: EXPLAIN with ``options``."""
    read_connection = within_budget(connection())
    compiled = statement.compile(read_connection)
    return read_connection.exec_driver_sql(
        f"EXPLAIN ({options}) {compiled.string}", compiled.construct_params(parameters)
    ).scalar()


def within_budget(read_connection):
    """``read_connection``, its next read held to what the request's reads have left of their budget."""
    if "reads_deadline" not in g:
        g.reads_deadline = time.monotonic() + current_app.config["DB_STATEMENT_TIMEOUT_MS"] / 1000
    elif not event.contains(read_connection, "before_cursor_execute", limit_to_what_is_left):
        event.listen(read_connection, "before_cursor_execute", limit_to_what_is_left, retval=True)
    return read_connection


def limit_to_what_is_left(conn, cursor, statement, parameters, context, executemany):
    # At least 1 ms: 0 would turn the limit off.
    left_ms = max(1, int((g.reads_deadline - time.monotonic()) * 1000))
    return f"SET LOCAL statement_timeout = {left_ms}; {statement}", parameters


def records(statement, parameters=None):
    """The rows of a read as plain dicts: built in one pass, and several times cheaper to read than row mappings."""
    result = execute(statement, parameters)
    names = tuple(result.keys())
    return [dict(zip(names, row)) for row in result.all()]


def return_connection():
    read_connection = g.pop("read_connection", None)
    if read_connection is not None:
        read_connection.close()


def release(exception=None):
    """End the request's reads: its connection goes back to the pool, and its budget with it."""
    g.pop("reads_deadline", None)
    return_connection()


def init_app(app):
    options = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": False, "isolation_level": "AUTOCOMMIT"}
    app.extensions[EXTENSION] = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], **options)
    # At the end of the request, and of an app context used without one (a command, a test): an app context that
    # several requests share (as a test client's may) must not share one budget between them.
    app.teardown_request(release)
    app.teardown_appcontext(release)

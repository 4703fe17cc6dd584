"""What each SQL statement of a request carries and costs: its request id, as a comment PostgreSQL keeps with the
statement's text (``pg_stat_activity``, the slow-query log), and the time it took, summed per request for the slow
request warning (bookapi.logs).

Both ways to the database are hooked: the ORM session's engine through SQLAlchemy's events, and the reads of GET
requests (bookapi.reads) through the hooks of their own.
"""
from time import perf_counter

from flask import g, has_app_context
from sqlalchemy import event

from bookapi import reads
from bookapi.extensions import db
from bookapi.logs import ACCEPTABLE_REQUEST_ID


def comment(request_id):
    """``/* request_id=… */``, for an id that cannot end the comment or pass for a psycopg2 placeholder.

    Every id a request gets is one already (bookapi.logs.assign_request_id); one that is not would be left out
    rather than trusted, however it got there.
    """
    return f"/* request_id={request_id} */ " if ACCEPTABLE_REQUEST_ID.fullmatch(request_id) else ""


def annotated(statement):
    """``statement`` led by its request's id, if it runs in a request that has one."""
    # Leading, not trailing: pg_stat_activity keeps only the first track_activity_query_size bytes of a statement.
    if has_app_context():
        request_id = g._get_current_object().get("request_id")
        if request_id is not None:
            return comment(request_id) + statement
    return statement


def add_database_time(seconds):
    """Add a statement that took ``seconds`` to its request's database time."""
    if has_app_context():
        request_globals = g._get_current_object()
        request_globals.db_seconds = request_globals.get("db_seconds", 0.0) + seconds
        request_globals.db_statements = request_globals.get("db_statements", 0) + 1


def tag_statement(conn, cursor, statement, parameters, context, executemany):
    return annotated(statement), parameters


def tag_and_time_statement(conn, cursor, statement, parameters, context, executemany):
    """``tag_statement``, and the statement's start for ``stop_clock``: one listener rather than two, since
    dispatching to each costs about what it does."""
    if has_app_context():
        g.statement_started = perf_counter()
    return annotated(statement), parameters


def stop_clock(*args):
    if has_app_context():
        started = g.pop("statement_started", None)
        if started is not None:
            add_database_time(perf_counter() - started)


def stop_clock_on_error(exception_context):
    stop_clock()


def init_app(app):
    # Statements are timed only for the slow request warning, which SLOW_REQUEST_MS=0 turns off.
    timed = bool(app.config["SLOW_REQUEST_MS"])
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", tag_and_time_statement if timed else tag_statement, retval=True)
    if timed:
        event.listen(engine, "after_cursor_execute", stop_clock)
        event.listen(engine, "handle_error", stop_clock_on_error)
    reader = app.extensions[reads.EXTENSION]
    reader.annotators.append(annotated)
    if timed:
        reader.observers.append(add_database_time)

"""Database reads for GET requests: SQL compiled once, run on the driver's cursor, over connections in autocommit
that the app keeps between requests, with no ORM session.

A read needs no transaction, so a GET skips the BEGIN and ROLLBACK round trips and the session's bookkeeping;
writes go through ``db.session`` as usual. What SQLAlchemy would do for each read is done once per statement
instead: a statement (a module's constant, or a list's statement of one query shape, see listing/statements.py)
is compiled the first time it runs and its SQL kept. Each read then goes to psycopg2 with the hooks that watch every
statement (``Reads.annotators``, ``Reads.observers``, ``Reads.span``: the request id comment, the query times, the
tracing span), which the ORM's engine gets from SQLAlchemy's events.

A request takes a connection on its first read and hands it back when it ends; the app keeps it for the next
request rather than returning it to the engine's pool (which would cost about what the read itself does), so the
read pool's connections stay checked out of it. The pool does not ping a connection it hands out (a round trip per
request) either: a read that finds its connection dead, as after a database restart, drops every kept connection
and is simply run again on a fresh one, which a read can safely be.

A request's reads share one budget of database time, DB_STATEMENT_TIMEOUT_MS, rather than having it once each.
The first read runs under the connection's own statement_timeout, which is the whole budget, so a request of
one read pays nothing for it. Each later read is sent as ``SET LOCAL statement_timeout = <what is left>; <read>``:
PostgreSQL runs a message of several statements as one transaction, so the setting ends with the read, and it
travels in the read's own round trip.
"""
import time
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app, g
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError

EXTENSION = "bookapi.reads"
# Statements whose compiled SQL a process keeps: the modules' constants and a list's shapes (STATEMENT_SHAPES each).
COMPILED_STATEMENTS = 2048


@dataclass
class Compiled:
    """A statement's SQL for the driver, and how its parameters and its result columns are converted."""

    sql: str
    compiled: object
    columns: tuple
    # {parameter name: the function SQLAlchemy would convert its value with}, for the parameters that have one.
    converts: dict
    # Per result column, the function SQLAlchemy would convert its values with (None: as the driver reads them);
    # known once the statement has run, since they depend on the types the database answers with.
    converters: list | None = None

    def parameters(self, values):
        parameters = self.compiled.construct_params(values)
        for name, convert in self.converts.items():
            parameters[name] = convert(parameters[name])
        return parameters

    def converted(self, dialect, description, rows):
        if self.converters is None:
            if self.columns and len(self.columns) != len(description):
                raise TypeError("reads cannot match this statement's result columns to its selected ones: select "
                                "columns, not entities")
            self.converters = [column.type.dialect_impl(dialect).result_processor(dialect, column_description[1])
                               for column, column_description in zip(self.columns, description)]
        converters = self.converters
        if not any(converters):
            return rows
        return [tuple(value if convert is None else convert(value) for convert, value in zip(converters, row))
                for row in rows]


@lru_cache(maxsize=COMPILED_STATEMENTS)
def compiled(statement, dialect):
    """``statement`` compiled for ``dialect``, once per process."""
    found = statement.compile(dialect=dialect)
    # An expanding IN list is rendered per call, from its values: a read takes a list as one array (= ANY(:ids)).
    if "__[POSTCOMPILE_" in found.string:
        raise TypeError(f"reads cannot run a statement with an expanding IN list: {found.string}")
    if found.escaped_bind_names:
        raise TypeError(f"reads take parameter names as they are: rename {', '.join(found.escaped_bind_names)}")
    converts = {found.bind_names[bind]: convert for bind in found.binds.values()
                if (convert := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
    return Compiled(found.string, found, tuple(getattr(statement, "selected_columns", ())), converts)


@dataclass
class Kept:
    """A connection of the engine's pool that the app keeps between requests."""

    connection: object
    taken_at: float
    generation: int


class Reads:
    """The read side of one app: its engine, the connections it keeps, and the hooks every read runs with.

    - ``annotators``: functions of a statement's SQL returning the SQL to send (the request id comment);
    - ``observers``: functions of the seconds each statement took, a failed one too (the query times);
    - ``span``: a function of the SQL returning a context manager around its run (a tracing span), or None.
    """

    def __init__(self, engine, recycle_seconds, keep_at_most):
        self.engine, self.dialect = engine, engine.dialect
        self.dbapi_error = engine.dialect.loaded_dbapi.Error
        self.recycle_seconds, self.keep_at_most = recycle_seconds, keep_at_most
        self.idle, self.generation = [], 0
        self.annotators, self.observers, self.span = [], [], None

    def take(self):
        """A kept connection (the last one handed back), else a new one from the pool."""
        while self.idle:
            try:
                kept = self.idle.pop()
            except IndexError:  # another thread took the last one
                break
            if kept.generation != self.generation:
                kept.connection.invalidate()
            elif time.monotonic() - kept.taken_at < self.recycle_seconds:
                return kept
            else:
                # Back to the pool, which replaces a connection that old when it next hands it out.
                kept.connection.close()
        try:
            return Kept(self.engine.raw_connection(), time.monotonic(), self.generation)
        except self.dbapi_error as error:
            raise self.database_error(error) from error

    def hand_back(self, kept):
        if kept.generation == self.generation and kept.connection.is_valid:
            if len(self.idle) < self.keep_at_most:
                self.idle.append(kept)
            else:
                # More than a burst of requests (threads) needs between bursts: back to the pool, which closes
                # the connections it holds beyond DB_POOL_SIZE.
                kept.connection.close()
        elif kept.connection.is_valid:
            # Taken before a connection was found dead: not to be trusted to the pool either.
            kept.connection.invalidate()

    def database_error(self, error, statement=None, parameters=None, gone=False):
        """The driver's ``error`` as SQLAlchemy raises it, with the bound values left out of its message."""
        return DBAPIError.instance(statement, parameters, error, self.dbapi_error, hide_parameters=True,
                                   connection_invalidated=gone, dialect=self.dialect)

    def forget_kept(self):
        """Close every kept connection that is not in use; those in use are closed when handed back."""
        self.generation += 1
        while self.idle:
            try:
                self.idle.pop().connection.invalidate()
            except IndexError:
                break

    def dispose(self):
        self.forget_kept()
        self.engine.dispose()

    def run(self, kept, sql, parameters):
        """``(description, rows)`` of ``sql`` run on ``kept`` within the request's budget; a database error as
        SQLAlchemy raises it."""
        span = self.span(sql) if self.span is not None else nullcontext()
        sent = within_budget(sql)
        for annotate in self.annotators:
            sent = annotate(sent)
        connection, cursor = kept.connection, None
        started = time.perf_counter()
        try:
            # The driver's own cursor: the pool's wrapper of it would only pass each call on.
            cursor = connection.dbapi_connection.cursor()
            with span:
                cursor.execute(sent, parameters)
                description = cursor.description
                return description, cursor.fetchall() if description is not None else []
        except self.dbapi_error as error:
            gone = self.dialect.is_disconnect(error, connection.dbapi_connection, cursor)
            if gone:
                connection.invalidate(error)
                self.forget_kept()
            raise self.database_error(error, sent, parameters, gone) from error
        finally:
            if cursor is not None:
                cursor.close()
            seconds = time.perf_counter() - started
            for observe in self.observers:
                observe(seconds)


def kept_connection():
    """This request's read connection, taken on its first read and handed back when the request ends."""
    kept = g.get("read_connection")
    if kept is None:
        kept = g.read_connection = current_app.extensions[EXTENSION].take()
    return kept


def within_budget(sql):
    """``sql``, held to what the request's reads have left of their budget (see the module's docstring)."""
    deadline = g.get("reads_deadline")
    if deadline is None:
        g.reads_deadline = time.monotonic() + current_app.config["DB_STATEMENT_TIMEOUT_MS"] / 1000
        return sql
    # At least 1 ms: 0 would turn the limit off.
    left_ms = max(1, int((deadline - time.monotonic()) * 1000))
    return f"SET LOCAL statement_timeout = {left_ms}; {sql}"


def run(statement, parameters=None):
    """``(column names, rows)`` of a read of ``statement`` (a constant or a list's shape: see the module's
    docstring) with ``parameters``."""
    reader = current_app.extensions[EXTENSION]
    found = compiled(statement, reader.dialect)
    values = found.parameters(parameters)
    try:
        description, rows = reader.run(kept_connection(), found.sql, values)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        hand_back()
        description, rows = reader.run(kept_connection(), found.sql, values)
    if description is None:
        return (), rows
    return tuple(column[0] for column in description), found.converted(reader.dialect, description, rows)


def records(statement, parameters=None):
    """The rows of a read as plain dicts: several times cheaper to read than row mappings."""
    names, rows = run(statement, parameters)
    return [dict(zip(names, row)) for row in rows]


def rows(statement, parameters=None):
    """The rows of a read as tuples."""
    return run(statement, parameters)[1]


def scalar(statement, parameters=None):
    """The first value of the first row of a read; None when there is no row."""
    found = run(statement, parameters)[1]
    return found[0][0] if found else None


def explain(statement, parameters, options="FORMAT JSON"):
    """The plan PostgreSQL makes for ``statement`` with ``parameters``: EXPLAIN with ``options``."""
    reader = current_app.extensions[EXTENSION]
    found = compiled(statement, reader.dialect)
    sql = f"EXPLAIN ({options}) {found.sql}"
    return reader.run(kept_connection(), sql, found.parameters(parameters))[1][0][0]


def hand_back():
    kept = g.pop("read_connection", None)
    if kept is not None:
        current_app.extensions[EXTENSION].hand_back(kept)


def release(exception=None):
    """End the request's reads: its connection goes back to the app, and its budget with it."""
    g.pop("reads_deadline", None)
    hand_back()


def init_app(app):
    options = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": False, "isolation_level": "AUTOCOMMIT"}
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], **options)
    # A kept connection is replaced once it is as old as the pool would let one get (DB_POOL_RECYCLE; -1: never).
    recycle = options.get("pool_recycle", -1)
    # Up to DB_POOL_SIZE idle between requests, as the pool would keep.
    app.extensions[EXTENSION] = Reads(engine, recycle if recycle > 0 else float("inf"), options.get("pool_size", 5))
    # At the end of the request, and of an app context used without one (a command, a test): an app context that
    # several requests share (as a test client's may) must not share one budget between them.
    app.teardown_request(release)
    app.teardown_appcontext(release)

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

A read of a statement that a caller marks as prepared (a lookup by key, whose plan cannot depend on the value
looked up) runs as ``EXECUTE`` of a statement PREPAREd on its connection the first time it runs there (a round trip
of its own, once). PostgreSQL then plans it once per connection rather than once per read; for a lookup of a table
with as many indexes as the books', planning is most of what the database does for it. A connection keeps at most
PREPARED_PER_CONNECTION of them; their names are in its ``info``, which the pool empties when it reconnects.

A request's reads share one budget of database time, DB_STATEMENT_TIMEOUT_MS, rather than having it once each.
The first read runs under the connection's own statement_timeout, which is the whole budget, so a request of
one read pays nothing for it. Each later read is sent as ``SET LOCAL statement_timeout = <what is left>; <read>``:
PostgreSQL runs a message of several statements as one transaction, so the setting ends with the read, and it
travels in the read's own round trip.
"""
import itertools
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
# Statements a connection keeps prepared, at most: beyond them (only after COMPILED_STATEMENTS of them have been
# compiled and evicted and compiled again under new names) reads are sent as SQL.
PREPARED_PER_CONNECTION = 64
# A connection's info key: the names of the statements prepared on it.
PREPARED = "bookapi.prepared"
# What PostgreSQL answers to the EXECUTE of a statement prepared before its tables changed shape (a migration, while
# the app serves): "cached plan must not change result type" (0A000), or, when a column it compares changed type, an
# error of class 42 (syntax or types) as it analyses the statement again with the parameter types it was prepared with.
STALE_PREPARED = ("0A000", "42")
# Numbers the prepared statements' names: taking the next one is atomic, whatever thread asks.
statement_numbers = itertools.count(1)


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


@dataclass
class Prepared:
    """A statement as a prepared one: its name, its PREPARE, and the order of its parameters ($1, $2, …)."""

    name: str
    definition: str
    order: tuple
    # False once PostgreSQL has refused to prepare it (a parameter whose type it cannot tell, say): sent as SQL.
    usable: bool = True

    def execution(self, parameters):
        """The EXECUTE of this statement with ``parameters`` (by name), and its values in order."""
        placeholders = ", ".join(["%s"] * len(self.order))
        return f"EXECUTE {self.name}({placeholders})" if self.order else f"EXECUTE {self.name}", [
            parameters[name] for name in self.order]


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


@lru_cache(maxsize=COMPILED_STATEMENTS)
def prepared(statement, dialect):
    """``statement`` as a prepared statement of a name of its own, once per process; its SQL is the same as
    ``compiled``'s but for the placeholders, numbered as PREPARE wants them."""
    found = statement.compile(dialect=numbered(dialect))
    name = f"bookapi_{next(statement_numbers)}"
    return Prepared(name, f"PREPARE {name} AS {found.string}", tuple(found.positiontup))


@lru_cache
def numbered(dialect):
    """``dialect`` with PostgreSQL's own numbered placeholders ($1, $2, …)."""
    return type(dialect)(paramstyle="numeric_dollar")


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

    def run(self, kept, sql, parameters, prepared=None):
        """``(description, rows)`` of ``sql`` run on ``kept`` within the request's budget, as the EXECUTE of
        ``prepared`` where it is given; a database error as SQLAlchemy raises it."""
        sent, values = sql, parameters
        executing = prepared is not None and self.prepare(kept, prepared)
        if executing:
            sent, values = prepared.execution(parameters)
        with self.span(sql) if self.span is not None else nullcontext():
            return self.send(kept, within_budget(sent), values, executing)

    def prepare(self, kept, prepared):
        """Whether ``prepared`` is prepared on ``kept``'s connection, preparing it first if need be and if it can.

        A PREPARE of its own, not in the EXECUTE's round trip: PostgreSQL keeps a prepared statement even when
        the rest of its message fails, so only a PREPARE that answered tells which names a connection has."""
        names = kept.connection.info.setdefault(PREPARED, set())
        if prepared.name in names:
            return True
        if not prepared.usable or len(names) >= PREPARED_PER_CONNECTION:
            return False
        try:
            self.send(kept, prepared.definition, None, False)
        except DBAPIError as error:
            if error.connection_invalidated or not (getattr(error.orig, "pgcode", None) or "").startswith("42"):
                raise
            # Syntax or types (class 42): this statement cannot be prepared, on any connection.
            prepared.usable = False
            return False
        names.add(prepared.name)
        return True

    def send(self, kept, sql, parameters, stale_if_changed):
        """``(description, rows)`` of ``sql`` with ``parameters``; a database error as SQLAlchemy raises it, one
        that leaves the connection unusable (``connection_invalidated``) after invalidating it and every kept one.

        ``stale_if_changed``: an EXECUTE that fails as one of a statement prepared before its table changed shape
        (STALE_PREPARED) counts as such an error: every connection's prepared statements may be stale, and a fresh
        connection prepares them anew (or, for a statement that is wrong in itself, finds that it cannot)."""
        sent = sql
        for annotate in self.annotators:
            sent = annotate(sent)
        connection, cursor = kept.connection, None
        started = time.perf_counter()
        try:
            # The driver's own cursor: the pool's wrapper of it would only pass each call on.
            cursor = connection.dbapi_connection.cursor()
            cursor.execute(sent, parameters)
            description = cursor.description
            return description, cursor.fetchall() if description is not None else []
        except self.dbapi_error as error:
            gone = self.dialect.is_disconnect(error, connection.dbapi_connection, cursor) or (
                stale_if_changed and (getattr(error, "pgcode", None) or "").startswith(STALE_PREPARED))
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
    context = g._get_current_object()
    kept = context.get("read_connection")
    if kept is None:
        kept = context.read_connection = current_app._get_current_object().extensions[EXTENSION].take()
    return kept


def within_budget(sql):
    """``sql``, held to what the request's reads have left of their budget (see the module's docstring)."""
    context = g._get_current_object()
    deadline = context.get("reads_deadline")
    if deadline is None:
        context.reads_deadline = time.monotonic() + current_app._get_current_object().config[
            "DB_STATEMENT_TIMEOUT_MS"] / 1000
        return sql
    # At least 1 ms: 0 would turn the limit off.
    left_ms = max(1, int((deadline - time.monotonic()) * 1000))
    return f"SET LOCAL statement_timeout = {left_ms}; {sql}"


def run(statement, parameters=None, prepare=False):
    """``(column names, rows)`` of a read of ``statement`` (a constant or a list's shape: see the module's
    docstring) with ``parameters``; as a prepared statement when ``prepare`` is true."""
    reader = current_app._get_current_object().extensions[EXTENSION]
    found = compiled(statement, reader.dialect)
    values = found.parameters(parameters)
    ready = prepared(statement, reader.dialect) if prepare else None
    try:
        description, rows = reader.run(kept_connection(), found.sql, values, ready)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        hand_back()
        description, rows = reader.run(kept_connection(), found.sql, values, ready)
    if description is None:
        return (), rows
    return tuple(column[0] for column in description), found.converted(reader.dialect, description, rows)


def records(statement, parameters=None, prepare=False):
    """The rows of a read as plain dicts: several times cheaper to read than row mappings."""
    names, rows = run(statement, parameters, prepare)
    return [dict(zip(names, row)) for row in rows]


def rows(statement, parameters=None, prepare=False):
    """The rows of a read as tuples."""
    return run(statement, parameters, prepare)[1]


def scalar(statement, parameters=None, prepare=False):
    """The first value of the first row of a read; None when there is no row."""
    found = run(statement, parameters, prepare)[1]
    return found[0][0] if found else None


def explain(statement, parameters, options="FORMAT JSON"):
    """The plan PostgreSQL makes for ``statement`` with ``parameters``: EXPLAIN with ``options``."""
    reader = current_app.extensions[EXTENSION]
    found = compiled(statement, reader.dialect)
    sql = f"EXPLAIN ({options}) {found.sql}"
    return reader.run(kept_connection(), sql, found.parameters(parameters))[1][0][0]


def hand_back():
    kept = g._get_current_object().pop("read_connection", None)
    if kept is not None:
        current_app._get_current_object().extensions[EXTENSION].hand_back(kept)


def release(exception=None):
    """End the request's reads: its connection goes back to the app, and its budget with it."""
    g._get_current_object().pop("reads_deadline", None)
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

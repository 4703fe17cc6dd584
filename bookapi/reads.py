"""Database reads for GET requests: a connection of their own per request, in autocommit, with no ORM session.

A read needs no transaction, so a GET skips the BEGIN and ROLLBACK round trips and the session's bookkeeping;
writes go through ``db.session`` as usual. The read pool does not ping each connection it hands out (a round
trip per request): a read that finds its connection dead, as after a database restart, is simply run again
on a fresh one, which a read can safely be.
"""
from flask import current_app, g
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError

EXTENSION = "bookapi.reads"


def connection():
    """This request's read connection, checked out on first use and returned when the request ends."""
    if "read_connection" not in g:
        g.read_connection = current_app.extensions[EXTENSION].connect()
    return g.read_connection


def execute(statement, parameters=None):
    try:
        return connection().execute(statement, parameters)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        release()
        return connection().execute(statement, parameters)


def records(statement, parameters=None):
    """The rows of a read as plain dicts: built in one pass, and several times cheaper to read than row mappings."""
    result = execute(statement, parameters)
    names = tuple(result.keys())
    return [dict(zip(names, row)) for row in result.all()]


def release(exception=None):
    read_connection = g.pop("read_connection", None)
    if read_connection is not None:
        read_connection.close()


def init_app(app):
    options = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": False, "isolation_level": "AUTOCOMMIT"}
    app.extensions[EXTENSION] = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], **options)
    app.teardown_appcontext(release)

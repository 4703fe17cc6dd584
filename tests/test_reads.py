"""The reads of GET requests (bookapi.reads): SQL compiled once and run on the driver, with what SQLAlchemy would
give back, over connections the app keeps between requests and replaces when they die or age."""
import time

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import ProgrammingError

from bookapi import create_app, reads
from bookapi.accounts.models import User
from bookapi.books.models import Book
from bookapi.books.statements import BOOK_BY_ID, BOOK_LIST, BOOKS_BY_IDS
from bookapi.extensions import db
from bookapi.listing.statements import page_statement
from bookapi.users.queries import USER_LIST
from tests.conftest import make_config
from tests.factories import BookFactory, ReviewFactory, UserFactory

BACKEND = text("SELECT pg_backend_pid()")


def backend_of_a_request(app):
    with app.test_request_context():
        return reads.scalar(BACKEND)


def alive(pid):
    return db.session.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar()


def as_sqlalchemy_reads(statement, parameters):
    return [dict(row) for row in db.session.execute(statement, parameters).mappings()]


@pytest.mark.parametrize("statement, parameters", [
    (BOOK_BY_ID, {"book_id": 1}),
    (BOOKS_BY_IDS, {"ids": [1, 2, 3]}),
    (page_statement(BOOK_LIST, (), ("-average_rating",), "first", True), {"limit": 5, "offset": 0,
                                                                          "count_limit": 100}),
    (page_statement(USER_LIST, ("is_active",), (), "first", False), {"limit": 5, "offset": 0, "is_active": True}),
], ids=["book", "books by ids", "page by rating, counted", "users filtered by a boolean"])
@pytest.mark.parametrize("prepare", [False, True], ids=["as SQL", "prepared"])
def test_a_read_gives_back_what_sqlalchemy_would(app, statement, parameters, prepare):
    for _ in range(3):
        ReviewFactory(rating=4)
    UserFactory(is_active=True)
    UserFactory(is_active=False)
    db.session.commit()

    with app.test_request_context():
        # Twice: the first read of a prepared statement prepares it, the second only executes it.
        found = [reads.records(statement, parameters, prepare=prepare) for _ in range(2)]

    assert found[0] == found[1] == as_sqlalchemy_reads(statement, parameters)
    assert found[0]


def test_a_read_converts_parameters_as_sqlalchemy_would(app):
    UserFactory(is_active=False)
    statement = select(User.id).where(User.is_active == bindparam("active"))

    with app.test_request_context():
        # A boolean column's parameter is taken strictly as a boolean, as SQLAlchemy takes it.
        assert reads.rows(statement, {"active": 0}) == db.session.execute(statement, {"active": 0}).all()
        with pytest.raises(TypeError):
            reads.rows(statement, {"active": "no"})


def test_a_statement_with_an_expanding_in_list_is_refused(app):
    with app.test_request_context(), pytest.raises(TypeError, match="expanding IN"):
        reads.records(select(Book.id).where(Book.id.in_([1, 2])))


def test_the_next_request_reads_on_the_connection_the_last_one_used(app):
    first = backend_of_a_request(app)

    assert backend_of_a_request(app) == first


def test_a_kept_connection_that_died_is_replaced_and_the_read_run_again(app):
    first = backend_of_a_request(app)
    db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})

    with app.test_request_context():
        assert reads.scalar(text("SELECT 1")) == 1
        second = reads.scalar(BACKEND)

    assert second != first


def test_a_kept_connection_is_replaced_once_as_old_as_the_pool_recycles_them(app):
    recycling = create_app(make_config(SQLALCHEMY_ENGINE_OPTIONS={
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_recycle": 1,
    }))
    try:
        first = backend_of_a_request(recycling)
        assert backend_of_a_request(recycling) == first
        time.sleep(1.1)

        assert backend_of_a_request(recycling) != first
    finally:
        recycling.extensions[reads.EXTENSION].dispose()


def test_dispose_closes_the_kept_connections(app):
    disposable = create_app(make_config())
    pid = backend_of_a_request(disposable)

    disposable.extensions[reads.EXTENSION].dispose()

    assert alive(pid) == 0


def test_a_parameter_name_the_driver_would_need_escaped_is_refused(app):
    statement = select(Book.id).where(Book.id == bindparam("book id"))

    with app.test_request_context(), pytest.raises(TypeError, match="rename book id"):
        reads.records(statement, {"book id": 1})


def test_a_kept_connection_closed_on_this_side_is_replaced_and_the_read_run_again(app):
    first = backend_of_a_request(app)
    # The one the next request takes.
    app.extensions[reads.EXTENSION].idle[-1].connection.dbapi_connection.close()

    with app.test_request_context():
        assert reads.scalar(BACKEND) != first


def test_a_connection_in_use_when_another_was_found_dead_is_closed_when_handed_back(app):
    reader = app.extensions[reads.EXTENSION]
    with app.test_request_context():
        in_use = reads.scalar(BACKEND)
        # Another request finds its connection dead meanwhile: every connection taken before may be dead too.
        reader.forget_kept()

    assert alive(in_use) == 0
    assert reader.idle == []


def test_connections_beyond_the_pool_size_go_back_to_the_pool(app):
    small = create_app(make_config(SQLALCHEMY_ENGINE_OPTIONS={**app.config["SQLALCHEMY_ENGINE_OPTIONS"],
                                                              "pool_size": 1}))
    reader = small.extensions[reads.EXTENSION]
    try:
        # Two requests at once (two threads of a worker), then none.
        first, second = reader.take(), reader.take()
        reader.hand_back(first)
        reader.hand_back(second)

        assert reader.idle == [first]
        assert reader.engine.pool.checkedout() == 1
    finally:
        reader.dispose()


PREPARED_ON_THIS_CONNECTION = text("SELECT name, statement FROM pg_prepared_statements")


def test_a_prepared_read_is_prepared_once_per_connection(app):
    book = BookFactory()
    db.session.commit()
    app.extensions[reads.EXTENSION].forget_kept()  # a new connection, with nothing prepared yet
    with app.test_request_context():
        reads.records(BOOK_BY_ID, {"book_id": book.id}, prepare=True)
    with app.test_request_context():
        assert reads.records(BOOK_BY_ID, {"book_id": book.id}, prepare=True)[0]["id"] == book.id
        prepared = reads.rows(PREPARED_ON_THIS_CONNECTION)

    assert len(prepared) == 1
    name, statement = prepared[0]
    assert statement.startswith(f"PREPARE {name} AS SELECT books.id")
    assert "WHERE books.id = $1" in statement


def test_a_prepared_read_on_a_new_connection_prepares_it_there(app):
    book = BookFactory()
    db.session.commit()
    first = backend_of_a_request(app)
    with app.test_request_context():
        reads.records(BOOK_BY_ID, {"book_id": book.id}, prepare=True)
    db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})

    with app.test_request_context():
        found = reads.records(BOOK_BY_ID, {"book_id": book.id}, prepare=True)
        assert reads.scalar(BACKEND) != first

    assert found[0]["id"] == book.id


def test_a_statement_postgresql_cannot_prepare_is_read_as_sql(app):
    untyped = text("SELECT 1 WHERE :value IS NULL")

    with app.test_request_context():
        assert reads.rows(untyped, {"value": None}, prepare=True) == [(1,)]
        assert reads.rows(untyped, {"value": None}, prepare=True) == [(1,)]
        assert not [statement for _, statement in reads.rows(PREPARED_ON_THIS_CONNECTION) if "IS NULL" in statement]


@pytest.mark.parametrize("change, found", [
    # PostgreSQL: "cached plan must not change result type".
    ("ALTER COLUMN value TYPE text", [("7",)]),
    # PostgreSQL analyses the statement again with the parameter type it was prepared with: "operator does not
    # exist: text = integer".
    ("ALTER COLUMN id TYPE text", [(7,)]),
], ids=["a selected column", "a compared column"])
def test_a_prepared_read_of_a_table_that_changed_shape_is_prepared_again(app, change, found):
    db.session.execute(text("CREATE TABLE reshaped (id integer, value integer)"))
    db.session.execute(text("INSERT INTO reshaped VALUES (1, 7)"))
    db.session.commit()
    statement = text("SELECT value FROM reshaped WHERE id = :id")
    try:
        with app.test_request_context():
            assert reads.rows(statement, {"id": 1}, prepare=True) == [(7,)]
        # A migration while the app serves.
        db.session.execute(text(f"ALTER TABLE reshaped {change}"))
        db.session.commit()

        with app.test_request_context():
            assert reads.rows(statement, {"id": "1"}, prepare=True) == found
    finally:
        db.session.rollback()
        db.session.execute(text("DROP TABLE reshaped"))
        db.session.commit()


def test_a_connection_keeps_only_so_many_prepared_statements(app, monkeypatch):
    monkeypatch.setattr(reads, "PREPARED_PER_CONNECTION", 1)
    app.extensions[reads.EXTENSION].forget_kept()  # a new connection, with nothing prepared yet

    with app.test_request_context():
        assert reads.scalar(text("SELECT CAST(:one AS integer)"), {"one": 1}, prepare=True) == 1
        assert reads.scalar(text("SELECT CAST(:two AS integer) + 0"), {"two": 2}, prepare=True) == 2
        prepared = reads.rows(PREPARED_ON_THIS_CONNECTION)

    assert [statement for _, statement in prepared] == [f"PREPARE {prepared[0][0]} AS SELECT CAST($1 AS integer)"]


def test_a_wrong_statement_sent_as_sql_keeps_its_connection(app, monkeypatch):
    # No room for prepared statements: a read marked prepared is sent as SQL, and its error (class 42, as a stale
    # prepared statement's would be) is the statement's own, not a sign that the connection's statements are stale.
    monkeypatch.setattr(reads, "PREPARED_PER_CONNECTION", 0)
    first = backend_of_a_request(app)

    with app.test_request_context(), pytest.raises(ProgrammingError):
        reads.rows(text("SELECT no_such_column FROM books WHERE id = :id"), {"id": 1}, prepare=True)

    assert backend_of_a_request(app) == first

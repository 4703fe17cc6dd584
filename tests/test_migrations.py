"""The migrations own the schema: they match the models and run both ways."""
import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from bookapi.extensions import db
from tests.factories import isbn13

BYLINES = ["Ann Leckie", "Terry Pratchett, Neil Gaiman", "Ann Leckie", "Ursula K. Le Guin", "Ann Leckie"]


def test_models_match_migrations(runner):
    result = runner.invoke(args=["db", "check"])

    assert result.exit_code == 0, result.output


def test_migrations_downgrade_and_upgrade_again():
    downgrade(revision="base")
    assert "books" not in inspect(db.engine).get_table_names()

    upgrade()

    assert "books" in inspect(db.engine).get_table_names()


def schema():
    """Every table with its columns, indexes, constraints and triggers, and every function: what a migration makes."""
    inspector = inspect(db.engine)
    tables = {
        table: (
            [(c["name"], str(c["type"]), c["nullable"], c.get("default"), str(c.get("computed")))
             for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table)),
            sorted(c["name"] for c in inspector.get_check_constraints(table)),
            sorted(str(fk) for fk in inspector.get_foreign_keys(table)),
        )
        for table in inspector.get_table_names()
    }
    with db.engine.connect() as connection:
        triggers = connection.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1")).all()
        functions = connection.scalars(text(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1")).all()
    return tables, triggers, functions


@pytest.fixture
def at_0006():
    """The schema as migration 0006 left it, with books written by hand; back at the head afterwards."""
    db.session.commit()
    downgrade(revision="0006")
    db.session.execute(
        text("INSERT INTO books (title, author, isbn, isbn13, published_date) "
             "VALUES (:title, :author, :isbn, :isbn, DATE '2001-01-01')"),
        [{"title": f"Book {n}", "author": author, "isbn": isbn13(n)} for n, author in enumerate(BYLINES)],
    )
    db.session.commit()
    yield
    db.session.rollback()
    upgrade()


def authors_by_book():
    return db.session.execute(text(
        "SELECT b.title, a.name, ba.position FROM books b "
        "JOIN book_authors ba ON ba.book_id = b.id JOIN authors a ON a.id = ba.author_id ORDER BY b.id")).all()


def test_0007_links_each_book_to_an_author_made_from_its_byline(at_0006):
    upgrade(revision="0007")

    assert authors_by_book() == [(f"Book {n}", author, 0) for n, author in enumerate(BYLINES)]


def test_0007_makes_one_author_per_distinct_byline_counting_its_books(at_0006):
    upgrade(revision="0007")

    counts = db.session.execute(text("SELECT name, book_count FROM authors ORDER BY name")).all()
    assert counts == [("Ann Leckie", 3), ("Terry Pratchett, Neil Gaiman", 1), ("Ursula K. Le Guin", 1)]


def test_0007_downgrade_restores_the_0006_schema_and_keeps_the_books(at_0006):
    before = schema()
    upgrade(revision="0007")

    downgrade(revision="0006")

    assert schema() == before
    assert db.session.scalars(text("SELECT author FROM books ORDER BY id")).all() == BYLINES


def test_0007_upgrades_again_after_its_downgrade(at_0006):
    upgrade(revision="0007")
    downgrade(revision="0006")

    upgrade(revision="0007")

    assert len(authors_by_book()) == len(BYLINES)

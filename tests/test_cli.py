from sqlalchemy import func, select, text

from bookapi import commands
from bookapi.books.models import Book
from bookapi.extensions import db
from bookapi.isbn import normalize


def test_seed_adds_valid_unique_books(runner):
    result = runner.invoke(args=["seed", "--count", "250", "--seed", "7"])

    assert result.exit_code == 0, result.output
    assert "Added 250 books." in result.output
    books = db.session.scalars(select(Book)).all()
    assert len(books) == 250
    assert len({b.isbn13 for b in books}) == 250
    assert all(normalize(b.isbn) == b.isbn13 for b in books)


def test_seed_adds_to_an_existing_catalogue(runner):
    runner.invoke(args=["seed", "--count", "10"])

    result = runner.invoke(args=["seed", "--count", "10"])

    assert result.exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(Book)) == 20


def test_seed_rejects_non_positive_count(runner):
    result = runner.invoke(args=["seed", "--count", "0"])

    assert result.exit_code == 2


def test_seed_with_same_seed_adds_the_same_books(runner):
    runner.invoke(args=["seed", "--count", "30", "--seed", "11"])
    books = select(Book.isbn, Book.title, Book.author, Book.description).order_by(Book.isbn)
    first = db.session.execute(books).all()
    db.session.execute(text("TRUNCATE books RESTART IDENTITY CASCADE"))
    db.session.commit()

    runner.invoke(args=["seed", "--count", "30", "--seed", "11"])

    assert db.session.execute(books).all() == first


def test_seed_redraws_isbns_already_in_the_catalogue(runner):
    runner.invoke(args=["seed", "--count", "30", "--seed", "11"])

    result = runner.invoke(args=["seed", "--count", "30", "--seed", "11"])

    assert result.exit_code == 0, result.output
    assert "Added 30 books." in result.output
    assert db.session.scalar(select(func.count(func.distinct(Book.isbn13)))) == 60


def test_seed_streams_draw_disjoint_isbns():
    streams = [commands.FakeBooks(seed=3, stream=k, streams=2) for k in range(2)]

    drawn = [{books.isbn13() for _ in range(500)} for books in streams]

    assert all(int(isbn[3:12]) % 2 == k for k, isbns in enumerate(drawn) for isbn in isbns)
    assert not drawn[0] & drawn[1]


def test_seed_fails_when_a_loader_fails(runner, monkeypatch):
    def broken(connection, rows):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(commands.staging, "load_new", broken)

    result = runner.invoke(args=["seed", "--count", "40"])

    assert result.exit_code != 0
    assert isinstance(result.exception, RuntimeError)
    assert db.session.scalar(select(func.count()).select_from(Book)) == 0

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


def test_seed_links_each_book_to_the_authors_of_its_byline_first_author_first(runner):
    runner.invoke(args=["seed", "--count", "300", "--seed", "5"])

    bylines = db.session.execute(text(
        "SELECT b.author, string_agg(a.name, ', ' ORDER BY ba.position) FROM books b "
        "JOIN book_authors ba ON ba.book_id = b.id JOIN authors a ON a.id = ba.author_id GROUP BY b.id"
    )).all()
    assert len(bylines) == 300
    assert all(byline == names for byline, names in bylines)


def test_seed_gives_most_authors_a_book_or_two_and_a_few_many(runner):
    runner.invoke(args=["seed", "--count", "3000", "--seed", "5"])

    counts = db.session.scalars(text("SELECT book_count FROM authors ORDER BY book_count")).all()
    assert counts[len(counts) // 2] <= 2
    assert counts[-1] >= 50


def test_seed_puts_every_book_in_a_category_of_30_with_very_uneven_sizes(runner):
    runner.invoke(args=["seed", "--count", "3000", "--seed", "5"])

    sizes = db.session.scalars(text("SELECT book_count FROM categories ORDER BY book_count")).all()
    uncategorized = db.session.scalar(text(
        "SELECT count(*) FROM books WHERE NOT EXISTS (SELECT FROM book_categories WHERE book_id = books.id)"))
    assert (len(sizes), uncategorized) == (30, 0)
    assert sizes[-1] > 20 * sizes[0]


def test_seed_adds_readers_whose_reviews_lean_towards_4_stars(runner):
    result = runner.invoke(args=["seed", "--count", "3000", "--seed", "5"])

    assert result.exit_code == 0, result.output
    ratings = dict(db.session.execute(text("SELECT rating, count(*) FROM reviews GROUP BY rating")).all())
    assert max(ratings, key=ratings.get) == 4
    assert ratings[1] < ratings[2] < ratings[3] < ratings[5] < ratings[4]
    assert db.session.scalar(text("SELECT count(*) FROM favorites")) > 0


def test_seed_readers_cannot_sign_in(runner, anonymous):
    runner.invoke(args=["seed", "--count", "10"])
    email = db.session.scalar(text("SELECT email FROM users LIMIT 1"))

    response = anonymous.post("/api/v1/auth/login", json={"email": email, "password": ""})

    assert response.status_code in (401, 422)


def test_seed_keeps_each_books_review_count_and_ratings_in_step_with_its_reviews(runner):
    runner.invoke(args=["seed", "--count", "500", "--seed", "5"])

    drift = db.session.scalar(text(
        "SELECT count(*) FROM books b LEFT JOIN (SELECT book_id, count(*) AS n, sum(rating) AS total FROM reviews "
        "GROUP BY book_id) r ON r.book_id = b.id "
        "WHERE b.review_count <> coalesce(r.n, 0) OR b.rating_total <> coalesce(r.total, 0)"))
    assert drift == 0

import factory
from factory.alchemy import SQLAlchemyModelFactory

from bookapi.accounts.models import User
from bookapi.accounts.passwords import hash_password
from bookapi.authors.models import Author
from bookapi.books.models import Book
from bookapi.categories.models import Category
from bookapi.extensions import db
from bookapi.favorites.models import Favorite
from bookapi.isbn import isbn13_check_digit
from bookapi.reviews.models import Review


def isbn13(n):
    first12 = f"978{n:09d}"
    return first12 + isbn13_check_digit(first12)


class BookPayload(factory.DictFactory):
    """A valid POST body."""

    title = factory.Faker("catch_phrase")
    author = factory.Faker("name")
    isbn = factory.Sequence(isbn13)
    published_date = factory.Faker("date", end_datetime="-1d")
    description = factory.Faker("sentence")


class BookFactory(SQLAlchemyModelFactory):
    class Meta:
        model = Book
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"

    title = factory.Faker("catch_phrase")
    author = factory.Faker("name")
    isbn = factory.Sequence(lambda n: isbn13(500_000_000 + n))
    published_date = factory.Faker("date_object", end_datetime="-1d")
    description = factory.Faker("sentence")


PASSWORD = "violet tractor harbour 1987"
# Hashed once for the whole run: argon2 is slow on purpose.
PASSWORD_HASH = hash_password(PASSWORD)


class UserFactory(SQLAlchemyModelFactory):
    class Meta:
        model = User
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"

    email = factory.Sequence(lambda n: f"reader{n}@example.com")
    password_hash = PASSWORD_HASH
    role = "user"
    display_name = factory.Faker("name")


class AuthorFactory(SQLAlchemyModelFactory):
    class Meta:
        model = Author
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"

    name = factory.Faker("name")
    bio = factory.Faker("sentence")
    birth_date = factory.Faker("date_object", end_datetime="-20y")
    nationality = factory.Faker("country")


class CategoryFactory(SQLAlchemyModelFactory):
    class Meta:
        model = Category
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"

    name = factory.Sequence(lambda n: f"Category {n}")
    description = factory.Faker("sentence")


def link(links, key, item, books):
    """Link ``books`` to ``item`` (an author or a category) through the link table ``links`` (its key ``key``)."""
    rows = [{"book_id": book.id, key: item.id, **({"position": 0} if "position" in links.c else {})}
            for book in books]
    if rows:
        db.session.execute(links.insert().values(rows))
        db.session.commit()


class ReadersBookFactory(SQLAlchemyModelFactory):
    """A row that ties a reader to a book: a new book and a new reader, unless given theirs."""

    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"

    book_id = factory.LazyFunction(lambda: BookFactory().id)
    user_id = factory.LazyFunction(lambda: UserFactory().id)


class ReviewFactory(ReadersBookFactory):
    class Meta:
        model = Review

    rating = factory.Faker("random_int", min=1, max=5)
    comment = factory.Faker("paragraph")


class FavoriteFactory(ReadersBookFactory):
    class Meta:
        model = Favorite

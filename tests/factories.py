import factory
from factory.alchemy import SQLAlchemyModelFactory

from bookapi.accounts.models import User
from bookapi.accounts.passwords import hash_password
from bookapi.books.models import Book
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

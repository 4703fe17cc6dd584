from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, Unmapped, mapped_column, relationship, unmapped_column, validates

from bookapi.extensions import db
from bookapi.isbn import to_isbn13
from bookapi.listing.collection import trigram_index

# Title weighs most in search ranking, then author, then description.
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english', title), 'A') || "
    "setweight(to_tsvector('english', author), 'B') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'C')"
)

# As PostgreSQL writes it back, so that `flask db check` finds it unchanged.
AVERAGE_RATING = ("CASE WHEN review_count > 0 THEN round(rating_total::numeric / review_count::numeric, 2) "
                  "ELSE NULL::numeric END")


class Book(db.Model):
    __tablename__ = "books"
    __table_args__ = (
        CheckConstraint("btrim(title) <> ''", name="title_not_blank"),
        CheckConstraint("btrim(author) <> ''", name="author_not_blank"),
        CheckConstraint("isbn ~ '^([0-9]{9}[0-9X]|[0-9]{13})$'", name="isbn_normalized"),
        CheckConstraint("isbn13 ~ '^97[89][0-9]{10}$'", name="isbn13_normalized"),
        # Every sort key with the id tiebreak, so keyset pages walk an index in either direction.
        Index("ix_books_title_id", "title", "id"),
        Index("ix_books_author_id", "author", "id"),
        Index("ix_books_published_date_id", "published_date", "id"),
        Index("ix_books_created_at_id", "created_at", "id"),
        Index("ix_books_lower_author_id", text("lower(author)"), "id"),
        Index("ix_books_search_vector", "search_vector", postgresql_using="gin"),
        trigram_index("ix_books_title_trgm", "title"),
        # Unrated books sort as 0, so that the rating is a key a cursor can hold (a null compares as nothing). The
        # rating itself rides along, so that a count of the books rated at least so much reads the index alone
        # (migration 0010).
        Index("ix_books_rating_id", text("coalesce(average_rating, 0)"), "id", postgresql_include=["average_rating"]),
        Index("ix_books_review_count_id", "review_count", "id"),
        # A linked book's rating, looked up by id from this index alone: how a list filtered by a link and a rating
        # is counted (migration 0011).
        Index("ix_books_id_rating", "id", postgresql_include=["average_rating"]),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    author: Mapped[str] = mapped_column(String(255))
    isbn: Mapped[str] = mapped_column(String(13))
    isbn13: Mapped[str] = mapped_column(String(13), unique=True)
    published_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    # Who added the book; kept as null when their account is deleted.
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # updated_at is the Last-Modified date, so it is taken when the row is written, not when the transaction began
    # (now()): a change that waited for a row lock is then never dated before the version it replaces. An insert
    # has no earlier version; one time for its whole statement keeps created_at equal to updated_at.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.statement_timestamp())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.statement_timestamp(), onupdate=func.clock_timestamp()
    )
    # Kept by a trigger on reviews (migration 0007) in the transaction of each review write; the average follows.
    review_count: Mapped[int] = mapped_column(Integer, server_default="0")
    rating_total: Mapped[int] = mapped_column(BigInteger, server_default="0")
    average_rating: Mapped[Decimal | None] = mapped_column(Numeric(3, 2), Computed(AVERAGE_RATING, persisted=True))
    # The search document lives in the table for its index, but no book needs to load it.
    search_vector: Unmapped[str | None] = unmapped_column(TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True))
    # The references to the book's authors and categories as its representation shows them (``[{id, name}]``), so
    # that reads take them with the row. Triggers on the links and on the names keep them (migration 0009); writes
    # go through the relationships below.
    author_refs: Unmapped[list] = unmapped_column(JSON, server_default=text("'[]'::json"), nullable=False)
    category_refs: Unmapped[list] = unmapped_column(JSON, server_default=text("'[]'::json"), nullable=False)

    # Read-only views of the links, which books/links.py writes (their order and counts are its business): first
    # author first, categories by name.
    authors: Mapped[list["Author"]] = relationship(  # noqa: F821
        secondary="book_authors", order_by="book_authors.c.position", viewonly=True
    )
    categories: Mapped[list["Category"]] = relationship(  # noqa: F821
        secondary="book_categories", order_by="(Category.name, Category.id)", viewonly=True
    )

    @validates("isbn")
    def keep_isbn13_in_step(self, key, isbn):
        self.isbn13 = to_isbn13(isbn)
        return isbn

    def __repr__(self):
        return f"<Book {self.id} {self.isbn13}>"


class SearchWord(db.Model):
    """The words of every title and author, kept by a trigger; search corrects misspelt words against them."""

    __tablename__ = "search_words"
    __table_args__ = (trigram_index("ix_search_words_word_trgm", "word"),)

    word: Mapped[str] = mapped_column(Text, primary_key=True)


# A book's authors, first author first, and its categories. Deleting a book unlinks it; an author with books
# cannot be deleted (the views say so first with a 409); deleting a category unlinks its books.
book_authors = Table(
    "book_authors",
    db.metadata,
    Column("book_id", BigInteger, ForeignKey("books.id", ondelete="CASCADE"), primary_key=True),
    Column("author_id", BigInteger, ForeignKey("authors.id", ondelete="RESTRICT"), primary_key=True),
    Column("position", SmallInteger, nullable=False),
    Index("ix_book_authors_author_id_book_id", "author_id", "book_id"),
)
book_categories = Table(
    "book_categories",
    db.metadata,
    Column("book_id", BigInteger, ForeignKey("books.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", BigInteger, ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_book_categories_category_id_book_id", "category_id", "book_id"),
)

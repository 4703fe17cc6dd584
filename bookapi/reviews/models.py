from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column

from bookapi.accounts.models import User
from bookapi.extensions import db


def reviewer_of(user_id):
    """The reviewer of the review by ``user_id``, as ``{id, display_name}``: never their email."""
    return select(func.json_build_object("id", User.id, "display_name", User.display_name)).where(
        User.id == user_id
    ).correlate_except(User).scalar_subquery()


class Review(db.Model):
    """A reader's rating of a book, with an optional comment. A trigger (migration 0007) keeps the book's
    review_count and rating_total in step, in the transaction of each review write."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_in_range"),
        # One review per reader and book: the database decides, so two racing reviews get one success.
        UniqueConstraint("book_id", "user_id", name="uq_reviews_book_id_user_id"),
        # A book's reviews in each sort order, from any position.
        Index("ix_reviews_book_id_created_at_id", "book_id", "created_at", "id"),
        Index("ix_reviews_book_id_rating_id", "book_id", "rating", "id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    book_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("books.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.statement_timestamp())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.statement_timestamp(), onupdate=func.clock_timestamp()
    )
    # Loaded by the SELECT that loads the review; a review never changes hands, so a flush need not read it again.
    reviewer: Mapped[dict] = column_property(reviewer_of(user_id), expire_on_flush=False)

    def __repr__(self):
        return f"<Review {self.id}>"

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, Identity, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, validates

from bookapi.extensions import db
from bookapi.isbn import to_isbn13


class Book(db.Model):
    __tablename__ = "books"
    __table_args__ = (
        CheckConstraint("btrim(title) <> ''", name="title_not_blank"),
        CheckConstraint("btrim(author) <> ''", name="author_not_blank"),
        CheckConstraint("isbn ~ '^([0-9]{9}[0-9X]|[0-9]{13})$'", name="isbn_normalized"),
        CheckConstraint("isbn13 ~ '^97[89][0-9]{10}$'", name="isbn13_normalized"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    author: Mapped[str] = mapped_column(String(255))
    isbn: Mapped[str] = mapped_column(String(13))
    isbn13: Mapped[str] = mapped_column(String(13), unique=True)
    published_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    @validates("isbn")
    def keep_isbn13_in_step(self, key, isbn):
        self.isbn13 = to_isbn13(isbn)
        return isbn

    def __repr__(self):
        return f"<Book {self.id} {self.isbn13}>"

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, Identity, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from bookapi.extensions import db
from bookapi.listing.collection import trigram_index


class Author(db.Model):
    __tablename__ = "authors"
    __table_args__ = (
        CheckConstraint("btrim(name) <> ''", name="name_not_blank"),
        CheckConstraint("book_count >= 0", name="book_count_not_negative"),
        # Every sort key with the id tiebreak, so keyset pages walk an index in either direction; names are found
        # by their trigrams, typo-tolerantly. Unknown birth dates sort last, as a date no one is born on (a cursor
        # cannot hold a null): authors/statements.py sorts by the same expression.
        Index("ix_authors_name_id", "name", "id"),
        Index("ix_authors_birth_date_sort_id", text("coalesce(birth_date, '9999-12-31'::date)"), "id"),
        Index("ix_authors_book_count_id", "book_count", "id"),
        Index("ix_authors_created_at_id", "created_at", "id"),
        trigram_index("ix_authors_name_trgm", "name"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str | None] = mapped_column(Text)
    birth_date: Mapped[date | None] = mapped_column(Date)
    nationality: Mapped[str | None] = mapped_column(String(100))
    # Kept by a trigger on book_authors (migrations 0007, 0008), in the transaction that links or unlinks a book,
    # which also sets updated_at.
    book_count: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.statement_timestamp())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.statement_timestamp(), onupdate=func.clock_timestamp()
    )

    def __repr__(self):
        return f"<Author {self.id}>"

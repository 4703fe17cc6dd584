from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from bookapi.extensions import db
from bookapi.listing.collection import trigram_index


class Category(db.Model):
    __tablename__ = "categories"
    __table_args__ = (
        CheckConstraint("btrim(name) <> ''", name="name_not_blank"),
        CheckConstraint("book_count >= 0", name="book_count_not_negative"),
        # Names are unique ignoring case: the database decides, so two racing creations get one success.
        Index("uq_categories_lower_name", text("lower(name)"), unique=True),
        Index("ix_categories_name_id", "name", "id"),
        Index("ix_categories_book_count_id", "book_count", "id"),
        Index("ix_categories_created_at_id", "created_at", "id"),
        trigram_index("ix_categories_name_trgm", "name"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    # Kept by a trigger on book_categories (migrations 0007, 0008), in the transaction that links or unlinks a
    # book, which also sets updated_at.
    book_count: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.statement_timestamp())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.statement_timestamp(), onupdate=func.clock_timestamp()
    )

    def __repr__(self):
        return f"<Category {self.id}>"

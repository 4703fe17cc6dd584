from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from bookapi.extensions import db


class Favorite(db.Model):
    __tablename__ = "favorites"
    __table_args__ = (
        # Once per reader and book: the database decides, so two racing requests get one success.
        UniqueConstraint("user_id", "book_id", name="uq_favorites_user_id_book_id"),
        # A reader's favorites, newest first, from any position.
        Index("ix_favorites_user_id_created_at_id", "user_id", "created_at", "id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    book_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("books.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.statement_timestamp())

    def __repr__(self):
        return f"<Favorite {self.id}>"

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, SmallInteger
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bookapi.extensions import db


class CatalogueStats(db.Model):
    """The catalogue's figures as last computed: one row, shared by every worker and instance."""

    __tablename__ = "catalogue_stats"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

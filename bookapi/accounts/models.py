"""Accounts and the tokens that sign them in."""
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bookapi.extensions import db
from bookapi.listing.collection import trigram_index

ROLES = ("user", "editor", "admin")


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'editor', 'admin')", name="role_known"),
        CheckConstraint("email = lower(btrim(email))", name="email_normalized"),
        # Emails are stored lower-cased; the index on lower() keeps them unique even for rows written by hand.
        Index("uq_users_email", text("lower(email)"), unique=True),
        # The last-admin check counts these.
        Index("ix_users_active_admins", "id", postgresql_where=text("role = 'admin' AND is_active")),
        # The admins' list: every sort key with the id tiebreak, alone and after each filter that selects many
        # rows (a role, active or not), so a page walks an index in its order from its place, filtered or not;
        # and part of an email is looked up by its trigrams.
        Index("ix_users_email_id", "email", "id"),
        Index("ix_users_created_at_id", "created_at", "id"),
        Index("ix_users_role_id", "role", "id"),
        Index("ix_users_role_email_id", "role", "email", "id"),
        Index("ix_users_role_created_at_id", "role", "created_at", "id"),
        Index("ix_users_role_is_active_id", "role", "is_active", "id"),
        Index("ix_users_is_active_id", "is_active", "id"),
        Index("ix_users_is_active_email_id", "is_active", "email", "id"),
        Index("ix_users_is_active_created_at_id", "is_active", "created_at", "id"),
        trigram_index("ix_users_email_trgm", "email"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), server_default="user")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    display_name: Mapped[str | None] = mapped_column(String(100))
    # Raised by a password change or a deactivation: every token that carries an older value is refused.
    token_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.clock_timestamp()
    )

    def __repr__(self):
        return f"<User {self.id} {self.role}>"


class RefreshToken(db.Model):
    """One refresh token, stored as its SHA-256 digest; the tokens rotated from one sign-in share a family."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RevokedAccessToken(db.Model):
    """Access tokens signed out before they expire, by ``jti``; kept until they would have expired anyway."""

    __tablename__ = "revoked_access_tokens"
    __table_args__ = (Index("ix_revoked_access_tokens_expires_at", "expires_at"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

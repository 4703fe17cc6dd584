"""Stamp books when they are written, not when their transaction began.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def set_stamp_defaults(default):
    for column in ("created_at", "updated_at"):
        op.alter_column("books", column, server_default=sa.text(default))


def upgrade():
    set_stamp_defaults("statement_timestamp()")


def downgrade():
    set_stamp_defaults("now()")

"""Indexes for the admins' list of accounts: each sort key with the id tiebreak, alone and after a role or an
active flag, and the trigrams of emails.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SORT_INDEXES = [("email", "id"), ("created_at", "id"), ("role", "id"), ("role", "email", "id"),
                ("role", "created_at", "id"), ("role", "is_active", "id"), ("is_active", "id"),
                ("is_active", "email", "id"), ("is_active", "created_at", "id")]


def upgrade():
    for columns in SORT_INDEXES:
        op.create_index(f"ix_users_{'_'.join(columns)}", "users", list(columns))
    op.create_index("ix_users_email_trgm", "users", ["email"], postgresql_using="gin",
                    postgresql_ops={"email": "gin_trgm_ops"})


def downgrade():
    op.drop_index("ix_users_email_trgm", "users")
    for columns in reversed(SORT_INDEXES):
        op.drop_index(f"ix_users_{'_'.join(columns)}", "users")

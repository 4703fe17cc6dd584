"""Create the books table.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "books",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("isbn", sa.String(length=13), nullable=False),
        sa.Column("isbn13", sa.String(length=13), nullable=False),
        sa.Column("published_date", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("btrim(author) <> ''", name=op.f("ck_books_author_not_blank")),
        sa.CheckConstraint("btrim(title) <> ''", name=op.f("ck_books_title_not_blank")),
        sa.CheckConstraint("isbn ~ '^([0-9]{9}[0-9X]|[0-9]{13})$'", name=op.f("ck_books_isbn_normalized")),
        sa.CheckConstraint("isbn13 ~ '^97[89][0-9]{10}$'", name=op.f("ck_books_isbn13_normalized")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_books")),
        sa.UniqueConstraint("isbn13", name=op.f("uq_books_isbn13")),
    )


def downgrade():
    op.drop_table("books")

"""An index of the books' ratings by id, so that a list filtered by a link and a rating looks each linked book's
rating up in an index alone.

Counting ``author_id=…&min_rating=3`` on 100,000 books (tests/test_query_plans.py), PostgreSQL had two ways: read
the rating index from 3 up (64,286 entries) and hash them against the author's 2,000 links, or look up each of
those 2,000 books. A look-up read the book's row for its rating, a random read it costs at 4, so the planner chose
the hash: 28 ms. With the rating beside the id in an index, a look-up reads that index alone; the planner then
looks up the 2,000 books, in 6 ms. The index adds one entry per book and is written when a book's rating changes,
which already rewrites the rating index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_books_id_rating", "books", ["id"], postgresql_include=["average_rating"])


def downgrade():
    op.drop_index("ix_books_id_rating", "books")

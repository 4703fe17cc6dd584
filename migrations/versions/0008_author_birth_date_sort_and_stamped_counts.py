"""Authors sort by birth date through a stand-in for unknown dates, and a book linked or unlinked dates its authors
and categories.

A keyset cursor cannot hold a null, so the authors' list sorts by coalesce(birth_date, '9999-12-31'): unknown dates
last, as nulls sort ascending; the index on (birth_date, id) gives way to one on that expression. book_count is
part of an author's and a category's representation, so the counting triggers also set updated_at (their
Last-Modified), as the reviews' trigger does for books.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIRTH_DATE_SORT = "coalesce(birth_date, '9999-12-31'::date)"
# A counting function: (the table it counts for, that table's key in the links).
COUNTERS = {"book_authors_count": ("authors", "author_id"), "book_categories_count": ("categories", "category_id")}
COUNT_LINKS = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE {counted} AS c SET book_count = c.book_count + d.n{stamp}
        FROM (SELECT {key}, count(*) AS n FROM changed_links GROUP BY {key}) AS d WHERE c.id = d.{key};
    ELSE
        UPDATE {counted} AS c SET book_count = c.book_count - d.n{stamp}
        FROM (SELECT {key}, count(*) AS n FROM changed_links GROUP BY {key}) AS d WHERE c.id = d.{key};
    END IF;
    RETURN NULL;
END
$$
"""
STAMP = ", updated_at = clock_timestamp()"


def replace_counters(stamp):
    for function, (counted, key) in COUNTERS.items():
        op.execute(COUNT_LINKS.format(function=function, counted=counted, key=key, stamp=stamp))


def upgrade():
    op.drop_index("ix_authors_birth_date_id", "authors")
    op.create_index("ix_authors_birth_date_sort_id", "authors", [sa.text(BIRTH_DATE_SORT), "id"])
    replace_counters(STAMP)


def downgrade():
    replace_counters("")
    op.drop_index("ix_authors_birth_date_sort_id", "authors")
    op.create_index("ix_authors_birth_date_id", "authors", ["birth_date", "id"])

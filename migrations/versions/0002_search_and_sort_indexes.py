"""Full-text and trigram search, and an index for every sort key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english', title), 'A') || "
    "setweight(to_tsvector('english', author), 'B') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'C')"
)
# Words of titles and authors, which people misspell when they search; descriptions would double the cost of
# every insert for words nobody looks up by name.
WORDS_OF_BOOK = "unnest(to_tsvector('simple', title || ' ' || author))"
COLLECT_WORDS = f"""
CREATE FUNCTION books_collect_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Sorted, so concurrent writers take the word locks in one order and cannot deadlock.
    INSERT INTO search_words (word)
    SELECT DISTINCT lexeme FROM new_rows, {WORDS_OF_BOOK}
    WHERE length(lexeme) BETWEEN 3 AND 64
    ORDER BY lexeme
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
"""


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.add_column("books", sa.Column("search_vector", TSVECTOR(), sa.Computed(SEARCH_DOCUMENT, persisted=True)))
    op.create_index("ix_books_search_vector", "books", ["search_vector"], postgresql_using="gin")
    op.create_index("ix_books_title_trgm", "books", ["title"], postgresql_using="gin",
                    postgresql_ops={"title": "gin_trgm_ops"})
    op.create_index("ix_books_lower_author_id", "books", [sa.text("lower(author)"), "id"])
    for column in ("title", "author", "published_date", "created_at"):
        op.create_index(f"ix_books_{column}_id", "books", [column, "id"])

    op.create_table("search_words", sa.Column("word", sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint("word", name=op.f("pk_search_words")))
    op.create_index("ix_search_words_word_trgm", "search_words", ["word"], postgresql_using="gin",
                    postgresql_ops={"word": "gin_trgm_ops"})
    op.execute(COLLECT_WORDS)
    for event in ("INSERT", "UPDATE"):
        op.execute(f"CREATE TRIGGER books_search_words_on_{event.lower()} AFTER {event} ON books "
                   "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION books_collect_search_words()")
    op.execute(f"INSERT INTO search_words (word) SELECT DISTINCT lexeme FROM books, {WORDS_OF_BOOK} "
               "WHERE length(lexeme) BETWEEN 3 AND 64")


def downgrade():
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER books_search_words_on_{event} ON books")
    op.execute("DROP FUNCTION books_collect_search_words()")
    op.drop_table("search_words")
    for column in ("title", "author", "published_date", "created_at"):
        op.drop_index(f"ix_books_{column}_id", "books")
    op.drop_index("ix_books_lower_author_id", "books")
    op.drop_index("ix_books_title_trgm", "books")
    op.drop_index("ix_books_search_vector", "books")
    op.drop_column("books", "search_vector")

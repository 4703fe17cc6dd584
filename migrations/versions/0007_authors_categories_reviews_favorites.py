"""Authors, categories, reviews, favorites and the catalogue's figures; books gain their links and ratings, and
every existing book is linked to an author made from its byline.

Counts are kept by statement-level triggers, in the transaction of each write, so they never drift and a bulk
statement updates each counted row once: authors' and categories' book_count from their links, books'
review_count and rating_total (whose average is a generated column) from their reviews. A review also dates its
book's Last-Modified, since it changes the book's representation.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# As PostgreSQL writes it back, so that `flask db check` finds it unchanged.
AVERAGE_RATING = ("CASE WHEN review_count > 0 THEN round(rating_total::numeric / review_count::numeric, 2) "
                  "ELSE NULL::numeric END")
# A counting function: (the link table it counts, the table it counts for, that table's key in the links).
COUNTERS = {
    "book_authors_count": ("book_authors", "authors", "author_id"),
    "book_categories_count": ("book_categories", "categories", "category_id"),
}
COUNT_LINKS = """
CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE {counted} AS c SET book_count = c.book_count + d.n
        FROM (SELECT {key}, count(*) AS n FROM changed_links GROUP BY {key}) AS d WHERE c.id = d.{key};
    ELSE
        UPDATE {counted} AS c SET book_count = c.book_count - d.n
        FROM (SELECT {key}, count(*) AS n FROM changed_links GROUP BY {key}) AS d WHERE c.id = d.{key};
    END IF;
    RETURN NULL;
END
$$
"""
COUNT_REVIEWS = """
CREATE FUNCTION reviews_rate_books() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE books AS b SET review_count = b.review_count + d.n, rating_total = b.rating_total + d.total,
                              updated_at = clock_timestamp()
        FROM (SELECT book_id, count(*) AS n, sum(rating) AS total FROM new_reviews GROUP BY book_id) AS d
        WHERE b.id = d.book_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE books AS b SET review_count = b.review_count - d.n, rating_total = b.rating_total - d.total,
                              updated_at = clock_timestamp()
        FROM (SELECT book_id, count(*) AS n, sum(rating) AS total FROM old_reviews GROUP BY book_id) AS d
        WHERE b.id = d.book_id;
    ELSE
        UPDATE books AS b SET rating_total = b.rating_total + d.total, updated_at = clock_timestamp()
        FROM (SELECT book_id, sum(rating) AS total FROM (
                  SELECT book_id, rating FROM new_reviews UNION ALL SELECT book_id, -rating FROM old_reviews
              ) AS changes GROUP BY book_id) AS d
        WHERE b.id = d.book_id AND d.total <> 0;
    END IF;
    RETURN NULL;
END
$$
"""


def stamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("statement_timestamp()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("statement_timestamp()"),
                  nullable=False),
    ]


def create_counted_tables():
    op.create_table(
        "authors",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("nationality", sa.String(length=100), nullable=True),
        sa.Column("book_count", sa.Integer(), server_default="0", nullable=False),
        *stamps(),
        sa.CheckConstraint("btrim(name) <> ''", name=op.f("ck_authors_name_not_blank")),
        sa.CheckConstraint("book_count >= 0", name=op.f("ck_authors_book_count_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authors")),
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("book_count", sa.Integer(), server_default="0", nullable=False),
        *stamps(),
        sa.CheckConstraint("btrim(name) <> ''", name=op.f("ck_categories_name_not_blank")),
        sa.CheckConstraint("book_count >= 0", name=op.f("ck_categories_book_count_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
    )


def index_counted_tables():
    for table, columns in (("authors", ("name", "birth_date", "book_count", "created_at")),
                           ("categories", ("name", "book_count", "created_at"))):
        for column in columns:
            op.create_index(f"ix_{table}_{column}_id", table, [column, "id"])
        op.create_index(f"ix_{table}_name_trgm", table, ["name"], postgresql_using="gin",
                        postgresql_ops={"name": "gin_trgm_ops"})
    op.create_index("uq_categories_lower_name", "categories", [sa.text("lower(name)")], unique=True)


def create_links():
    # Keyed, constrained and indexed once the existing books are linked (link_books_to_their_bylines): built once
    # over every link, rather than checked and grown a row at a time, which is many times slower on a large catalogue.
    op.create_table(
        "book_authors",
        sa.Column("book_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
    )
    op.create_table(
        "book_categories",
        sa.Column("book_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"], name=op.f("fk_book_categories_book_id_books"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"],
                                name=op.f("fk_book_categories_category_id_categories"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("book_id", "category_id", name=op.f("pk_book_categories")),
    )
    op.create_index("ix_book_categories_category_id_book_id", "book_categories", ["category_id", "book_id"])


def link_books_to_their_bylines():
    """An author for each distinct byline, counted as it is made, and each book linked to its byline's author:
    set-based statements before the counters exist, and the links' key, foreign keys and index built after them
    (seconds on a million books, where checking and indexing each link as it goes in took a minute and a half)."""
    op.execute("INSERT INTO authors (name, book_count) SELECT author, count(*) FROM books GROUP BY author "
               "ORDER BY author")
    op.execute("INSERT INTO book_authors (book_id, author_id, position) "
               "SELECT books.id, authors.id, 0 FROM books JOIN authors ON authors.name = books.author")
    op.create_primary_key(op.f("pk_book_authors"), "book_authors", ["book_id", "author_id"])
    op.create_foreign_key(op.f("fk_book_authors_book_id_books"), "book_authors", "books", ["book_id"], ["id"],
                          ondelete="CASCADE")
    op.create_foreign_key(op.f("fk_book_authors_author_id_authors"), "book_authors", "authors", ["author_id"], ["id"],
                          ondelete="RESTRICT")
    op.create_index("ix_book_authors_author_id_book_id", "book_authors", ["author_id", "book_id"])


def create_reviews_and_favorites():
    op.create_table(
        "reviews",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("book_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        *stamps(),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating_in_range")),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"], name=op.f("fk_reviews_book_id_books"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_reviews_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("book_id", "user_id", name="uq_reviews_book_id_user_id"),
    )
    op.create_index("ix_reviews_book_id_created_at_id", "reviews", ["book_id", "created_at", "id"])
    op.create_index("ix_reviews_book_id_rating_id", "reviews", ["book_id", "rating", "id"])
    op.create_index(op.f("ix_reviews_user_id"), "reviews", ["user_id"])
    op.create_table(
        "favorites",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("book_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("statement_timestamp()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"], name=op.f("fk_favorites_book_id_books"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_favorites_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_favorites")),
        sa.UniqueConstraint("user_id", "book_id", name="uq_favorites_user_id_book_id"),
    )
    op.create_index("ix_favorites_user_id_created_at_id", "favorites", ["user_id", "created_at", "id"])
    op.create_index(op.f("ix_favorites_book_id"), "favorites", ["book_id"])
    op.create_table(
        "catalogue_stats",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("figures", JSONB(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_catalogue_stats_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_stats")),
    )


def create_counters():
    for function, (links, counted, key) in COUNTERS.items():
        op.execute(COUNT_LINKS.format(function=function, counted=counted, key=key))
        for event, transition in (("INSERT", "NEW"), ("DELETE", "OLD")):
            op.execute(f"CREATE TRIGGER {links}_count_on_{event.lower()} AFTER {event} ON {links} "
                       f"REFERENCING {transition} TABLE AS changed_links FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION {function}()")
    op.execute(COUNT_REVIEWS)
    for event, transitions in (("INSERT", "NEW TABLE AS new_reviews"), ("DELETE", "OLD TABLE AS old_reviews"),
                               ("UPDATE", "OLD TABLE AS old_reviews NEW TABLE AS new_reviews")):
        op.execute(f"CREATE TRIGGER reviews_rate_books_on_{event.lower()} AFTER {event} ON reviews "
                   f"REFERENCING {transitions} FOR EACH STATEMENT EXECUTE FUNCTION reviews_rate_books()")


def upgrade():
    # One ALTER, so the table is rewritten once for the generated average.
    op.execute(f"ALTER TABLE books ADD COLUMN review_count integer DEFAULT 0 NOT NULL, "
               f"ADD COLUMN rating_total bigint DEFAULT 0 NOT NULL, "
               f"ADD COLUMN average_rating numeric(3, 2) GENERATED ALWAYS AS ({AVERAGE_RATING}) STORED")
    op.create_index("ix_books_rating_id", "books", [sa.text("coalesce(average_rating, 0)"), "id"])
    op.create_index("ix_books_review_count_id", "books", ["review_count", "id"])
    create_counted_tables()
    create_links()
    link_books_to_their_bylines()
    index_counted_tables()
    create_reviews_and_favorites()
    create_counters()


def downgrade():
    for links in COUNTERS.values():
        for event in ("insert", "delete"):
            op.execute(f"DROP TRIGGER {links[0]}_count_on_{event} ON {links[0]}")
    for function in COUNTERS:
        op.execute(f"DROP FUNCTION {function}()")
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER reviews_rate_books_on_{event} ON reviews")
    op.execute("DROP FUNCTION reviews_rate_books()")
    for table in ("catalogue_stats", "favorites", "reviews", "book_categories", "book_authors", "categories",
                  "authors"):
        op.drop_table(table)
    op.drop_index("ix_books_review_count_id", "books")
    op.drop_index("ix_books_rating_id", "books")
    for column in ("average_rating", "rating_total", "review_count"):
        op.drop_column("books", column)

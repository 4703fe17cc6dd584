"""Loading books in bulk: COPY into temporary staging tables, then a few set-based statements per batch.

Rows are ``StagedBook`` tuples (or plain tuples in ``COLUMNS`` order: books linked to nothing), already valid:
``line`` says where a row came from (a file line, or a counter), ``isbn`` is normalized and ``isbn13`` derived
from it, ``author`` is the byline, and ``authors`` and ``categories`` name what the book is linked to (first
author first; categories without repeats ignoring case). Every statement names its columns, so columns that
migrations add to books (with defaults, or generated) are left to the database.
"""
import io
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import NamedTuple

from sqlalchemy import text


class StagedBook(NamedTuple):
    line: int
    title: str
    author: str
    isbn: str
    isbn13: str
    published_date: object
    description: str | None
    authors: tuple = ()
    categories: tuple = ()


COLUMNS = StagedBook._fields[:7]
BOOK_COLUMNS = ", ".join(COLUMNS[1:])
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

CREATE_STAGED = text("""
    CREATE TEMP TABLE staged_books (
        line bigint NOT NULL,
        title text NOT NULL,
        author text NOT NULL,
        isbn text NOT NULL,
        isbn13 text NOT NULL,
        published_date date NOT NULL,
        description text
    ) ON COMMIT DELETE ROWS
""")
# The names each staged line links to, and the book each inserted line became.
CREATE_STAGED_LINKS = text("""
    CREATE TEMP TABLE staged_authors (line bigint NOT NULL, position smallint NOT NULL, name text NOT NULL)
        ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE staged_categories (line bigint NOT NULL, name text NOT NULL) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE placed_books (line bigint PRIMARY KEY, book_id bigint NOT NULL) ON COMMIT DELETE ROWS
""")
CREATE_STAGED_ISBNS = text("CREATE TEMP TABLE staged_isbns (isbn13 text PRIMARY KEY, line bigint NOT NULL)")
DROP_TABLES = text("DROP TABLE IF EXISTS staged_books, staged_authors, staged_categories, placed_books, staged_isbns")
# Batches take seconds: longer than the statement timeout that guards the API's requests.
LIFT_STATEMENT_TIMEOUT = text("SET LOCAL statement_timeout = 0")
COPY_STAGED = f"COPY staged_books ({', '.join(COLUMNS)}) FROM STDIN"
COPY_STAGED_AUTHORS = "COPY staged_authors (line, position, name) FROM STDIN"
COPY_STAGED_CATEGORIES = "COPY staged_categories (line, name) FROM STDIN"

# Every writer inserts books in ISBN-13 order (bulk create too): two writers that meet on some ISBNs then wait
# for each other's ISBNs in one order, never each for the other's, so they cannot deadlock. Of an ISBN staged
# twice, the first line goes in.
INSERT_NEW = text(f"""
    WITH inserted AS (
        INSERT INTO books ({BOOK_COLUMNS})
        SELECT DISTINCT ON (isbn13) {BOOK_COLUMNS} FROM staged_books ORDER BY isbn13, line
        ON CONFLICT (isbn13) DO NOTHING
        RETURNING id, isbn13
    ), placed AS (
        INSERT INTO placed_books (line, book_id)
        SELECT first.line, inserted.id
        FROM inserted JOIN (SELECT isbn13, min(line) AS line FROM staged_books GROUP BY isbn13) first USING (isbn13)
    )
    SELECT count(*) FROM inserted
""")  # nosec B608  # the only formatted part is BOOK_COLUMNS, a constant of this module

# The first line of each ISBN not met in an earlier batch is inserted; every other staged row comes back with
# the line it repeats (earlier in this batch, or in an earlier one), or with no line when the catalogue had it.
# All parts of the statement see one snapshot, so staged_isbns is read before this batch adds to it. Books are
# numbered in file order, then inserted in ISBN-13 order like every other writer's.
INSERT_NEW_RETURNING_THE_REST = text(f"""
    WITH staged AS (
        SELECT s.*, min(s.line) OVER (PARTITION BY s.isbn13) AS first_line, earlier.line AS earlier_line
        FROM staged_books s LEFT JOIN staged_isbns earlier USING (isbn13)
    ), fresh AS (
        SELECT * FROM staged WHERE line = first_line AND earlier_line IS NULL
    ), numbered AS (
        SELECT nextval(pg_get_serial_sequence('books', 'id')) AS id, *
        FROM (SELECT * FROM fresh ORDER BY line) in_file_order
    ), inserted AS (
        INSERT INTO books (id, {BOOK_COLUMNS})
        SELECT id, {BOOK_COLUMNS} FROM numbered ORDER BY isbn13
        ON CONFLICT (isbn13) DO NOTHING
        RETURNING id, isbn13
    ), placed AS (
        INSERT INTO placed_books (line, book_id) SELECT fresh.line, inserted.id FROM inserted JOIN fresh USING (isbn13)
    ), remembered AS (
        INSERT INTO staged_isbns (isbn13, line) SELECT isbn13, line FROM fresh
    )
    SELECT line, isbn13, coalesce(earlier_line, nullif(first_line, line)) AS duplicate_of
    FROM staged
    WHERE line <> first_line OR earlier_line IS NOT NULL OR isbn13 NOT IN (SELECT isbn13 FROM inserted)
    ORDER BY line
""")  # nosec B608  # the only formatted part is BOOK_COLUMNS, a constant of this module


# The books just placed are linked to their authors and categories by name, making the missing ones: authors
# by their exact name (the first, when several share it), categories ignoring case. Loads take turns at it under
# a transaction-level advisory lock: authors.name is not unique, so only taking turns keeps two loads from making
# the same author twice; and the counting triggers then update authors and categories one load at a time, so two
# loads cannot deadlock on those rows. The lock is held from here to the batch's commit; the books' own insert,
# the costly part, runs side by side.
LINK_LOCK = 0x4C49_4E4B_5301
LINK_STATEMENTS = tuple(text(statement) for statement in (
    f"SELECT pg_advisory_xact_lock({LINK_LOCK})",
    """INSERT INTO authors (name)
       SELECT DISTINCT s.name FROM staged_authors s JOIN placed_books USING (line)
       WHERE NOT EXISTS (SELECT FROM authors a WHERE a.name = s.name)
       ORDER BY s.name""",
    """INSERT INTO book_authors (book_id, author_id, position)
       SELECT p.book_id, a.id, s.position
       FROM staged_authors s JOIN placed_books p USING (line)
       CROSS JOIN LATERAL (SELECT id FROM authors WHERE authors.name = s.name ORDER BY id LIMIT 1) a""",
    # ON CONFLICT for a category that someone made through the API meanwhile; NOT EXISTS so as not to spend an
    # id on each name that exists already.
    """INSERT INTO categories (name)
       SELECT DISTINCT ON (lower(s.name)) s.name FROM staged_categories s JOIN placed_books USING (line)
       WHERE NOT EXISTS (SELECT FROM categories c WHERE lower(c.name) = lower(s.name))
       ORDER BY lower(s.name), s.line
       ON CONFLICT ((lower(name))) DO NOTHING""",
    """INSERT INTO book_categories (book_id, category_id)
       SELECT p.book_id, c.id
       FROM staged_categories s JOIN placed_books p USING (line) JOIN categories c ON lower(c.name) = lower(s.name)""",
))


@contextmanager
def tables(connection, remember_isbns=False):
    """Temporary tables on ``connection`` for the length of a load.

    ``remember_isbns`` keeps the ISBNs that earlier batches staged, so that a repeat in a later batch is
    reported as a repeat of its line. The tables are dropped at the end: a pooled connection outlives the load.
    """
    connection.execute(CREATE_STAGED)
    connection.execute(CREATE_STAGED_LINKS)
    if remember_isbns:
        connection.execute(CREATE_STAGED_ISBNS)
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(DROP_TABLES)
        connection.commit()


@contextmanager
def transaction(connection):
    with connection.begin():
        connection.execute(LIFT_STATEMENT_TIMEOUT)
        yield


def copy_field(value):
    return "\\N" if value is None else str(value).translate(COPY_ESCAPES)


def copy_text(rows):
    buffer = io.StringIO()
    buffer.writelines("\t".join(map(copy_field, row)) + "\n" for row in rows)
    buffer.seek(0)
    return buffer


def copy_to_staged(connection, rows):
    # A plain tuple in COLUMNS order is a book linked to nothing.
    rows = [StagedBook(*row) for row in rows]
    authors = [(row.line, position, name) for row in rows for position, name in enumerate(row.authors)]
    categories = [(row.line, name) for row in rows for name in row.categories]
    with connection.connection.cursor() as cursor:
        cursor.copy_expert(COPY_STAGED, copy_text(row[:len(COLUMNS)] for row in rows))
        cursor.copy_expert(COPY_STAGED_AUTHORS, copy_text(authors))
        cursor.copy_expert(COPY_STAGED_CATEGORIES, copy_text(categories))


def link_placed(connection):
    for statement in LINK_STATEMENTS:
        connection.execute(statement)


def load_new(connection, rows):
    """Insert the rows whose ISBN is not in the catalogue yet, linked to their authors and categories, in one
    transaction; return how many went in."""
    with transaction(connection):
        copy_to_staged(connection, rows)
        inserted = connection.execute(INSERT_NEW).scalar()
        link_placed(connection)
        return inserted


def load_returning_duplicates(connection, rows):
    """Insert the rows whose ISBN is new, linked to their authors and categories, in one transaction; return
    ``(line, isbn13, duplicate_of)`` of the rest.

    ``duplicate_of`` is the earlier line with the same ISBN-13, or None when the catalogue had it already.
    Needs ``tables(connection, remember_isbns=True)``.
    """
    with transaction(connection):
        copy_to_staged(connection, rows)
        duplicates = connection.execute(INSERT_NEW_RETURNING_THE_REST).all()
        link_placed(connection)
        return duplicates


def read_ahead(batches):
    """The batches, each prepared on a worker thread while the caller loads the one before.

    Reading, validating or generating rows is Python work; loading is mostly waiting for the server, with the
    GIL released, so the two overlap. An error in preparing a batch surfaces when the caller asks for it.
    """
    iterator = iter(batches)
    with ThreadPoolExecutor(max_workers=1) as worker:
        pending = worker.submit(next, iterator, None)
        while (batch := pending.result()) is not None:
            pending = worker.submit(next, iterator, None)
            yield batch

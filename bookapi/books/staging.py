"""Loading books in bulk: COPY into a temporary staging table, then one INSERT … SELECT per batch.

Rows are tuples in ``COLUMNS`` order, already valid: ``line`` says where a row came from (a file line, or a
counter), ``isbn`` is normalized and ``isbn13`` derived from it. Every statement names its columns, so columns
that migrations add to books (with defaults, or generated) are left to the database.
"""
import io
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy import text

COLUMNS = ("line", "title", "author", "isbn", "isbn13", "published_date", "description")
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
CREATE_STAGED_ISBNS = text("CREATE TEMP TABLE staged_isbns (isbn13 text PRIMARY KEY, line bigint NOT NULL)")
DROP_TABLES = text("DROP TABLE IF EXISTS staged_books, staged_isbns")
# Batches take seconds: longer than the statement timeout that guards the API's requests.
LIFT_STATEMENT_TIMEOUT = text("SET LOCAL statement_timeout = 0")
COPY_STAGED = f"COPY staged_books ({', '.join(COLUMNS)}) FROM STDIN"

# Every writer inserts books in ISBN-13 order (bulk create too): two writers that meet on some ISBNs then wait
# for each other's ISBNs in one order, never each for the other's, so they cannot deadlock.
INSERT_NEW = text(f"""
    INSERT INTO books ({BOOK_COLUMNS})
    SELECT {BOOK_COLUMNS} FROM staged_books ORDER BY isbn13
    ON CONFLICT (isbn13) DO NOTHING
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
        RETURNING isbn13
    ), remembered AS (
        INSERT INTO staged_isbns (isbn13, line) SELECT isbn13, line FROM fresh
    )
    SELECT line, isbn13, coalesce(earlier_line, nullif(first_line, line)) AS duplicate_of
    FROM staged
    WHERE line <> first_line OR earlier_line IS NOT NULL OR isbn13 NOT IN (SELECT isbn13 FROM inserted)
    ORDER BY line
""")  # nosec B608  # the only formatted part is BOOK_COLUMNS, a constant of this module


@contextmanager
def tables(connection, remember_isbns=False):
    """Temporary tables on ``connection`` for the length of a load.

    ``remember_isbns`` keeps the ISBNs that earlier batches staged, so that a repeat in a later batch is
    reported as a repeat of its line. The tables are dropped at the end: a pooled connection outlives the load.
    """
    connection.execute(CREATE_STAGED)
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
    with connection.connection.cursor() as cursor:
        cursor.copy_expert(COPY_STAGED, copy_text(rows))


def load_new(connection, rows):
    """Insert the rows whose ISBN is not in the catalogue yet, in one transaction; return how many went in."""
    with transaction(connection):
        copy_to_staged(connection, rows)
        return connection.execute(INSERT_NEW).rowcount


def load_returning_duplicates(connection, rows):
    """Insert the rows whose ISBN is new, in one transaction; return ``(line, isbn13, duplicate_of)`` of the rest.

    ``duplicate_of`` is the earlier line with the same ISBN-13, or None when the catalogue had it already.
    Needs ``tables(connection, remember_isbns=True)``.
    """
    with transaction(connection):
        copy_to_staged(connection, rows)
        return connection.execute(INSERT_NEW_RETURNING_THE_REST).all()


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

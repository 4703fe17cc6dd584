"""Books to and from CSV and JSON Lines, a batch at a time, so memory stays flat whatever the size of the file."""
import csv
import io
import itertools
from contextlib import contextmanager
from datetime import date
from functools import partial
from typing import NamedTuple

import orjson
from marshmallow import ValidationError
from sqlalchemy import func, select

from bookapi.books import staging
from bookapi.books.cells import from_cell, to_cell
from bookapi.books.models import Book
from bookapi.books.schemas import book_schema
from bookapi.conflicts import retry_once_on_conflict
from bookapi.isbn import to_isbn13

EXPORT_COLUMNS = (
    "id", "title", "author", "isbn", "isbn13", "published_date", "description", "created_by", "created_at",
    "updated_at",
)
# Export writes them and the API dumps them, but they are the database's to set: import skips them, so an
# exported file re-imports as it is (new ids and timestamps, isbn13 computed again from isbn).
READ_ONLY_FIELDS = frozenset(name for name, field in book_schema.fields.items() if field.dump_only)
# The csv module refuses fields over 131,072 characters, and the error stops the whole file. Far longer than any
# valid value (a description is 10,000 characters at most), a field up to this long reaches validation and is
# rejected with its line; past it, as with a quote never closed, reading stops rather than fill the memory.
CSV_FIELD_LIMIT = 16 * 1024 * 1024


class Rejection(NamedTuple):
    line: int
    reason: str


class ByteCounter(io.RawIOBase):
    """A binary stream that counts the bytes read through it: progress over a file or a pipe alike."""

    def __init__(self, stream):
        self.stream = stream
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        size = self.stream.readinto(buffer)
        self.bytes_read += size
        return size


def text_reader(counter):
    # utf-8-sig drops the byte order mark that spreadsheet programs put in front of CSV files.
    return io.TextIOWrapper(io.BufferedReader(counter), encoding="utf-8-sig", newline="")


@contextmanager
def text_writer(binary):
    text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
    try:
        yield text
    finally:
        text.flush()
        # Detached, the wrapper leaves closing to whoever opened the file (stdout stays open).
        text.detach()


def csv_records(text, escape_formulas):
    """``(line, record)`` per data row, or its Rejection. Empty cells are left out: a missing value (an empty
    description is none); other cells are read back as ``cells.to_cell`` wrote them.

    A row the csv module cannot read raises ``csv.Error`` naming the line the row starts on.
    """
    # The limit is the process's: set here, where it is needed, rather than on import.
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(text)
    end = 0
    try:
        header = [name.strip() for name in next(reader, [])]
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not cells:
                continue
            if len(cells) != len(header):
                yield Rejection(start, f"Has {len(cells)} fields where the header has {len(header)}.")
            else:
                yield start, {name: from_cell(cell, escape_formulas) for name, cell in zip(header, cells) if cell}
    except csv.Error as error:
        raise csv.Error(f"line {end + 1}: {error}") from error


def jsonl_records(text, escape_formulas):
    """``(line, record)`` per non-blank line, or its Rejection. (JSON has no formulas to escape.)"""
    for line, content in enumerate(text, start=1):
        if content.strip():
            yield json_record(line, content)


def json_record(line, content):
    try:
        record = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        return Rejection(line, f"Not valid JSON: {error}.")
    return (line, record) if isinstance(record, dict) else Rejection(line, "Not a JSON object.")


READERS = {"csv": csv_records, "jsonl": jsonl_records}


def describe(messages):
    return "; ".join(f"{field}: {' '.join(errors)}" for field, errors in messages.items())


def staged_row(line, record):
    """The row to stage for a record, validated by the API's schema; or its Rejection."""
    try:
        book = book_schema.load({key: value for key, value in record.items() if key not in READ_ONLY_FIELDS})
    except ValidationError as error:
        return Rejection(line, describe(error.messages))
    isbn = book["isbn"]
    return line, book["title"], book["author"], isbn, to_isbn13(isbn), book["published_date"], book.get("description")


def duplicate_rejection(line, isbn13, duplicate_of):
    if duplicate_of is None:
        return Rejection(line, f"ISBN {isbn13} already exists.")
    return Rejection(line, f"Duplicate of line {duplicate_of} (ISBN {isbn13}).")


def batched(iterable, size):
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class BatchOutcome(NamedTuple):
    imported: int
    rejections: list


def screened(batch):
    """``(rows, rejections)``: the rows of a batch to stage, and the Rejection of each record that is not valid."""
    rows, rejections = [], []
    for item in batch:
        outcome = item if isinstance(item, Rejection) else staged_row(*item)
        (rejections if isinstance(outcome, Rejection) else rows).append(outcome)
    return rows, rejections


def load_screened(connection, rows, rejections):
    duplicates = retry_once_on_conflict(partial(staging.load_returning_duplicates, connection, rows)) if rows else []
    rejections += [duplicate_rejection(*duplicate) for duplicate in duplicates]
    return BatchOutcome(len(rows) - len(duplicates), sorted(rejections))


def import_books(connection, text, file_format, batch_size, escape_formulas=True):
    """Validate and load the books in ``text``, committing each batch; yield a BatchOutcome per batch.

    The next batch is read and validated while the database loads the one before.
    """
    batches = map(screened, batched(READERS[file_format](text, escape_formulas), batch_size))
    with staging.tables(connection, remember_isbns=True):
        for rows, rejections in staging.read_ahead(batches):
            yield load_screened(connection, rows, rejections)


def count_books(connection):
    return connection.scalar(select(func.count()).select_from(Book))


def csv_cell(value, escape_formulas):
    if isinstance(value, str):
        return to_cell(value, escape_formulas)
    return value.isoformat() if isinstance(value, date) else value


def csv_writer(text, escape_formulas):
    writer = csv.writer(text)
    writer.writerow(EXPORT_COLUMNS)

    def write(rows):
        writer.writerows([csv_cell(value, escape_formulas) for value in row] for row in rows)

    return write


def jsonl_writer(text, escape_formulas):
    def write(rows):
        text.writelines(orjson.dumps(row._asdict()).decode() + "\n" for row in rows)

    return write


WRITERS = {"csv": csv_writer, "jsonl": jsonl_writer}


def export_books(connection, text, file_format, batch_size, escape_formulas=True):
    """Write every book to ``text`` in id order; yield how many each batch wrote.

    Rows come through a server-side cursor, ``batch_size`` at a time.
    """
    write = WRITERS[file_format](text, escape_formulas)
    query = select(*(Book.__table__.c[name] for name in EXPORT_COLUMNS)).order_by(Book.id)
    for rows in connection.execute(query.execution_options(yield_per=batch_size)).partitions():
        write(rows)
        yield len(rows)

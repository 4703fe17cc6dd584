"""Books to and from CSV and JSON Lines, a batch at a time, so memory stays flat whatever the size of the file."""
import csv
import io
import itertools
from contextlib import contextmanager
from datetime import date
from functools import partial
from typing import NamedTuple

import orjson
from marshmallow import ValidationError, fields, post_load, validate
from sqlalchemy import Float, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from bookapi.authors.models import Author
from bookapi.books import staging
from bookapi.books.cells import from_cell, to_cell
from bookapi.books.models import Book, book_authors, book_categories
from bookapi.books.schemas import NAME, BookSchema
from bookapi.categories.models import Category
from bookapi.conflicts import retry_once_on_conflict
from bookapi.fields import Text
from bookapi.isbn import to_isbn13

EXPORT_COLUMNS = (
    "id", "title", "author", "isbn", "isbn13", "published_date", "description", "categories", "average_rating",
    "review_count", "created_by", "created_at", "updated_at",
)
# A file's author and categories cells list names separated by this, first author first.
NAME_SEPARATOR = ";"
EXPORTED_SEPARATOR = literal_column(f"'{NAME_SEPARATOR} '")
BYLINE_SEPARATOR = ", "


class Names(fields.String):
    """Names separated by ``;``, each one a ``Text`` within ``length``, loaded as a tuple in their order; empty
    ones are skipped and a repeat (the same ``key``) is dropped."""

    default_error_messages = {"empty": "Must name at least one."}

    def __init__(self, length, key=str, **kwargs):
        super().__init__(metadata={"description": f"Names separated by '{NAME_SEPARATOR}'."}, **kwargs)
        self.name = Text(validate=length)
        self.key = key

    def _deserialize(self, value, attr, data, **kwargs):
        cell = super()._deserialize(value, attr, data, **kwargs)
        names = {}
        for part in cell.split(NAME_SEPARATOR):
            if part.strip():
                name = self.name.deserialize(part)
                names.setdefault(self.key(name), name)
        if self.required and not names:
            raise self.make_error("empty")
        return tuple(names.values())


class FileBookSchema(BookSchema):
    """A book as an import file holds it: ``author`` lists the book's authors (its byline is their names joined by
    ", ") and ``categories``, optional, its categories, matched by name ignoring case; by name, not by id."""

    class Meta:
        exclude = ("author_ids", "category_ids")

    author = Names(NAME, required=True)
    categories = Names(validate.Length(min=1, max=100), key=str.casefold, allow_none=True)
    average_rating = fields.Decimal(dump_only=True)
    review_count = fields.Integer(dump_only=True)

    @post_load
    def byline(self, book, **kwargs):
        byline = BYLINE_SEPARATOR.join(book["author"])
        if len(byline) > NAME.max:
            raise ValidationError(f"The names joined by {BYLINE_SEPARATOR!r} must be {NAME.max} characters at most.",
                                  "author")
        return {**book, "authors": book["author"], "author": byline, "categories": book.get("categories") or ()}


file_book_schema = FileBookSchema()
# Export writes them and the API dumps them, but they are the database's to set: import skips them, so an
# exported file re-imports as it is (new ids and timestamps, isbn13 computed again from isbn, ratings from reviews).
READ_ONLY_FIELDS = frozenset(name for name, field in file_book_schema.fields.items() if field.dump_only)
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
        book = file_book_schema.load({key: value for key, value in record.items() if key not in READ_ONLY_FIELDS})
    except ValidationError as error:
        return Rejection(line, describe(error.messages))
    isbn = book["isbn"]
    return staging.StagedBook(line, book["title"], book["author"], isbn, to_isbn13(isbn), book["published_date"],
                              book.get("description"), book["authors"], book["categories"])


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


def linked_names(name, links, order):
    """The names of a book's linked authors or categories, in ``order``, separated as import reads them."""
    return (select(func.string_agg(name, aggregate_order_by(EXPORTED_SEPARATOR, *order)))
            .select_from(links).join(name.table).where(links.c.book_id == Book.id).scalar_subquery())


EXPORTED = {
    **{name: column for name, column in Book.__table__.c.items() if name in EXPORT_COLUMNS},
    # The byline stands in for a book linked to no author, which import then links to one of that name.
    "author": func.coalesce(linked_names(Author.name, book_authors, [book_authors.c.position]), Book.author),
    "categories": linked_names(Category.name, book_categories, [func.lower(Category.name), Category.id]),
    # A number in JSON, like the API's; the two decimals of numeric(3, 2) survive the float.
    "average_rating": cast(Book.average_rating, Float),
}
EXPORT_QUERY = select(*(EXPORTED[name].label(name) for name in EXPORT_COLUMNS)).order_by(Book.id)


def export_books(connection, text, file_format, batch_size, escape_formulas=True):
    """Write every book to ``text`` in id order; yield how many each batch wrote.

    Rows come through a server-side cursor, ``batch_size`` at a time.
    """
    write = WRITERS[file_format](text, escape_formulas)
    for rows in connection.execute(EXPORT_QUERY.execution_options(yield_per=batch_size)).partitions():
        write(rows)
        yield len(rows)

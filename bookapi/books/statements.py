"""The statements of book reads: the two lookups, and the books' list declared for the list machinery."""
from sqlalchemy import bindparam, func, select

from bookapi.books.models import Book
from bookapi.books.search import BOOK_SEARCH, SEARCH_VECTOR
from bookapi.isbn import to_isbn13
from bookapi.listing.collection import Collection, Filter, contains

# Hot reads select these columns as plain rows; mapped objects are for writes.
BOOK_COLUMNS = [column for column in Book.__table__.c if column is not SEARCH_VECTOR]
BOOK_BY_ID = select(*BOOK_COLUMNS).where(Book.id == bindparam("book_id"))
BOOK_BY_ISBN13 = select(*BOOK_COLUMNS).where(Book.isbn13 == bindparam("isbn13"))
BOOKS_BY_IDS = select(*BOOK_COLUMNS).where(Book.id == func.any(bindparam("ids")))
BOOK_LIST = Collection(
    table=Book.__table__,
    columns=BOOK_COLUMNS,
    sort_keys={
        "title": Book.title, "author": Book.author, "published_date": Book.published_date,
        "created_at": Book.created_at, "id": Book.id,
    },
    filters={
        "author": Filter(func.lower(Book.author) == func.lower(bindparam("author"))),
        "title": contains(Book.title, "title"),
        "isbn": Filter(Book.isbn13 == bindparam("isbn"), to_isbn13),
        "published_after": Filter(Book.published_date >= bindparam("published_after")),
        "published_before": Filter(Book.published_date <= bindparam("published_before")),
    },
    search=BOOK_SEARCH,
    # The books' cursors were signed before collections had scopes: the empty one keeps those clients hold valid.
    cursor_scope=b"",
)
# Every key a book cursor can carry at its widest, with the longest correction.
MAX_CURSOR_LENGTH = BOOK_LIST.max_cursor_length

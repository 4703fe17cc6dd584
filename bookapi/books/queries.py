"""Named queries over books; each returns a ``Select`` or runs one small statement."""
from flask import abort
from sqlalchemy import func, select, text

from bookapi.books.models import Book
from bookapi.extensions import db

MAX_ID = 2**63 - 1


def books_page(page, size):
    return select(Book).order_by(Book.id).limit(size).offset((page - 1) * size)


def capped_count(query, cap):
    """Rows in ``query``, counting no further than ``cap + 1``."""
    return select(func.count()).select_from(query.limit(cap + 1).subquery())


def estimated_book_count():
    """The planner's row estimate for the books table: free, and close after autovacuum's ANALYZE."""
    return text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'books'::regclass")


def count_books(cap, exact=False):
    """``(total, is_estimate)``: exact up to ``cap`` rows (or always, when asked), estimated above."""
    if exact:
        return db.session.scalar(select(func.count()).select_from(Book)), False
    counted = db.session.scalar(capped_count(select(Book.id), cap))
    if counted <= cap:
        return counted, False
    return max(db.session.scalar(estimated_book_count()), counted), True


def get_book_or_404(book_id):
    book = db.session.get(Book, book_id) if 0 < book_id <= MAX_ID else None
    if book is None:
        abort(404, f"Book with id {book_id} not found")
    return book

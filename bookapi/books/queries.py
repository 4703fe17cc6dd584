"""Named queries over books: lookups, and pages of the books' list (see BOOK_LIST in books/statements.py)."""
from flask import abort

from bookapi import reads
from bookapi.books.models import Book
from bookapi.books.statements import BOOK_BY_ID, BOOK_BY_ISBN13, BOOK_LIST
from bookapi.extensions import db
from bookapi.isbn import to_isbn13
from bookapi.listing.pages import find_page

MAX_ID = 2**63 - 1


def book_not_found(book_id):
    abort(404, f"Book with id {book_id} not found")


def get_book_or_404(book_id, for_update=False):
    """The book, row-locked until commit when it is about to change (so If-Match cannot race); else 404."""
    book = db.session.get(Book, book_id, with_for_update=for_update) if 0 < book_id <= MAX_ID else None
    if book is None:
        book_not_found(book_id)
    return book


def book_by_isbn_or_404(isbn):
    return first_or_404(BOOK_BY_ISBN13, {"isbn13": to_isbn13(isbn)}, f"Book with ISBN {isbn} not found")


def first_or_404(statement, parameters, detail):
    found = reads.records(statement, parameters)
    if not found:
        abort(404, detail)
    return found[0]


def book_row_or_404(book_id):
    """A book as a row, for reading: lighter than loading the mapped object."""
    if not 0 < book_id <= MAX_ID:
        book_not_found(book_id)
    return first_or_404(BOOK_BY_ID, {"book_id": book_id}, f"Book with id {book_id} not found")


def find_books(args, count_cap):
    """One page of the books ``args`` select, by offset page or by cursor."""
    return find_page(BOOK_LIST, args, count_cap)

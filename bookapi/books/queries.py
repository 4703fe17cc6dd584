"""Named queries over books: lookups, and pages of the books' list (see BOOK_LIST in books/statements.py)."""
from bookapi import reads
from bookapi.books.models import Book
from bookapi.books.statements import BOOK_BY_ID, BOOK_BY_ISBN13, BOOK_LIST, BOOKS_BY_IDS
from bookapi.isbn import to_isbn13
from bookapi.listing.pages import find_page
from bookapi.resources import get_or_404, id_or_404, row_or_404


def not_found(book_id):
    return f"Book with id {book_id} not found"


def get_book_or_404(book_id, for_update=False):
    """The book, row-locked until commit when it is about to change; else 404."""
    return get_or_404(Book, book_id, not_found(book_id), for_update)


def book_by_isbn_or_404(isbn):
    return row_or_404(BOOK_BY_ISBN13, {"isbn13": to_isbn13(isbn)}, f"Book with ISBN {isbn} not found")


def book_row_or_404(book_id):
    """A book as a row, for reading: lighter than loading the mapped object."""
    return row_or_404(BOOK_BY_ID, {"book_id": id_or_404(book_id, not_found(book_id))}, not_found(book_id))


def find_books(args, count_cap):
    """One page of the books ``args`` select, by offset page or by cursor."""
    return find_page(BOOK_LIST, args, count_cap)


def books_by_ids(ids):
    """The books with these ids, as rows of their representation, by id (missing ones are left out)."""
    return {row["id"]: row for row in reads.records(BOOKS_BY_IDS, {"ids": list(ids)})}

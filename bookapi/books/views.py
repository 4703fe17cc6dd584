from flask import g, jsonify, url_for

from bookapi.access import public, requires_role
from bookapi.books import bp
from bookapi.books.batch import create_many
from bookapi.books.links import relink, store_links, take_links
from bookapi.books.models import Book
from bookapi.books.queries import book_by_isbn_or_404, book_row_or_404, find_books, get_book_or_404
from bookapi.books.schemas import (
    book_list_args_schema,
    book_page_schema,
    book_schema,
    book_update_schema,
    bulk_args_schema,
    bulk_result_schema,
    category_ids_schema,
    isbn_args_schema,
)
from bookapi.caching import conditional
from bookapi.extensions import db
from bookapi.idempotency import idempotent
from bookapi.listing.responses import list_operation, list_response
from bookapi.openapi import operation
from bookapi.payloads import PATCH_TYPES, advertise_patch, json_object
from bookapi.resources import change, delete, message_schema, tagged

advertise_patch(bp, "book_id")


@bp.get("")
@public
@list_operation(book_list_args_schema, book_page_schema)
def list_books():
    """Find books: search, filter, sort, and page by offset or by cursor."""
    return list_response(find_books, book_list_args_schema, book_page_schema)


@bp.post("")
@requires_role("editor")
@idempotent
@operation(body=book_schema, response=book_schema, status=201)
def create_book():
    """Add a book; its ISBN must not be in the catalogue yet."""
    data = book_schema.load(json_object())
    links = take_links(data)
    book = Book(**data, created_by=g.user.id)
    db.session.add(book)
    db.session.flush()  # for the id and the stamps; @idempotent commits
    store_links({book.id: links})
    return tagged(book, book_schema, 201, {"Location": url_for(".get_book", book_id=book.id)})


@bp.post("/bulk")
@requires_role("editor")
@idempotent
@operation(body=bulk_args_schema, response=bulk_result_schema)
def create_books():
    """Add up to 1,000 books; every item reports its own status."""
    args = bulk_args_schema.load(json_object())
    return bulk_result_schema.dump(create_many(args["items"], atomic=args["atomic"], created_by=g.user.id))


@bp.get("/<int:book_id>")
@public
@operation(response=book_schema, cached=True)
def get_book(book_id):
    """Read one book."""
    book = book_row_or_404(book_id)
    return conditional(jsonify(book_schema.dump(book)), last_modified=book["updated_at"])


@bp.get("/isbn/<isbn>")
@public
@operation(path=isbn_args_schema, response=book_schema, cached=True)
def get_book_by_isbn(isbn):
    """Read the book with an ISBN-10 or ISBN-13, in any spelling."""
    isbn = isbn_args_schema.load({"isbn": isbn})["isbn"]
    book = book_by_isbn_or_404(isbn)
    return conditional(jsonify(book_schema.dump(book)), last_modified=book["updated_at"])


@bp.put("/<int:book_id>")
@requires_role("editor")
@operation(body=book_update_schema, response=book_schema, preconditions=True)
def update_book(book_id):
    """Change the fields sent and leave the rest as they are."""
    return change_book(book_id, book_update_schema.load(json_object()))


@bp.patch("/<int:book_id>")
@requires_role("editor")
@operation(body=book_update_schema, response=book_schema, preconditions=True, media_types=PATCH_TYPES)
def patch_book(book_id):
    """Merge-patch a book (RFC 7396): fields sent change, `null` clears the description."""
    return change_book(book_id, book_update_schema.load(json_object(PATCH_TYPES)))


@bp.delete("/<int:book_id>")
@requires_role("admin")
@operation(response=message_schema, preconditions=True)
def delete_book(book_id):
    """Remove a book."""
    return delete(get_book_or_404(book_id, for_update=True), book_schema, "Book deleted successfully")


@bp.put("/<int:book_id>/categories")
@requires_role("editor")
@operation(body=category_ids_schema, response=book_schema, preconditions=True)
def set_book_categories(book_id):
    """Replace the book's categories (`[]` clears them)."""
    return change_book(book_id, category_ids_schema.load(json_object()))


def change_book(book_id, changes):
    book = get_book_or_404(book_id, for_update=True)
    links = take_links(changes)
    return change(book, changes, book_schema, also=lambda book: relink(book, links))

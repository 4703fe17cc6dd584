from math import ceil

from flask import current_app, request, url_for

from bookapi.books import bp
from bookapi.books.models import Book
from bookapi.books.queries import books_page, count_books, get_book_or_404
from bookapi.books.schemas import (
    book_list_args_schema, book_page_schema, book_schema, book_update_schema, message_schema,
)
from bookapi.extensions import db
from bookapi.openapi import operation
from bookapi.payloads import json_object


@bp.get("")
@operation(args=book_list_args_schema, response=book_page_schema)
def list_books():
    """List books by id, a page at a time."""
    args = book_list_args_schema.load(request.args)
    books = db.session.scalars(books_page(args["page"], args["size"])).all()
    total, is_estimate = count_books(current_app.config["LIST_COUNT_CAP"], exact=args["count"] == "exact")
    return book_page_schema.dump({
        "items": books, "page": args["page"], "size": args["size"],
        "total": total, "pages": ceil(total / args["size"]), "total_is_estimate": is_estimate,
    })


@bp.post("")
@operation(body=book_schema, response=book_schema, status=201)
def create_book():
    """Add a book; its ISBN must not be in the catalogue yet."""
    book = Book(**book_schema.load(json_object()))
    db.session.add(book)
    db.session.commit()
    return book_schema.dump(book), 201, {"Location": url_for(".get_book", book_id=book.id)}


@bp.get("/<int:book_id>")
@operation(response=book_schema)
def get_book(book_id):
    """Read one book."""
    return book_schema.dump(get_book_or_404(book_id))


@bp.put("/<int:book_id>")
@operation(body=book_update_schema, response=book_schema)
def update_book(book_id):
    """Change the fields sent and leave the rest as they are."""
    changes = book_update_schema.load(json_object())
    book = get_book_or_404(book_id)
    for field, value in changes.items():
        setattr(book, field, value)
    db.session.commit()
    return book_schema.dump(book)


@bp.delete("/<int:book_id>")
@operation(response=message_schema)
def delete_book(book_id):
    """Remove a book."""
    db.session.delete(get_book_or_404(book_id))
    db.session.commit()
    return message_schema.dump({"message": "Book deleted successfully"})

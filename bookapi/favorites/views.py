from flask import g, url_for

from bookapi.access import login_required
from bookapi.extensions import db
from bookapi.favorites import bp
from bookapi.favorites.queries import add_favorite, find_favorites, remove_favorite
from bookapi.favorites.schemas import favorite_added_schema, favorite_list_args_schema, favorite_page_schema
from bookapi.idempotency import idempotent
from bookapi.listing.responses import list_operation, list_response
from bookapi.openapi import operation
from bookapi.resources import message_schema


@bp.post("/books/<int:book_id>/favorite")
@login_required
@idempotent
@operation(response=favorite_added_schema, status=201, errors={400})
def favorite_book(book_id):
    """Add a book to your favorites."""
    added = add_favorite(g.user.id, book_id)
    body = favorite_added_schema.dump({"message": "Book added to favorites", **added})
    return body, 201, {"Location": url_for(".unfavorite_book", book_id=book_id)}


@bp.delete("/books/<int:book_id>/favorite")
@login_required
@operation(response=message_schema)
def unfavorite_book(book_id):
    """Take a book out of your favorites."""
    remove_favorite(g.user.id, book_id)
    db.session.commit()
    return message_schema.dump({"message": "Book removed from favorites"})


@bp.get("/users/me/favorites")
@login_required
@list_operation(favorite_list_args_schema, favorite_page_schema)
def list_favorites():
    """Your favorite books, newest first, paged by offset or by cursor."""
    return list_response(find_favorites, favorite_list_args_schema, favorite_page_schema, user_id=g.user.id)

from flask import g, url_for

from bookapi.access import login_required, public
from bookapi.idempotency import idempotent
from bookapi.listing.responses import list_operation, list_response
from bookapi.openapi import operation
from bookapi.payloads import PATCH_TYPES, advertise_patch, json_object
from bookapi.resources import change, delete, message_schema, read, tagged
from bookapi.reviews import bp
from bookapi.reviews.queries import add_review, find_book_reviews, own_review_or_404, review_row_or_404
from bookapi.reviews.schemas import (
    review_list_args_schema,
    review_page_schema,
    review_schema,
    review_update_schema,
)

advertise_patch(bp, "review_id")


@bp.post("/reviews")
@login_required
@idempotent
@operation(body=review_schema, response=review_schema, status=201, errors={404})
def create_review():
    """Review a book: a rating from 1 to 5 and a comment; once per book, and not a book you added."""
    review = add_review(g.user.id, **review_schema.load(json_object()))
    return tagged(review, review_schema, 201, {"Location": url_for(".get_review", review_id=review.id)})


@bp.get("/books/<int:book_id>/reviews")
@public
@list_operation(review_list_args_schema, review_page_schema)
def list_book_reviews(book_id):
    """A book's reviews, newest first or by rating, paged by offset or by cursor."""
    return list_response(find_book_reviews, review_list_args_schema, review_page_schema, book_id=book_id)


@bp.get("/reviews/<int:review_id>")
@public
@operation(response=review_schema, cached=True)
def get_review(review_id):
    """Read one review."""
    return read(review_row_or_404(review_id), review_schema)


@bp.put("/reviews/<int:review_id>")
@login_required
@operation(body=review_update_schema, response=review_schema, preconditions=True, errors={403})
def update_review(review_id):
    """Change your review's rating or comment: the fields sent change, the rest stay as they are."""
    return change_review(review_id, review_update_schema.load(json_object()))


@bp.patch("/reviews/<int:review_id>")
@login_required
@operation(body=review_update_schema, response=review_schema, preconditions=True, errors={403},
           media_types=PATCH_TYPES)
def patch_review(review_id):
    """Merge-patch your review (RFC 7396): fields sent change, `null` clears the comment."""
    return change_review(review_id, review_update_schema.load(json_object(PATCH_TYPES)))


@bp.delete("/reviews/<int:review_id>")
@login_required
@operation(response=message_schema, preconditions=True, errors={403})
def delete_review(review_id):
    """Remove your review (an admin may remove any)."""
    review = own_review_or_404(review_id, "You can only delete your own reviews", admin_may=True)
    return delete(review, review_schema, "Review deleted successfully")


def change_review(review_id, changes):
    return change(own_review_or_404(review_id, "You can only update your own reviews"), changes, review_schema)

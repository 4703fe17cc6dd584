"""Named queries over reviews: one review, a book's reviews declared for the list machinery, and a new review.

Every review is read with its reviewer (``{id, display_name}``) in the same statement.
"""
from flask import abort, g
from sqlalchemy import bindparam, insert, select

from bookapi.books.models import Book
from bookapi.books.queries import get_book_or_404, not_found
from bookapi.errors import duplicate_as
from bookapi.extensions import db
from bookapi.listing.collection import Collection, Filter
from bookapi.listing.pages import find_page
from bookapi.resources import get_or_404, id_or_404, row_or_404
from bookapi.reviews.models import Review, reviewer_of

REVIEW_COLUMNS = (*Review.__table__.c, reviewer_of(Review.user_id).label("reviewer"))
REVIEW_BY_ID = select(*REVIEW_COLUMNS).where(Review.id == bindparam("review_id"))
BOOK_ID = select(Book.id).where(Book.id == bindparam("book_id"))
# A book's reviews, newest first unless sorted; the book's id is bound from the path.
BOOK_REVIEWS = Collection(
    table=Review.__table__,
    columns=REVIEW_COLUMNS,
    sort_keys={"created_at": Review.created_at, "rating": Review.rating, "id": Review.id},
    filters={"book_id": Filter(Review.book_id == bindparam("book_id"))},
    default_sort=("-created_at",),
    # No index orders a book's reviews by id alone: it breaks ties.
    sortable=("created_at", "rating"),
)


def review_not_found(review_id):
    return f"Review with id {review_id} not found"


def review_row_or_404(review_id):
    detail = review_not_found(review_id)
    return row_or_404(REVIEW_BY_ID, {"review_id": id_or_404(review_id, detail)}, detail)


def own_review_or_404(review_id, denial, admin_may=False):
    """The caller's review, row-locked until commit (an admin's too when ``admin_may``); 404, or 403 with
    ``denial`` for someone else's."""
    review = get_or_404(Review, review_id, review_not_found(review_id), for_update=True)
    if review.user_id != g.user.id and not (admin_may and g.user.role == "admin"):
        abort(403, denial)
    return review


def find_book_reviews(args, count_cap):
    """One page of the reviews of the book ``args["book_id"]``; 404 for a book that does not exist (looked up
    only when the page is empty: a review is proof enough of its book)."""
    book_id = id_or_404(args["book_id"], not_found(args["book_id"]))
    page = find_page(BOOK_REVIEWS, args, count_cap)
    if not page.items:
        row_or_404(BOOK_ID, {"book_id": book_id}, not_found(book_id))
    return page


def add_review(user_id, book_id, rating, comment=None):
    """A new review of the book (uncommitted), as a row with its reviewer; 404 for a missing book, 400 for one's
    own book or a second review of it (the unique constraint decides, so racing reviews get one success)."""
    if get_book_or_404(book_id).created_by == user_id:
        abort(400, "You cannot review your own book")
    created = insert(Review).values(book_id=book_id, user_id=user_id, rating=rating, comment=comment).returning(
        *Review.__table__.c
    ).cte("created")
    with duplicate_as("uq_reviews_book_id_user_id", "You have already reviewed this book"):
        return db.session.execute(select(*created.c, reviewer_of(created.c.user_id).label("reviewer"))).one()

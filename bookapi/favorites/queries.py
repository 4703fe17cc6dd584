"""Named queries over favorites: adding and removing one, and the caller's own declared for the list machinery."""
from flask import abort
from sqlalchemy import BigInteger, bindparam, delete, insert, select

from bookapi.books.models import Book
from bookapi.books.queries import books_by_ids, not_found
from bookapi.errors import duplicate_as
from bookapi.extensions import db
from bookapi.favorites.models import Favorite
from bookapi.listing.collection import Collection, Filter
from bookapi.listing.pages import find_page
from bookapi.resources import id_or_404

# The book is looked up in the insert itself: no row inserted means no such book.
ADD_FAVORITE = insert(Favorite.__table__).from_select(
    ["user_id", "book_id"],
    select(bindparam("user_id", type_=BigInteger), Book.id).where(Book.id == bindparam("book_id")),
).returning(Favorite.id, Favorite.book_id)
REMOVE_FAVORITE = delete(Favorite).where(
    Favorite.user_id == bindparam("user_id"), Favorite.book_id == bindparam("book_id")
).returning(Favorite.id)
# A reader's favorites, newest first unless sorted; the reader is the caller, bound by the view.
USER_FAVORITES = Collection(
    table=Favorite.__table__,
    columns=(Favorite.id, Favorite.book_id, Favorite.created_at),
    sort_keys={"created_at": Favorite.created_at, "id": Favorite.id},
    filters={"user_id": Filter(Favorite.user_id == bindparam("user_id"))},
    default_sort=("-created_at",),
    # No index orders a reader's favorites by id alone: it breaks ties.
    sortable=("created_at",),
)


def add_favorite(user_id, book_id):
    """The new favorite's id and book_id (uncommitted); 404 for a missing book, 400 for a book already there (the
    unique constraint decides, so racing requests get one success)."""
    parameters = {"user_id": user_id, "book_id": id_or_404(book_id, not_found(book_id))}
    with duplicate_as("uq_favorites_user_id_book_id", "You have already favorited this book"):
        added = db.session.execute(ADD_FAVORITE, parameters).mappings().first()
    if added is None:
        abort(404, not_found(book_id))
    return added


def remove_favorite(user_id, book_id):
    """Take the book out of the reader's favorites (uncommitted); 404 when it is not there."""
    detail = f"Book {book_id} is not in your favorites"
    parameters = {"user_id": user_id, "book_id": id_or_404(book_id, detail)}
    if db.session.execute(REMOVE_FAVORITE, parameters).first() is None:
        abort(404, detail)


def find_favorites(args, count_cap):
    """One page of the favorites of the reader ``args["user_id"]``, each with its book's representation (read in
    one more statement for the whole page)."""
    page = find_page(USER_FAVORITES, args, count_cap)
    books = books_by_ids({favorite["book_id"] for favorite in page.items}) if page.items else {}
    # A book deleted between the two reads took its favorite with it: the page shows what is left.
    page.items = [{**favorite, "book": books[favorite["book_id"]]} for favorite in page.items
                  if favorite["book_id"] in books]
    return page

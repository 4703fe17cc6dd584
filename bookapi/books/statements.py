"""The statements of book reads: a book's representation as one row (its links and ratings included), the
lookups, and the books' list declared for the list machinery."""
from sqlalchemy import Numeric, and_, bindparam, exists, func, literal_column, select

from bookapi.books.models import Book, book_authors, book_categories
from bookapi.books.search import BOOK_SEARCH
from bookapi.categories.models import Category
from bookapi.isbn import to_isbn13
from bookapi.listing.collection import Collection, Filter, contains

# Hot reads select these columns as plain rows; mapped objects are for writes. The authors and categories come
# with the row (migration 0009).
BOOK_ROW = [
    *(column for column in Book.__table__.c if column.name not in ("search_vector", "rating_total", "author_refs",
                                                                   "category_refs")),
    Book.__table__.c.author_refs.label("authors"),
    Book.__table__.c.category_refs.label("categories"),
]
BOOK_BY_ID = select(*BOOK_ROW).where(Book.id == bindparam("book_id"))
BOOK_BY_ISBN13 = select(*BOOK_ROW).where(Book.isbn13 == bindparam("isbn13"))
BOOKS_BY_IDS = select(*BOOK_ROW).where(Book.id == func.any(bindparam("ids")))
# Unrated books sort (and are filtered) as 0, by the index on this expression: a null would compare as nothing.
RATING = func.coalesce(Book.average_rating, literal_column("0"))


def linked_to(links, key, value, bound=None, descending=False):
    """The books linked through ``links`` to the row whose ``key`` is ``value``: the planner may read them from
    the links' (key, book_id) index, or walk the books in the page's order and look up each one's link. With a
    ``bound`` on the books' id (a cursor page in id order), the links are bounded by it too, so that their index is
    read from the page's place rather than from the start of the value's links."""
    condition = exists().where(links.c.book_id == Book.id, links.c[key] == value)
    if bound is not None:
        condition = condition.where(links.c.book_id < bound if descending else links.c.book_id > bound)
    return condition


def linked(links, key, value, guard=None, narrow=False):
    """A filter of the books linked through ``links`` to the row whose ``key`` is ``value`` (see ``linked_to``),
    under ``guard`` when given. Alone, its books are counted from the value's links: each names one book, once (the
    links' primary key), so the count reads the links' (key, book_id) index and no book; with other link filters,
    from a ``narrow`` one's links too (see ``Filter``)."""

    def guarded(condition):
        return condition if guard is None else and_(guard, condition)

    return Filter(guarded(linked_to(links, key, value)),
                  past=lambda bound, descending: guarded(linked_to(links, key, value, bound, descending)),
                  matching=select(links.c.book_id).where(links.c[key] == value), narrow=narrow)


CATEGORY_NAMED = select(Category.id).where(
    func.lower(Category.name) == func.lower(bindparam("category"))
).scalar_subquery()
BOOK_LIST = Collection(
    table=Book.__table__,
    columns=BOOK_ROW,
    sort_keys={
        "title": Book.title, "author": Book.author, "published_date": Book.published_date,
        "created_at": Book.created_at, "average_rating": RATING,
        "review_count": Book.review_count, "id": Book.id,
    },
    filters={
        "author": Filter(func.lower(Book.author) == func.lower(bindparam("author"))),
        "title": contains(Book.title, "title"),
        "isbn": Filter(Book.isbn13 == bindparam("isbn"), to_isbn13),
        "published_after": Filter(Book.published_date >= bindparam("published_after")),
        "published_before": Filter(Book.published_date <= bindparam("published_before")),
        # An author's books are few next to a category's: the most prolific author has thousands.
        "author_id": linked(book_authors, "author_id", bindparam("author_id"), narrow=True),
        "category_id": linked(book_categories, "category_id", bindparam("category_id")),
        # The name is looked up first (its unique index), so the books are found as by category_id; a name no
        # category has stops the statement before it reads a book (a one-time filter).
        "category": linked(book_categories, "category_id", CATEGORY_NAMED, guard=CATEGORY_NAMED.isnot(None)),
        "min_rating": Filter(RATING >= bindparam("min_rating", type_=Numeric(3, 2))),
    },
    search=BOOK_SEARCH,
    # The books' cursors were signed before collections had scopes: the empty one keeps those clients hold valid.
    cursor_scope=b"",
)
# Every key a book cursor can carry at its widest, with the longest correction.
MAX_CURSOR_LENGTH = BOOK_LIST.max_cursor_length

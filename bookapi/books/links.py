"""A book's authors and categories, as its writes give them: ids that must exist (404 naming the first missing
author, or every missing category), and the byline made from the authors' names when none is sent."""
from dataclasses import dataclass

from flask import abort
from sqlalchemy import delete, func, insert, select

from bookapi.authors.models import Author
from bookapi.books.models import Book, book_authors, book_categories
from bookapi.categories.models import Category
from bookapi.extensions import db

BYLINE_LENGTH = Book.author.type.length


@dataclass
class Links:
    """The author and category ids a write sends; None for a set it leaves as it is."""

    author_ids: list | None = None
    category_ids: list | None = None

    def __bool__(self):
        return self.author_ids is not None or self.category_ids is not None


def byline(names):
    """The authors' names joined with ", ", cut with an ellipsis to fit the byline column."""
    joined = ", ".join(names)
    return joined if len(joined) <= BYLINE_LENGTH else joined[:BYLINE_LENGTH - 1] + "…"


@dataclass
class Known:
    """Which of the ids some books send exist: the authors' names by id, and the category ids."""

    author_names: dict
    category_ids: set

    @classmethod
    def of(cls, books):
        author_ids = {i for book in books for i in book.get("author_ids") or ()}
        category_ids = {i for book in books for i in book.get("category_ids") or ()}
        names = db.session.execute(
            select(Author.id, Author.name).where(Author.id == func.any(list(author_ids)))
        ).all() if author_ids else ()
        found = db.session.scalars(
            select(Category.id).where(Category.id == func.any(list(category_ids)))
        ).all() if category_ids else ()
        return cls(dict(names), set(found))

    def problem(self, links):
        """Why ``links`` cannot be stored (a 404's detail), or None."""
        unknown_author = next((i for i in links.author_ids or () if i not in self.author_names), None)
        if unknown_author is not None:
            return f"Author with id {unknown_author} not found"
        unknown_categories = [i for i in links.category_ids or () if i not in self.category_ids]
        if unknown_categories:
            return f"Categories with ids {unknown_categories} not found"
        return None


def links_of(data, known):
    """Take the link ids out of a loaded book (``data``) and make its byline from the authors when it has none:
    ``(links, None)``, or ``(None, detail)`` when an id does not exist."""
    links = Links(data.pop("author_ids", None), data.pop("category_ids", None))
    detail = known.problem(links)
    if detail:
        return None, detail
    if links.author_ids and "author" not in data:
        data["author"] = byline(known.author_names[i] for i in links.author_ids)
    return links, None


def take_links(data):
    """``links_of`` for one book: 404 when an id does not exist."""
    links, detail = links_of(data, Known.of([data]))
    if detail:
        abort(404, detail)
    return links


def store_links(links_by_book):
    """Replace the sets each ``Links`` of ``links_by_book`` (book id: Links) names, in one statement per table."""
    for links_table, key, attribute in ((book_authors, "author_id", "author_ids"),
                                        (book_categories, "category_id", "category_ids")):
        replaced = {book_id: getattr(links, attribute) for book_id, links in links_by_book.items()
                    if getattr(links, attribute) is not None}
        if not replaced:
            continue
        db.session.execute(delete(links_table).where(links_table.c.book_id == func.any(list(replaced))))
        rows = [{"book_id": book_id, key: linked_id, **({"position": position} if key == "author_id" else {})}
                for book_id, ids in replaced.items() for position, linked_id in enumerate(ids)]
        if rows:
            db.session.execute(insert(links_table), rows)


def relink(book, links):
    """Store a written book's new links, date the change, and let its next dump read them again."""
    if not links:
        return
    store_links({book.id: links})
    book.updated_at = func.clock_timestamp()
    db.session.flush()
    db.session.expire(book, ["authors", "categories"])

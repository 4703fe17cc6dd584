"""Named queries over authors: one, read or written with its first books, and pages of the authors' list."""
from flask import abort

from bookapi.authors.models import Author
from bookapi.authors.schemas import author_schema
from bookapi.authors.statements import AUTHOR_LIST
from bookapi.books.models import book_authors
from bookapi.linked_books import LinkedItems
from bookapi.listing.pages import find_page

AUTHORS = LinkedItems(Author, book_authors.c.author_id, author_schema, "Author", "authors.get_author", "author_id")


def find_authors(args, count_cap):
    """One page of the authors ``args`` select, by offset page or by cursor."""
    return find_page(AUTHOR_LIST, args, count_cap)


def refuse_with_books(author):
    """409 for an author (locked, so no book can be linked meanwhile) who still has books; the foreign key from
    book_authors would refuse the delete too."""
    if author.book_count:
        abort(409, f"Cannot delete author with id {author.id} because they have {author.book_count} book(s). "
                   "Remove or reassign the books first.")

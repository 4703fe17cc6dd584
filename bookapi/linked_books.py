"""Items that books link to (authors, categories): each is represented with its first books, read with it in one
statement, and a link to the books' list narrowed to it for the rest; ``LinkedItems`` reads and writes them."""
from contextlib import nullcontext
from dataclasses import dataclass

from flask import url_for
from marshmallow import Schema, fields
from sqlalchemy import Column, bindparam, func, literal_column, select, true
from sqlalchemy.dialects.postgresql import JSON, aggregate_order_by

from bookapi import resources
from bookapi.books.models import Book
from bookapi.errors import duplicate_as
from bookapi.extensions import db
from bookapi.records import RecordSchema

# The first page of the books' list narrowed to the item, which lists by id 20 to a page.
FIRST_BOOKS = 20
EMBEDDED_FIELDS = ("id", "title", "isbn13", "published_date")


def with_first_books(table, link_key):
    """The statement reading the row of ``table`` whose id is bound as ``id``, with ``books``: the first
    FIRST_BOOKS books linked to it through ``link_key`` (a link table's column), in book id order, as a JSON array;
    and ``last_modified``: when the row or one of those books was last updated.

    One round trip; the books come from the link table's index on (``link_key``, book_id), and a book linked or
    unlinked dates the row itself (its count changes, and a trigger stamps it).
    """
    links = link_key.table
    first = (
        select(Book.id, Book.title, Book.isbn13, Book.published_date, Book.updated_at)
        .join_from(links, Book, links.c.book_id == Book.id)
        .where(link_key == table.c.id)
        .correlate(table)
        .order_by(links.c.book_id)
        .limit(FIRST_BOOKS)
        .lateral("first_books")
    )
    book = func.json_build_object(*(part for name in EMBEDDED_FIELDS for part in (name, first.c[name])))
    embedded = select(
        func.json_agg(aggregate_order_by(book, first.c.id), type_=JSON).label("books"),
        func.max(first.c.updated_at).label("books_updated_at"),
    ).lateral("embedded")
    return (
        select(
            *table.c,
            func.coalesce(embedded.c.books, literal_column("'[]'::json", JSON)).label("books"),
            func.greatest(table.c.updated_at, embedded.c.books_updated_at).label("last_modified"),
        )
        .select_from(table.join(embedded, true()))
        .where(table.c.id == bindparam("id"))
    )


class LinkedItemSchema(RecordSchema):
    """What every item that books link to has besides its own fields: its id, its count of books and its stamps."""

    id = fields.Integer(dump_only=True)
    book_count = fields.Integer(dump_only=True, metadata={
        "description": "How many books it has, kept by the database as books are linked and unlinked.",
    })
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class LinkedBookSchema(RecordSchema):
    """A book as an item that it links to embeds it: enough to show it and to follow it."""

    id = fields.Integer()
    title = fields.String()
    isbn13 = fields.String()
    # As the database wrote it into the JSON array: an ISO date.
    published_date = fields.String(metadata={"format": "date"})


class BooksLink(fields.String):
    """The URL of the books' list narrowed to the item, by its id as the list's ``filter`` argument."""

    def __init__(self, filter_name, **kwargs):
        super().__init__(attribute="id", dump_only=True, **kwargs)
        self.filter_name = filter_name

    def _serialize(self, value, attr, obj, **kwargs):
        return url_for("books.list_books", **{self.filter_name: value})


def with_books(schema, filter_name):
    """``schema`` of an item, with the item's first books and the link to all of them (``filter_name`` narrows
    the books' list to it): what a read, and a write, of the item answer with."""
    name = schema.__name__.removesuffix("Schema")
    return type(f"{name}WithBooksSchema", (schema,), {
        "books": fields.List(fields.Nested(LinkedBookSchema), dump_only=True, metadata={
            "description": f"The first {FIRST_BOOKS} of its books, by book id; `books_url` lists them all.",
        }),
        "books_url": BooksLink(filter_name, metadata={
            "format": "uri-reference", "description": f"All its books: the books' list with `{filter_name}`.",
        }),
    })


@dataclass(eq=False)
class LinkedItems:
    """The items of ``model`` that books link to through ``link_key``, represented with ``schema`` (made by
    ``with_books``), named ``noun`` in messages, under a blueprint whose item view is ``endpoint`` with the id as
    ``path_argument``. ``unique_name`` is the unique index on their names, if any: a write that breaks it is a 400,
    however close two writes race."""

    model: type
    link_key: Column
    schema: Schema
    noun: str
    endpoint: str
    path_argument: str
    unique_name: str | None = None

    def __post_init__(self):
        self.statement = with_first_books(self.model.__table__, self.link_key)
        self.represent = resources.represented_by(self.statement)

    def not_found(self, item_id):
        return f"{self.noun} with id {item_id} not found"

    def get_or_404(self, item_id, for_update=False):
        """The mapped item, row-locked until commit when it is about to change; else 404."""
        return resources.get_or_404(self.model, item_id, self.not_found(item_id), for_update)

    def read(self, item_id):
        """The item's representation, in one read, with its validators; 404 when there is no such item."""
        detail = self.not_found(item_id)
        return resources.read(resources.row_or_404(self.statement, {"id": resources.id_or_404(item_id, detail)},
                                                   detail), self.schema)

    def create(self, data):
        """Add an item of ``data``; the caller commits (``@idempotent``)."""
        item = self.model(**data)
        db.session.add(item)
        with self.names_checked(data):
            db.session.flush()
        location = url_for(self.endpoint, **{self.path_argument: item.id})
        return resources.tagged(self.represent(item), self.schema, 201, {"Location": location})

    def change(self, item_id, changes):
        if "name" in changes:
            self.lock_books(item_id)
        with self.names_checked(changes):
            return resources.change(self.get_or_404(item_id, for_update=True), changes, self.schema, self.represent)

    def delete(self, item_id, refuse=None):
        """Delete the item unless ``refuse(item)`` raises (see ``resources.delete``)."""
        self.lock_books(item_id)
        return resources.delete(self.get_or_404(item_id, for_update=True), self.schema,
                                f"{self.noun} deleted successfully", self.represent, refuse)

    def lock_books(self, item_id):
        """Lock the item's books before the item, when a write of the item rewrites them (its name in their
        references, migration 0009): a write of a book locks the book, then what it links to, and taking the two in
        the same order keeps a rename and a relink from deadlocking."""
        links = self.link_key.table
        db.session.execute(
            select(Book.id).where(Book.id.in_(select(links.c.book_id).where(self.link_key == item_id)))
            .order_by(Book.id).with_for_update()
        )

    def names_checked(self, data):
        if self.unique_name is None or "name" not in data:
            return nullcontext()
        return duplicate_as(self.unique_name, f"{self.noun} with name '{data['name']}' already exists")

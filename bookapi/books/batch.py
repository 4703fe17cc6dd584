"""Creating many books in one request: per-item validation, duplicate detection, one INSERT."""
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import selectinload

from bookapi.books.links import Known, links_of, store_links
from bookapi.books.models import Book
from bookapi.extensions import db
from bookapi.isbn import to_isbn13


def rejection(status, detail, **extra):
    return {"status": status, "book": None, "problem": {"status": status, "detail": detail, **extra}}


def screen(items):
    """Per index, the rejection of each item that cannot be stored; and the rows and links for the others."""
    rejected, rows, links, first_index = {}, {}, {}, {}
    known = Known.of([item for item in items if not isinstance(item, ValidationError)])
    for index, item in enumerate(items):
        if isinstance(item, ValidationError):
            rejected[index] = rejection(422, "Invalid values.", errors=item.messages)
            continue
        links[index], unknown = links_of(item, known)
        if unknown:
            rejected[index] = rejection(404, unknown)
            continue
        isbn13 = to_isbn13(item["isbn"])
        if isbn13 in first_index:
            rejected[index] = rejection(400, f"Book with ISBN {isbn13} is also item {first_index[isbn13]}")
            continue
        first_index[isbn13] = index
        rows[index] = {**item, "isbn13": isbn13}
    stored = set(db.session.scalars(select(Book.isbn13).where(Book.isbn13.in_(first_index))))
    for index in [i for i, row in rows.items() if row["isbn13"] in stored]:
        rejected[index] = rejection(400, f"Book with ISBN {rows.pop(index)['isbn13']} already exists")
    return rejected, rows, links


def refuse_all(rejected):
    raise ValidationError({"items": {index: result["problem"] for index, result in sorted(rejected.items())}})


def create_many(items, atomic=True, created_by=None):
    """Store the valid books of ``items``, as added by ``created_by``; with ``atomic``, all of them or none (422
    naming each bad item). The caller commits."""
    rejected, rows, links = screen(items)
    if atomic and rejected:
        refuse_all(rejected)
    created = {}
    if rows:
        statement = insert(Book).on_conflict_do_nothing(index_elements=["isbn13"]).returning(Book)
        # In ISBN-13 order, as every writer inserts (books/staging.py), so that concurrent writers lock the unique
        # index in one order and cannot deadlock. Thirteen digits sort alike in Python and in PostgreSQL.
        in_isbn_order = sorted(({**row, "created_by": created_by} for row in rows.values()),
                               key=lambda row: row["isbn13"])
        created = {book.isbn13: book for book in db.session.scalars(statement, in_isbn_order)}
    for index, row in rows.items():
        if row["isbn13"] not in created:
            # Another request stored this ISBN between the check and the insert.
            rejected[index] = rejection(400, f"Book with ISBN {row['isbn13']} already exists")
    if atomic and rejected:
        db.session.rollback()
        refuse_all(rejected)
    created = with_links(created, {created[row["isbn13"]].id: links[index] for index, row in rows.items()
                                   if row["isbn13"] in created})
    results = [
        {"index": index, **(rejected.get(index) or {"status": 201, "book": created[rows[index]["isbn13"]]})}
        for index in range(len(items))
    ]
    return {"created": len(created), "rejected": len(rejected), "items": results}


def with_links(created, links_by_book):
    """Store the created books' links, and the books (by ISBN-13) again with their links loaded in two reads."""
    store_links(links_by_book)
    if not created:
        return created
    books = db.session.scalars(
        select(Book).where(Book.id.in_([book.id for book in created.values()]))
        .options(selectinload(Book.authors), selectinload(Book.categories))
        .execution_options(populate_existing=True)
    )
    return {book.isbn13: book for book in books}

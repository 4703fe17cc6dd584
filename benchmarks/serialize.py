"""Micro-benchmark of the schemas on the hot paths: what one book and one page of 20 cost to dump and load.

    .venv/bin/python -m benchmarks.serialize          # a table
    .venv/bin/python -m benchmarks.serialize --json   # the same figures, for benchmarks/run.py

Each figure is the best of several timed batches, in microseconds per call: the best is the least disturbed by
other work on the machine, which is what a comparison between two versions of a schema needs.
"""
import json
import sys
import timeit
from datetime import date, datetime, timezone

import orjson

# Author and Category are imported for the mapper: a Book's relationships name them, so they must be known first.
from bookapi.authors.models import Author  # noqa: F401
from bookapi.books.models import Book
from bookapi.books.schemas import book_page_schema, book_schema
from bookapi.categories.models import Category  # noqa: F401

PAGE_SIZE = 20
REPEATS = 7
FIELDS = ("id", "title", "author", "isbn", "isbn13", "published_date", "description", "created_at", "updated_at")
STORED = datetime(2026, 11, 26, 10, 30, 15, 123456, tzinfo=timezone.utc)
PAYLOAD = {
    "title": "  The Silent Harbor of Glass  ",
    "author": "Nadia K. Lindqvist",
    "isbn": "978-0-306-40615-7",
    "published_date": "1987-04-12",
    "description": "A quiet story of a harbor town, a lost letter and the sister who keeps its secret for years.",
}


def stored_row(book_id):
    return (book_id, "The Silent Harbor of Glass", "Nadia K. Lindqvist", "9780306406157", "9780306406157",
            date(1987, 4, 12), PAYLOAD["description"], STORED, STORED)


def stored_book(book_id):
    """A Book as the ORM hands it to a view: every column set, isbn13 derived by the model."""
    return Book(**dict(zip(FIELDS, stored_row(book_id))))


def per_call_us(function, number):
    return min(timeit.repeat(function, number=number, repeat=REPEATS)) / number * 1e6


def measure():
    book = stored_book(1)
    books = [stored_book(book_id) for book_id in range(1, PAGE_SIZE + 1)]
    rows = [stored_row(book_id) for book_id in range(1, PAGE_SIZE + 1)]
    page = {"items": books, "page": 1, "size": PAGE_SIZE, "total": 1_000_000, "pages": 50_000,
            "total_is_estimate": True}
    dumped_book = book_schema.dump(book)
    dumped_page = book_page_schema.dump(page)
    return {
        "book_dump_us": per_call_us(lambda: book_schema.dump(book), 2_000),
        "book_load_us": per_call_us(lambda: book_schema.load(PAYLOAD), 2_000),
        "page_dump_us": per_call_us(lambda: book_page_schema.dump(page), 100),
        "book_orjson_us": per_call_us(lambda: orjson.dumps(dumped_book), 20_000),
        "page_orjson_us": per_call_us(lambda: orjson.dumps(dumped_page), 2_000),
        "page_raw_us": per_call_us(lambda: orjson.dumps({"items": [dict(zip(FIELDS, r)) for r in rows]}), 2_000),
    }


LABELS = {
    "book_dump_us": "book_schema.dump, one book",
    "book_load_us": "book_schema.load, one book (a create payload)",
    "page_dump_us": f"book_page_schema.dump, a page of {PAGE_SIZE}",
    "page_dump_per_book_us": "book_page_schema.dump, per book on the page",
    "book_orjson_us": "orjson.dumps of one dumped book",
    "page_orjson_us": f"orjson.dumps of a dumped page of {PAGE_SIZE}",
    "page_raw_us": f"the ceiling's way: dict(zip()) + orjson.dumps, {PAGE_SIZE} rows",
}


def main():
    figures = measure()
    figures["page_dump_per_book_us"] = figures["page_dump_us"] / PAGE_SIZE
    if "--json" in sys.argv[1:]:
        print(json.dumps(figures))
        return
    for key, label in LABELS.items():
        print(f"{figures[key]:9.1f} µs  {label}")


if __name__ == "__main__":
    main()

"""Named queries over books: lookups, filters, search, ordering, pages and counts.

List queries run the prebuilt statements of books/statements.py: a list query here is a statement and the
parameters to run it with, ``(statement, parameters)``, rather than a bare ``Select``.
"""
import re
from dataclasses import dataclass

from flask import abort
from marshmallow import ValidationError
from sqlalchemy import func, select, text

from bookapi import reads
from bookapi.books.models import Book
from bookapi.books.pagination import Page, decode_cursor, encode_cursor, position_parameters, query_fingerprint
from bookapi.books.statements import (
    BOOK_BY_ID,
    BOOK_BY_ISBN13,
    FILTERS,
    MAX_CURSOR_LENGTH,
    SEARCH_CHECKS,
    SEARCH_MAX_LENGTH,
    capped_count,
    matching_statement,
    page_statement,
    search_of,
    sort_keys,
)
from bookapi.extensions import db
from bookapi.isbn import to_isbn13

MAX_ID = 2**63 - 1
# How a filter's argument becomes the value of its bound parameter, where it is not the argument itself.
FILTER_VALUES = {"title": lambda title: f"%{escape_like(title)}%", "isbn": to_isbn13}
# Bare words of a web-search query; quoted phrases, exclusions and `or` are left as the user wrote them.
QUERY_TOKEN = re.compile(r'"[^"]*"?|\S+')
# A word is misspelt when no book has it (stop words, which search ignores, are not words to correct); then
# the nearest title or author word that search does not ignore stands in for it.
CORRECTIONS = text("""
    SELECT w, (SELECT word FROM search_words
               WHERE word % w AND numnode(plainto_tsquery('english', word)) > 0 ORDER BY word <-> w LIMIT 1)
    FROM unnest(CAST(:words AS text[])) AS w
    WHERE numnode(plainto_tsquery('english', w)) > 0
      AND NOT EXISTS (SELECT 1 FROM search_words WHERE word = w)
      AND NOT EXISTS (SELECT 1 FROM books WHERE search_vector @@ plainto_tsquery('english', w))
""")

NO_WORDS = "Nothing to search for: only common words (the, of, and, …), which are not indexed, or no words at all."
ONLY_EXCLUSIONS = ("Search for at least one word that every match contains: excluded words (-word), alone or in an "
                   "`or`, would match nearly every book.")


def book_not_found(book_id):
    abort(404, f"Book with id {book_id} not found")


def get_book_or_404(book_id, for_update=False):
    """The book, row-locked until commit when it is about to change (so If-Match cannot race); else 404."""
    book = db.session.get(Book, book_id, with_for_update=for_update) if 0 < book_id <= MAX_ID else None
    if book is None:
        book_not_found(book_id)
    return book


def book_by_isbn_or_404(isbn):
    return first_or_404(BOOK_BY_ISBN13, {"isbn13": to_isbn13(isbn)}, f"Book with ISBN {isbn} not found")


def escape_like(value):
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def spelling_corrected(q):
    """``q`` with each bare word that no book contains replaced by the nearest word of a title or author."""
    tokens = QUERY_TOKEN.findall(q)
    words = sorted({t.lower() for t in tokens if t.isalpha() and len(t) >= 3 and t.lower() != "or"})
    if not words:
        return None
    nearest = {word: match for word, match in reads.execute(CORRECTIONS, {"words": words}) if match}
    if not nearest:
        return None
    corrected = " ".join(nearest.get(t.lower(), t) if t.isalpha() else t for t in tokens)
    # Cursors carry the correction, and are sized for one no longer than a search.
    return corrected if len(corrected) <= SEARCH_MAX_LENGTH else None


def settle_count(counted, cap, estimate):
    """``(total, is_estimate)``: the count when it stayed within ``cap``, else the larger of it and ``estimate()``
    (``counted`` is None when the rows were not counted)."""
    if counted is not None and counted <= cap:
        return counted, False
    return max(estimate(), counted or 0), True


def first_or_404(statement, parameters, detail):
    found = reads.records(statement, parameters)
    if not found:
        abort(404, detail)
    return found[0]


def book_row_or_404(book_id):
    """A book as a row, for reading: lighter than loading the mapped object."""
    if not 0 < book_id <= MAX_ID:
        book_not_found(book_id)
    return first_or_404(BOOK_BY_ID, {"book_id": book_id}, f"Book with id {book_id} not found")


@dataclass
class BookQuery:
    """The books some list arguments select, and their order: a shape, which picks prebuilt statements, and the
    values those statements are run with."""

    conditions: tuple
    sort: tuple
    parameters: dict
    fingerprint: str

    @property
    def keys(self):
        return sort_keys(self.sort, search_of(self.conditions))

    def matching_query(self):
        """``(statement, parameters)`` selecting the ids of every matching book."""
        return matching_statement(self.conditions), self.parameters

    def first_rows(self, size, offset=0, count_cap=None):
        """``(statement, parameters)`` for up to ``size + 1`` rows from ``offset``; with ``count_cap``, each row
        also carries the count capped there (see ``page_statement``)."""
        return self.page_query("first", {"limit": size + 1, "offset": offset}, count_cap)

    def rows_from(self, direction, values, size, count_cap=None):
        """``(statement, parameters)`` for up to ``size + 1`` rows after a cursor position (``n``), or before it,
        nearest first (``p``); ``count_cap`` as for ``first_rows``."""
        return self.page_query(direction, {**position_parameters(values), "limit": size + 1}, count_cap)

    def page_query(self, walk, parameters, count_cap):
        counted = count_cap is not None
        if counted:
            parameters["count_limit"] = count_cap + 1
        return page_statement(self.conditions, self.sort, walk, counted), {**self.parameters, **parameters}

    def refuse_unbounded_search(self):
        """422, saying why, for a search its index cannot bound; its statements select nothing (see BOUNDED)."""
        search = search_of(self.conditions)
        if search is None:
            return
        has_words, matches_wordless = reads.execute(SEARCH_CHECKS[search], self.parameters).one()
        if not has_words:
            raise ValidationError({"q": [NO_WORDS]})
        if matches_wordless:
            raise ValidationError({"q": [ONLY_EXCLUSIONS]})

    def count(self, cap, exact=False):
        """``(total, is_estimate)``: exact up to ``cap`` rows (or always, when asked), the planner's estimate above."""
        statement, parameters = self.matching_query()
        if exact:
            return reads.execute(select(func.count()).select_from(statement.subquery()), parameters).scalar(), False
        counted = reads.execute(select(capped_count(statement)), {**parameters, "count_limit": cap + 1}).scalar()
        return settle_count(counted, cap, self.estimated_rows)

    def estimated_rows(self):
        """The planner's row estimate for the matching rows: free next to counting a million of them."""
        return int(reads.explain(*self.matching_query())[0]["Plan"]["Plan Rows"])


def book_query(args, cursor=None):
    """The books ``args`` select; the pages of a ``cursor`` keep the spelling correction it was made with."""
    conditions, parameters = [], {}
    if "q" in args:
        corrected = cursor.correction if cursor else spelling_corrected(args["q"])
        conditions.append("q_corrected" if corrected else "q")
        parameters["q"] = args["q"]
        if corrected:
            parameters["corrected_q"] = corrected
    for name in FILTERS:
        if name in args:
            conditions.append(name)
            parameters[name] = FILTER_VALUES.get(name, lambda value: value)(args[name])
    return BookQuery(tuple(conditions), tuple(args.get("sort") or ()), parameters, query_fingerprint(args))


def find_books(args, count_cap):
    """One page of the books ``args`` select, by offset page or by cursor."""
    cursor = decode_cursor(args["cursor"], MAX_CURSOR_LENGTH) if "cursor" in args else None
    query, size, exact = book_query(args, cursor), args["size"], args["count"] == "exact"
    keys, capped_at = query.keys, None if exact else count_cap
    if cursor:
        direction, page_number = cursor.direction, None
        statement, parameters = query.rows_from(direction, cursor.position(keys, query.fingerprint), size, capped_at)
    else:
        direction, page_number = "n", args.get("page", 1)
        statement, parameters = query.first_rows(size, (page_number - 1) * size, capped_at)
    found = reads.records(statement, parameters)
    if not found:
        query.refuse_unbounded_search()

    if exact or not found:
        total, is_estimate = query.count(count_cap, exact)
    else:
        estimate = found[0].get("table_estimate")
        total, is_estimate = settle_count(found[0]["capped_total"], count_cap,
                                          query.estimated_rows if estimate is None else lambda: estimate)
    # One row beyond the page says whether there is more in the direction of travel.
    more = len(found) > size
    found = found[:size] if direction == "n" else found[:size][::-1]
    page = Page(items=found, size=size, total=total, total_is_estimate=is_estimate, page=page_number)
    has_next = more if direction == "n" else True
    has_prev = more if direction == "p" else page_number != 1
    correction = query.parameters.get("corrected_q")
    if found and has_next:
        page.next_cursor = encode_cursor("n", keys, position(found[-1], keys), query.fingerprint, correction)
    if found and has_prev:
        page.prev_cursor = encode_cursor("p", keys, position(found[0], keys), query.fingerprint, correction)
    return page


def position(row, keys):
    return [row[key.name] for key in keys]

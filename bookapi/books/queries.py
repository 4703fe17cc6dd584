"""Named queries over books: filters, search, ordering, pages and counts.

A list request's statements depend only on its *shape* (which filters, which sort, which way it walks), never on
the values it sends: those are bound parameters. So each shape's statements are built once per process and
reused, and SQLAlchemy finds their compiled SQL in its cache without rebuilding or re-keying them per request.
"""
import re
from dataclasses import dataclass
from functools import lru_cache

from flask import abort
from sqlalchemy import REAL, Integer, bindparam, case, func, select, text

from bookapi import reads
from bookapi.books.models import Book
from bookapi.books.pagination import (
    Page,
    SortKey,
    decode_cursor,
    encode_cursor,
    position_parameters,
    query_fingerprint,
    rows_after,
)
from bookapi.extensions import db
from bookapi.isbn import to_isbn13

MAX_ID = 2**63 - 1
# How many query shapes keep their statements; a shape is a combination of filters, sort keys and direction.
STATEMENT_SHAPES = 512
SEARCH_VECTOR = Book.__table__.c.search_vector
# Hot reads select these columns as plain rows; mapped objects are for writes.
BOOK_COLUMNS = [column for column in Book.__table__.c if column is not SEARCH_VECTOR]
BOOK_BY_ID = select(*BOOK_COLUMNS).where(Book.id == bindparam("book_id"))
BOOK_BY_ISBN13 = select(*BOOK_COLUMNS).where(Book.isbn13 == bindparam("isbn13"))
TABLE_ESTIMATE = select(text("reltuples::bigint")).select_from(text("pg_class")).where(
    text("oid = 'books'::regclass")
).scalar_subquery()
# An unfiltered list is not counted when the planner puts the table at more than this many times the count cap:
# the count would scan cap + 1 index entries on every page only to confirm that the estimate stands.
TRUSTED_ESTIMATE_FACTOR = 10
SORT_COLUMNS = {
    "title": Book.title, "author": Book.author, "published_date": Book.published_date,
    "created_at": Book.created_at, "id": Book.id,
}
LIMIT = bindparam("limit", type_=Integer)
OFFSET = bindparam("offset", type_=Integer)
COUNT_LIMIT = bindparam("count_limit", type_=Integer)
# A search is "q", or "q_corrected" when a misspelt word widened it with its corrected form.
TSQUERIES = {
    "q": func.websearch_to_tsquery("english", bindparam("q")),
    "q_corrected": func.websearch_to_tsquery("english", bindparam("q")).op("||")(
        func.websearch_to_tsquery("english", bindparam("corrected_q"))),
}
RANKS = {name: func.ts_rank(SEARCH_VECTOR, tsquery, type_=REAL) for name, tsquery in TSQUERIES.items()}
# Every condition a list can have, in the order a shape names them; each value is a bound parameter of its name.
CONDITIONS = {
    **{name: SEARCH_VECTOR.op("@@")(tsquery) for name, tsquery in TSQUERIES.items()},
    "author": func.lower(Book.author) == func.lower(bindparam("author")),
    "title": Book.title.ilike(bindparam("title"), escape="\\"),
    "isbn": Book.isbn13 == bindparam("isbn"),
    "published_after": Book.published_date >= bindparam("published_after"),
    "published_before": Book.published_date <= bindparam("published_before"),
}
FILTERS = ("author", "title", "isbn", "published_after", "published_before")
# Bare words of a web-search query; quoted phrases, exclusions and `or` are left as the user wrote them.
QUERY_TOKEN = re.compile(r'"[^"]*"?|\S+')
# A word is misspelt when no book has it (stop words, which search ignores, are not words to correct); then
# the nearest title or author word stands in for it.
CORRECTIONS = text("""
    SELECT w, (SELECT word FROM search_words WHERE word % w ORDER BY word <-> w LIMIT 1)
    FROM unnest(CAST(:words AS text[])) AS w
    WHERE numnode(plainto_tsquery('english', w)) > 0
      AND NOT EXISTS (SELECT 1 FROM search_words WHERE word = w)
      AND NOT EXISTS (SELECT 1 FROM books WHERE search_vector @@ plainto_tsquery('english', w))
""")


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
    return " ".join(nearest.get(t.lower(), t) if t.isalpha() else t for t in tokens)


@lru_cache(maxsize=STATEMENT_SHAPES)
def sort_keys(sort, search=None):
    """The requested order (relevance when searching, else id), ending in the unique id tiebreak."""
    keys = [SortKey(name.lstrip("-"), SORT_COLUMNS[name.lstrip("-")], name.startswith("-")) for name in sort]
    if not keys and search is not None:
        keys = [SortKey("rank", RANKS[search], True)]
    if not any(key.name == "id" for key in keys):
        keys.append(SortKey("id", Book.id, keys[-1].descending if keys else False))
    return tuple(keys)


def capped_count(matching):
    """How many rows ``matching`` selects, counting no further than ``count_limit``."""
    return select(func.count()).select_from(matching.limit(COUNT_LIMIT).subquery()).scalar_subquery()


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


@lru_cache(maxsize=STATEMENT_SHAPES)
def matching_statement(conditions):
    return select(Book.id).where(*(CONDITIONS[name] for name in conditions))


@lru_cache(maxsize=STATEMENT_SHAPES)
def page_statement(conditions, sort, walk, counted):
    """The rows of a page: from the start (``walk`` "first", with an offset), or after a cursor position ("n")
    or before it, nearest first ("p"); ``counted`` adds the capped count (unfiltered: the table's estimate too, and
    no count when that estimate is trusted)."""
    search = conditions[0] if conditions and conditions[0] in TSQUERIES else None
    keys = sort_keys(sort, search)
    columns = [*BOOK_COLUMNS, RANKS[search].label("rank")] if search else BOOK_COLUMNS
    statement = select(*columns).where(*(CONDITIONS[name] for name in conditions))
    if walk != "first":
        keys = keys if walk == "n" else tuple(key.reversed() for key in keys)
        statement = statement.where(rows_after(keys))
    statement = statement.order_by(*(key.order_by() for key in keys)).limit(LIMIT)
    if walk == "first":
        statement = statement.offset(OFFSET)
    if counted and conditions:
        statement = statement.add_columns(capped_count(matching_statement(conditions)).label("capped_total"))
    elif counted:
        uncounted = TABLE_ESTIMATE > COUNT_LIMIT * TRUSTED_ESTIMATE_FACTOR
        statement = statement.add_columns(
            case((uncounted, None), else_=capped_count(matching_statement(conditions))).label("capped_total"),
            TABLE_ESTIMATE.label("table_estimate"),
        )
    return statement


@dataclass(frozen=True)
class BookQuery:
    """The books some list arguments select, and their order: a shape, which picks prebuilt statements, and the
    values those statements are run with."""

    conditions: tuple
    sort: tuple
    parameters: dict
    fingerprint: str

    @property
    def keys(self):
        return sort_keys(self.sort, self.search)

    @property
    def search(self):
        return self.conditions[0] if self.conditions and self.conditions[0] in TSQUERIES else None

    @property
    def matching(self):
        return matching_statement(self.conditions), self.parameters

    def first_rows(self, size, offset=0, counted=False):
        """``(statement, parameters)`` for up to ``size + 1`` rows from ``offset``."""
        return (page_statement(self.conditions, self.sort, "first", counted),
                {**self.parameters, "limit": size + 1, "offset": offset})

    def rows_from(self, direction, values, size, counted=False):
        """``(statement, parameters)`` for up to ``size + 1`` rows after a cursor position (``n``), or before it,
        nearest first (``p``)."""
        return (page_statement(self.conditions, self.sort, direction, counted),
                {**self.parameters, **position_parameters(values), "limit": size + 1})

    def count(self, cap, exact=False):
        """``(total, is_estimate)``: exact up to ``cap`` rows (or always, when asked), the planner's estimate above."""
        statement, parameters = self.matching
        if exact:
            return reads.execute(select(func.count()).select_from(statement.subquery()), parameters).scalar(), False
        counted = reads.execute(select(capped_count(statement)), {**parameters, "count_limit": cap + 1}).scalar()
        return settle_count(counted, cap, self.estimated_rows)

    def estimated_rows(self):
        """The planner's row estimate for the matching rows: free next to counting a million of them."""
        statement, parameters = self.matching
        connection = reads.connection()
        compiled = statement.compile(connection)
        plan = connection.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + compiled.string, compiled.construct_params(parameters)
        ).scalar()
        return int(plan[0]["Plan"]["Plan Rows"])


def book_query(args):
    conditions, parameters = [], {}
    if "q" in args:
        corrected = spelling_corrected(args["q"])
        conditions.append("q_corrected" if corrected else "q")
        parameters.update({"q": args["q"], **({"corrected_q": corrected} if corrected else {})})
    for name in FILTERS:
        if name in args:
            conditions.append(name)
    parameters.update({name: args[name] for name in ("author", "published_after", "published_before") if name in args})
    if "title" in args:
        parameters["title"] = f"%{escape_like(args['title'])}%"
    if "isbn" in args:
        parameters["isbn"] = to_isbn13(args["isbn"])
    return BookQuery(tuple(conditions), tuple(args.get("sort") or ()), parameters, query_fingerprint(args))


def find_books(args, count_cap):
    """One page of the books ``args`` select, by offset page or by cursor."""
    query, size, exact = book_query(args), args["size"], args["count"] == "exact"
    keys = query.keys
    if "cursor" in args:
        direction, values = decode_cursor(args["cursor"], keys, query.fingerprint)
        statement, parameters = query.rows_from(direction, values, size, counted=not exact)
        page_number = None
    else:
        direction, page_number = "n", args.get("page", 1)
        statement, parameters = query.first_rows(size, (page_number - 1) * size, counted=not exact)
    found = reads.records(statement, {**parameters, "count_limit": count_cap + 1})

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
    if found and has_next:
        page.next_cursor = encode_cursor("n", keys, position(found[-1], keys), query.fingerprint)
    if found and has_prev:
        page.prev_cursor = encode_cursor("p", keys, position(found[0], keys), query.fingerprint)
    return page


def position(row, keys):
    return [row[key.name] for key in keys]

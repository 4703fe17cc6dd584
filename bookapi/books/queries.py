"""Named queries over books: filters, search, ordering, pages and counts."""
import re
from dataclasses import dataclass

from flask import abort
from sqlalchemy import REAL, Select, bindparam, func, select, text

from bookapi import reads
from bookapi.books.models import Book
from bookapi.books.pagination import Page, SortKey, decode_cursor, encode_cursor, query_fingerprint, rows_after
from bookapi.extensions import db
from bookapi.isbn import to_isbn13

MAX_ID = 2**63 - 1
SEARCH_VECTOR = Book.__table__.c.search_vector
# Hot reads select these columns as plain rows; mapped objects are for writes.
BOOK_COLUMNS = [column for column in Book.__table__.c if column is not SEARCH_VECTOR]
# Built once: the lookups are the hottest reads, and a prebuilt statement skips construction and cache keying.
BOOK_BY_ID = select(*BOOK_COLUMNS).where(Book.id == bindparam("book_id"))
BOOK_BY_ISBN13 = select(*BOOK_COLUMNS).where(Book.isbn13 == bindparam("isbn13"))
TABLE_ESTIMATE = select(text("reltuples::bigint")).select_from(text("pg_class")).where(
    text("oid = 'books'::regclass")
)
SORT_COLUMNS = {
    "title": Book.title, "author": Book.author, "published_date": Book.published_date,
    "created_at": Book.created_at, "id": Book.id,
}
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


def search_query(q):
    """The tsquery for ``q``, widened by its spelling-corrected form when some word matched nothing."""
    tsquery = func.websearch_to_tsquery("english", q)
    corrected = spelling_corrected(q)
    if corrected:
        tsquery = tsquery.op("||")(func.websearch_to_tsquery("english", corrected))
    return tsquery


def book_filters(args, tsquery=None):
    conditions = []
    if tsquery is not None:
        conditions.append(SEARCH_VECTOR.op("@@")(tsquery))
    if "author" in args:
        conditions.append(func.lower(Book.author) == func.lower(args["author"]))
    if "title" in args:
        conditions.append(Book.title.ilike(f"%{escape_like(args['title'])}%", escape="\\"))
    if "isbn" in args:
        conditions.append(Book.isbn13 == to_isbn13(args["isbn"]))
    if "published_after" in args:
        conditions.append(Book.published_date >= args["published_after"])
    if "published_before" in args:
        conditions.append(Book.published_date <= args["published_before"])
    return conditions


def sort_keys(sort, rank=None):
    """The requested order (relevance when searching, else id), ending in the unique id tiebreak."""
    keys = [SortKey(name.lstrip("-"), SORT_COLUMNS[name.lstrip("-")], name.startswith("-")) for name in sort or ()]
    if not keys and rank is not None:
        keys = [SortKey("rank", rank, True)]
    if not any(key.name == "id" for key in keys):
        keys.append(SortKey("id", Book.id, keys[-1].descending if keys else False))
    return keys


def capped_count(matching, cap):
    """How many rows ``matching`` selects, counting no further than ``cap + 1``."""
    return select(func.count()).select_from(matching.limit(cap + 1).subquery()).scalar_subquery()


def estimated_rows(query):
    """The planner's row estimate for ``query``: free next to counting a million rows."""
    connection = reads.connection()
    compiled = query.compile(connection)
    plan = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params).scalar()
    return int(plan[0]["Plan"]["Plan Rows"])


def count_rows(query, cap, exact=False):
    """``(total, is_estimate)``: exact up to ``cap`` rows (or always, when asked), the planner's estimate above."""
    if exact:
        return reads.execute(select(func.count()).select_from(query.subquery())).scalar(), False
    return settle_count(query, reads.execute(select(capped_count(query, cap))).scalar(), cap)


def settle_count(query, counted, cap, table_estimate=None):
    if counted <= cap:
        return counted, False
    return max(table_estimate if table_estimate is not None else estimated_rows(query), counted), True


def first_or_404(statement, parameters, detail):
    row = reads.execute(statement, parameters).mappings().first()
    if row is None:
        abort(404, detail)
    return row


def book_row_or_404(book_id):
    """A book as a row, for reading: lighter than loading the mapped object."""
    if not 0 < book_id <= MAX_ID:
        book_not_found(book_id)
    return first_or_404(BOOK_BY_ID, {"book_id": book_id}, f"Book with id {book_id} not found")


@dataclass
class BookQuery:
    """The books some list arguments select, and the order they come in."""

    rows: Select
    matching: Select
    keys: list
    fingerprint: str
    filtered: bool

    def first_rows(self, size, offset=0):
        return self.rows.order_by(*(key.order_by() for key in self.keys)).limit(size + 1).offset(offset)

    def rows_from(self, direction, values, size):
        """Up to ``size + 1`` rows after a cursor position (``n``), or before it, nearest first (``p``)."""
        walk = self.keys if direction == "n" else [key.reversed() for key in self.keys]
        return self.rows.where(rows_after(walk, values)).order_by(*(key.order_by() for key in walk)).limit(size + 1)

    def with_counts(self, statement, cap):
        """``statement`` with the capped count (and, unfiltered, the table estimate) in the same round trip."""
        statement = statement.add_columns(capped_count(self.matching, cap).label("capped_total"))
        if not self.filtered:
            statement = statement.add_columns(TABLE_ESTIMATE.scalar_subquery().label("table_estimate"))
        return statement


def book_query(args):
    tsquery = search_query(args["q"]) if "q" in args else None
    rank = func.ts_rank(SEARCH_VECTOR, tsquery, type_=REAL) if tsquery is not None else None
    conditions = book_filters(args, tsquery)
    return BookQuery(
        rows=select(*BOOK_COLUMNS, *([rank.label("rank")] if rank is not None else [])).where(*conditions),
        matching=select(Book.id).where(*conditions),
        keys=sort_keys(args.get("sort"), rank),
        fingerprint=query_fingerprint(args),
        filtered=bool(conditions),
    )


def find_books(args, count_cap):
    """One page of the books ``args`` select, by offset page or by cursor."""
    query, size, exact = book_query(args), args["size"], args["count"] == "exact"
    if "cursor" in args:
        direction, values = decode_cursor(args["cursor"], query.keys, query.fingerprint)
        statement, page_number = query.rows_from(direction, values, size), None
    else:
        direction, page_number = "n", args.get("page", 1)
        statement = query.first_rows(size, (page_number - 1) * size)
    found = reads.execute(statement if exact else query.with_counts(statement, count_cap)).mappings().all()

    if exact or not found:
        total, is_estimate = count_rows(query.matching, count_cap, exact)
    else:
        total, is_estimate = settle_count(query.matching, found[0]["capped_total"], count_cap,
                                          found[0].get("table_estimate"))
    # One row beyond the page says whether there is more in the direction of travel.
    more = len(found) > size
    found = found[:size] if direction == "n" else found[:size][::-1]
    page = Page(items=found, size=size, total=total, total_is_estimate=is_estimate, page=page_number)
    has_next = more if direction == "n" else True
    has_prev = more if direction == "p" else page_number != 1
    if found and has_next:
        page.next_cursor = encode_cursor("n", query.keys, position(found[-1], query.keys), query.fingerprint)
    if found and has_prev:
        page.prev_cursor = encode_cursor("p", query.keys, position(found[0], query.keys), query.fingerprint)
    return page


def position(row, keys):
    return [row[key.name] for key in keys]

"""The statements of book reads: the two lookups, and list statements built once per query *shape* and reused.

A shape is which conditions a list has (filters, and a search with or without a spelling correction), its sort
and which way it walks; the values a request sends are bound parameters. So a shape's statement is built and
cache-keyed once per process, and SQLAlchemy finds its compiled SQL in its cache on every later request.
"""
from functools import lru_cache

from sqlalchemy import REAL, Integer, and_, bindparam, case, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import TSVECTOR

from bookapi.books.models import Book
from bookapi.books.pagination import SortKey, longest_cursor, rows_after

# How many query shapes keep their statements (conditions, sort, direction, counted or not).
STATEMENT_SHAPES = 512
SEARCH_VECTOR = Book.__table__.c.search_vector
# Hot reads select these columns as plain rows; mapped objects are for writes.
BOOK_COLUMNS = [column for column in Book.__table__.c if column is not SEARCH_VECTOR]
BOOK_BY_ID = select(*BOOK_COLUMNS).where(Book.id == bindparam("book_id"))
BOOK_BY_ISBN13 = select(*BOOK_COLUMNS).where(Book.isbn13 == bindparam("isbn13"))
# Null until the table is first analysed (reltuples is -1 then): the list asks the planner instead.
TABLE_ESTIMATE = select(text("nullif(reltuples, -1)::bigint")).select_from(text("pg_class")).where(
    text("oid = 'books'::regclass")
).scalar_subquery()
# An unfiltered list is not counted when the planner puts the table at more than this many times the count limit
# (cap + 1): the count would scan that many index entries on every page only to confirm the estimate. For the
# count to come out under the cap, more than half the table would have to have gone since the statistics were
# last gathered (autovacuum gathers them again after a tenth of it changes); until they catch up with such a
# mass delete, the list reports the old estimate, flagged as an estimate.
TRUSTED_ESTIMATE_FACTOR = 2
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
# What PostgreSQL's parser made of a search: whether it kept any word (it drops stop words), and whether a book with
# no words at all would match (a search of exclusions, alone or in an `or`, matches nearly every book, and its index
# can only be read whole). A search is bounded by its index when it has words and such a book does not match.
SEARCH_TRAITS = {
    name: (func.numnode(tsquery) > 0, literal_column("''::tsvector", TSVECTOR).bool_op("@@")(tsquery))
    for name, tsquery in TSQUERIES.items()
}
SEARCH_CHECKS = {name: select(*traits) for name, traits in SEARCH_TRAITS.items()}
# The traits are constants by the time the planner sees them (the search is bound as a literal), so the statements
# of an unbounded search are planned with a one-time false filter, and scan nothing.
BOUNDED = {name: and_(has_words, ~matches_wordless) for name, (has_words, matches_wordless) in SEARCH_TRAITS.items()}
# Every condition a list can have, in the order a shape names them; each value is a bound parameter of its name.
CONDITIONS = {
    **{name: and_(SEARCH_VECTOR.op("@@")(tsquery), BOUNDED[name]) for name, tsquery in TSQUERIES.items()},
    "author": func.lower(Book.author) == func.lower(bindparam("author")),
    "title": Book.title.ilike(bindparam("title"), escape="\\"),
    "isbn": Book.isbn13 == bindparam("isbn"),
    "published_after": Book.published_date >= bindparam("published_after"),
    "published_before": Book.published_date <= bindparam("published_before"),
}
FILTERS = tuple(name for name in CONDITIONS if name not in TSQUERIES)


def search_of(conditions):
    """The search among a shape's conditions (it always comes first), or None."""
    return conditions[0] if conditions and conditions[0] in TSQUERIES else None


@lru_cache(maxsize=STATEMENT_SHAPES)
def sort_keys(sort, search=None):
    """The requested order (relevance when searching, else id), ending in the unique id tiebreak."""
    keys = [SortKey(name.lstrip("-"), SORT_COLUMNS[name.lstrip("-")], name.startswith("-")) for name in sort]
    if not keys and search is not None:
        keys = [SortKey("rank", RANKS[search], True)]
    if not any(key.name == "id" for key in keys):
        keys.append(SortKey("id", Book.id, keys[-1].descending if keys else False))
    return tuple(keys)


# The longest search, and the longest spelling correction of one (a cursor carries it).
SEARCH_MAX_LENGTH = 200
# Every key a cursor can carry (a cursor carries some of them) at its widest, with the longest correction.
MAX_CURSOR_LENGTH = longest_cursor((*sort_keys(tuple(SORT_COLUMNS)), *sort_keys((), "q")), SEARCH_MAX_LENGTH)


def capped_count(matching):
    """How many rows ``matching`` selects, counting no further than ``count_limit``."""
    return select(func.count()).select_from(matching.limit(COUNT_LIMIT).subquery()).scalar_subquery()


@lru_cache(maxsize=STATEMENT_SHAPES)
def matching_statement(conditions):
    """The ids of the books a shape's conditions select: what its counts count."""
    return select(Book.id).where(*(CONDITIONS[name] for name in conditions))


@lru_cache(maxsize=STATEMENT_SHAPES)
def page_statement(conditions, sort, walk, counted):
    """The rows of a page: from the start (``walk`` "first", with an offset), or after a cursor position ("n")
    or before it, nearest first ("p"); ``counted`` adds the capped count (unfiltered: the table's estimate too, and
    no count when that estimate is trusted)."""
    search = search_of(conditions)
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

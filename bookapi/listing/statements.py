"""The statements of a collection's list, built once per query *shape* and reused.

A shape is which conditions a list has (filters, and a search with or without a spelling correction), its sort
and which way it walks; the values a request sends are bound parameters. So a shape's statement is built and
cache-keyed once per process, and SQLAlchemy finds its compiled SQL in its cache on every later request.
"""
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Column, Integer, and_, bindparam, case, cast, func, or_, select, tuple_

# How many query shapes keep their statements (collection, conditions, sort, direction, counted or not).
STATEMENT_SHAPES = 512
# An unfiltered list is not counted when the planner puts the table at more than this many times the count limit
# (cap + 1): the count would scan that many index entries on every page only to confirm the estimate. For the
# count to come out under the cap, more than half the table would have to have gone since the statistics were
# last gathered (autovacuum gathers them again after a tenth of it changes); until they catch up with such a
# mass delete, the list reports the old estimate, flagged as an estimate.
TRUSTED_ESTIMATE_FACTOR = 2
LIMIT = bindparam("limit", type_=Integer)
OFFSET = bindparam("offset", type_=Integer)
COUNT_LIMIT = bindparam("count_limit", type_=Integer)
# What a search ranks by when the request names no sort; a page's rows carry it under this name for its cursors.
RANK = "rank"


@dataclass(frozen=True)
class SortKey:
    """A key of a list's order. ``label`` names its value in a page's rows, for cursors: the key's name when the key
    is the column of that name, else ``sort_<name>``, selected for it (as for a nullable column sorted through a
    stand-in for null, whose field keeps its null)."""

    name: str
    expression: object
    descending: bool
    label: str

    def reversed(self):
        return SortKey(self.name, self.expression, not self.descending, self.label)

    def order_by(self):
        return self.expression.desc() if self.descending else self.expression.asc()


def value_label(name, expression):
    """The ``label`` of the sort key ``name`` on ``expression`` (see SortKey)."""
    column = getattr(expression, "expression", expression)
    return name if isinstance(column, Column) and column.name == name else f"sort_{name}"


def position_bound(key, i=0):
    """The ``i``-th value of a cursor position, bound as ``after_<i>``, as a value of ``key``."""
    # Cast to each key's own type: a rank is a float4, and its float8 neighbour would not compare equal.
    return cast(bindparam(f"after_{i}"), key.expression.type)


def rows_after(keys):
    """Rows strictly after the position bound as ``after_0``, ``after_1``, … in the order of ``keys``."""
    values = [position_bound(key, i) for i, key in enumerate(keys)]
    if len({key.descending for key in keys}) == 1:
        left, right = tuple_(*(key.expression for key in keys)), tuple_(*values)
        return left < right if keys[0].descending else left > right
    # Mixed directions cannot compare as one row. The first key's bound, implied by the OR, is what lets a page
    # start at its place in that key's index rather than walk the index from one end.
    first, after_first = keys[0].expression, values[0]
    return and_(first <= after_first if keys[0].descending else first >= after_first, or_(*(
        and_(*(keys[j].expression == values[j] for j in range(i)),
             keys[i].expression < values[i] if keys[i].descending else keys[i].expression > values[i])
        for i in range(len(keys))
    )))


def position_parameters(values):
    """The parameters of ``rows_after`` for a position."""
    return {f"after_{i}": value for i, value in enumerate(values)}


@lru_cache(maxsize=STATEMENT_SHAPES)
def sort_keys(collection, sort, search=None):
    """The requested order (relevance when searching, else the tiebreak), ending in the unique tiebreak."""
    keys = [sort_key(collection, name.lstrip("-"), name.startswith("-")) for name in sort]
    if not keys and search is not None:
        keys = [SortKey(RANK, collection.search.ranks[search], True, RANK)]
    if not any(key.name == collection.tiebreak for key in keys):
        keys.append(sort_key(collection, collection.tiebreak, keys[-1].descending if keys else False))
    return tuple(keys)


def sort_key(collection, name, descending):
    expression = collection.sort_keys[name]
    return SortKey(name, expression, descending, value_label(name, expression))


def capped_count(matching):
    """How many rows ``matching`` selects, counting no further than ``count_limit``."""
    return select(func.count()).select_from(matching.limit(COUNT_LIMIT).subquery()).scalar_subquery()


@lru_cache(maxsize=STATEMENT_SHAPES)
def matching_statement(collection, conditions):
    """The tiebreak (unique) key of the rows a shape's conditions select: what its counts count (for a shape of one
    filter that declares its ``matching`` keys, those)."""
    alone = collection.matching_alone(conditions)
    if alone is not None:
        return alone
    return select(collection.sort_keys[collection.tiebreak]).where(*collection.conditions_of(conditions))


@lru_cache(maxsize=STATEMENT_SHAPES)
def count_statement(collection, conditions, exact):
    """How many rows a shape's conditions select: all of them, or no further than ``count_limit``."""
    matching = matching_statement(collection, conditions)
    return select(func.count()).select_from(matching.subquery()) if exact else select(capped_count(matching))


@lru_cache
def estimate_statement(collection):
    """The planner's estimate of the rows of ``collection``'s table."""
    return select(collection.estimate)


@lru_cache(maxsize=STATEMENT_SHAPES)
def page_statement(collection, conditions, sort, walk, counted):
    """The rows of a page: from the start (``walk`` "first", with an offset), or after a cursor position ("n")
    or before it, nearest first ("p"); ``counted`` adds the capped count (unfiltered: the table's estimate too, and
    no count when that estimate is trusted)."""
    search = collection.search_of(conditions)
    keys = sort_keys(collection, sort, search)
    columns = [*collection.columns, collection.search.ranks[search].label(RANK)] if search else [*collection.columns]
    columns += [key.expression.label(key.label) for key in keys if key.label != key.name]
    where = collection.conditions_of(conditions)
    if walk != "first":
        keys = keys if walk == "n" else tuple(key.reversed() for key in keys)
        if keys[0].name == collection.tiebreak:
            where = collection.conditions_past(conditions, position_bound(keys[0]), keys[0].descending)
        where.append(rows_after(keys))
    statement = select(*columns).where(*where)
    statement = statement.order_by(*(key.order_by() for key in keys)).limit(LIMIT)
    if walk == "first":
        statement = statement.offset(OFFSET)
    if counted:
        statement = with_count(statement, collection, conditions)
    return statement


def with_count(statement, collection, conditions):
    """``statement`` with the capped count of the rows (unfiltered: the table's estimate too, and no count when
    that estimate is trusted)."""
    count = capped_count(matching_statement(collection, conditions))
    if conditions:
        return statement.add_columns(count.label("capped_total"))
    uncounted = collection.estimate > COUNT_LIMIT * TRUSTED_ESTIMATE_FACTOR
    return statement.add_columns(
        case((uncounted, None), else_=count).label("capped_total"), collection.estimate.label("table_estimate")
    )

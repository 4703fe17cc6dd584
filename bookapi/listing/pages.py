"""Pages of a collection: the query some list arguments make, its page by offset or by cursor, and its count.

A list query runs the prebuilt statements of listing/statements.py: it is a statement and the parameters to run it
with, ``(statement, parameters)``, rather than a bare ``Select``.
"""
import time
from dataclasses import dataclass

from flask import current_app

from bookapi import reads
from bookapi.listing.cursors import decode_cursor, encode_cursor, query_fingerprint
from bookapi.listing.statements import (
    TRUSTED_ESTIMATE_FACTOR,
    count_statement,
    estimate_statement,
    matching_statement,
    page_statement,
    position_parameters,
    sort_keys,
)

# Where an app keeps when each collection's table estimate was last read, and what it was:
# {collection: (monotonic time, estimate)}.
TABLE_ESTIMATES = "bookapi.listing.table_estimates"


@dataclass
class Page:
    items: list
    size: int
    total: int
    total_is_estimate: bool
    page: int | None = None
    next_cursor: str | None = None
    prev_cursor: str | None = None

    @property
    def pages(self):
        return -(-self.total // self.size) if self.page is not None else None


def table_estimate(collection):
    """The planner's estimate of the rows of ``collection``'s table (None before it is first analysed), read again
    once it is older than LIST_ESTIMATE_MAX_AGE seconds. Only VACUUM and ANALYZE move it, so reading it for every
    page would be wasted: an unfiltered page whose table is too large to count need not ask for it at all, and its
    statement is planned without the count it would not run."""
    now, kept = time.monotonic(), current_app.extensions.setdefault(TABLE_ESTIMATES, {})
    read_at, estimate = kept.get(collection, (None, None))
    if read_at is None or now - read_at >= current_app.config["LIST_ESTIMATE_MAX_AGE"]:
        estimate = reads.scalar(estimate_statement(collection))
        kept[collection] = (now, estimate)
    return estimate


def trusted_estimate(collection, conditions, cap):
    """The table's estimate when an unfiltered list reports it rather than counting (see TRUSTED_ESTIMATE_FACTOR);
    else None."""
    if conditions:
        return None
    estimate = table_estimate(collection)
    return estimate if estimate is not None and estimate > (cap + 1) * TRUSTED_ESTIMATE_FACTOR else None


def settle_count(counted, cap, estimate):
    """``(total, is_estimate)``: the count when it stayed within ``cap``, else the larger of it and ``estimate()``
    (``counted`` is None when the rows were not counted)."""
    if counted is not None and counted <= cap:
        return counted, False
    return max(estimate(), counted or 0), True


@dataclass
class ListQuery:
    """The rows some list arguments select from a collection, and their order: a shape, which picks prebuilt
    statements, and the values those statements are run with (a search's correction among them)."""

    collection: object
    conditions: tuple
    sort: tuple
    parameters: dict
    fingerprint: str
    correction: str | None = None

    @property
    def search(self):
        return self.collection.search_of(self.conditions)

    @property
    def keys(self):
        return sort_keys(self.collection, self.sort, self.search)

    def matching_query(self):
        """``(statement, parameters)`` selecting the tiebreak key of every matching row."""
        return matching_statement(self.collection, self.conditions), self.parameters

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
        statement = page_statement(self.collection, self.conditions, self.sort, walk, counted)
        return statement, {**self.parameters, **parameters}

    def refuse_unbounded_search(self):
        """422, saying why, for a search its index cannot bound (the search's own test)."""
        search = self.search
        if search is not None and self.collection.search.refuse is not None:
            self.collection.search.refuse(search, self.parameters)

    def count(self, cap, exact=False):
        """``(total, is_estimate)``: exact up to ``cap`` rows (or always, when asked), the planner's estimate above."""
        statement = count_statement(self.collection, self.conditions, exact)
        if exact:
            return reads.scalar(statement, self.parameters), False
        counted = reads.scalar(statement, {**self.parameters, "count_limit": cap + 1})
        return settle_count(counted, cap, self.estimated_rows)

    def estimated_rows(self):
        """The planner's row estimate for the matching rows: free next to counting a million of them."""
        return int(reads.explain(*self.matching_query())[0]["Plan"]["Plan Rows"])


def list_query(collection, args, cursor=None):
    """The rows of ``collection`` that ``args`` select; the pages of a ``cursor`` keep the correction it was made
    with."""
    conditions, parameters, correction = [], {}, None
    search = collection.search
    if search is not None and search.argument in args:
        correction = search.correction(args[search.argument], cursor)
        conditions.append(search.variant(correction))
        parameters[search.argument] = args[search.argument]
        if correction:
            parameters[search.correction_parameter] = correction
    for name, filter_ in collection.filters.items():
        if name in args:
            conditions.append(name)
            parameters[name] = filter_.value(args[name])
    fingerprint = query_fingerprint(args, collection.cursor_scope)
    sort = tuple(args.get("sort") or collection.default_sort)
    return ListQuery(collection, tuple(conditions), sort, parameters, fingerprint, correction)


def find_page(collection, args, count_cap):
    """One page of the rows of ``collection`` that ``args`` select, by offset page or by cursor."""
    cursor = decode_cursor(args["cursor"], collection.max_cursor_length) if "cursor" in args else None
    query, size, exact = list_query(collection, args, cursor), args["size"], args["count"] == "exact"
    estimate = None if exact else trusted_estimate(collection, query.conditions, count_cap)
    keys, capped_at = query.keys, None if exact or estimate is not None else count_cap
    if cursor:
        direction, page_number = cursor.direction, None
        statement, parameters = query.rows_from(direction, cursor.position(keys, query.fingerprint), size, capped_at)
    else:
        direction, page_number = "n", args.get("page", 1)
        statement, parameters = query.first_rows(size, (page_number - 1) * size, capped_at)
    found = reads.records(statement, parameters)
    if not found:
        query.refuse_unbounded_search()

    if estimate is not None:
        total, is_estimate = estimate, True
    elif exact or not found:
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
        page.next_cursor = encode_cursor("n", keys, position(found[-1], keys), query.fingerprint, query.correction)
    if found and has_prev:
        page.prev_cursor = encode_cursor("p", keys, position(found[0], keys), query.fingerprint, query.correction)
    return page


def position(row, keys):
    return [row[key.label] for key in keys]

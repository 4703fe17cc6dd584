"""What a resource declares to be listed: a ``Collection`` of its table's rows, and the machinery does the rest.

    USER_LIST = Collection(
        table=User.__table__,
        columns=(User.id, User.email, User.role, User.is_active, User.display_name, User.created_at),
        sort_keys={"email": User.email, "created_at": User.created_at, "id": User.id},
        filters={"role": Filter(User.role == bindparam("role")), "q": contains(User.email, "q")},
    )

A filter's condition compares a column with a bound parameter named as the filter's argument, so a statement is
built once per combination of filters and its values travel as parameters. A search that ranks its rows, and may
correct what it was given, plugs in as a ``Search`` (``resembling`` makes one of a name column, typo-tolerant).
"""
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import REAL, Index, Select, bindparam, func, select, text
from sqlalchemy.sql.elements import ColumnElement

from bookapi.listing.cursors import longest_cursor
from bookapi.listing.statements import sort_keys


def unchanged(value):
    return value


def escape_like(value):
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def containing(value):
    """A LIKE pattern for any text that contains ``value``, whose ``%`` and ``_`` are literal."""
    return f"%{escape_like(value)}%"


@dataclass(frozen=True)
class Filter:
    """An argument that narrows a list: ``condition`` on the bound parameter of the argument's name, whose value is
    ``value(argument)``.

    ``past(bound, descending)``, when given, is the same condition for a page that walks the tiebreak from a
    cursor's ``bound`` (upwards, or downwards when ``descending``), stated so that the filter's own index starts at
    that position too: a condition on a link table cannot see the page's bound on the listed table's key, and the
    planner may then read the links from their start.

    ``matching``, when given, selects the tiebreak key of each row the filter alone selects, from a table that names
    each such row once (a link table: its foreign key names a listed row, and its unique pair names it once per
    value): the count of a list with no other condition counts those keys and never reads the listed table.
    ``narrow`` says that each value selects few rows (an author's books, where a category may hold a tenth of the
    catalogue): a count of several such filters walks a narrow one's keys and looks each up in the others'.
    """

    condition: ColumnElement
    value: Callable = unchanged
    past: Callable | None = None
    matching: Select | None = None
    narrow: bool = False


def looked_up(key, matching):
    """Whether ``matching`` selects ``key``, asked once per key, in the index that bounds ``matching``.

    ``matching`` is read through a subquery, so that its table is not taken for the walked one's where both are the
    same table (two filters on one link table). Without the OFFSET, PostgreSQL turns the EXISTS into a join and, for
    a prolific author's links and a broad category's, merges the two lists in key order: it walks the category's
    links from their start until the count's limit is reached, which grows with the catalogue, where looking up
    each of the author's books does not. (Hence only from a ``narrow`` filter's keys: two broad lists are merged
    faster than looked up key by key.)
    """
    keys = matching.subquery()
    return select(keys.c[0]).where(keys.c[0] == key).offset(0).exists()


def trigram_index(name, column):
    """A trigram index on ``column``, which bounds a ``contains`` filter on it (given three letters or digits)."""
    return Index(name, column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"})


def contains(column, name):
    """The rows whose ``column`` contains the argument ``name``, ignoring case (a trigram index can bound it)."""
    return Filter(column.ilike(bindparam(name), escape="\\"), containing)


@dataclass(eq=False)
class Search:
    """A ranked search under the argument ``argument``, bound as the parameter of that name.

    ``correct(value)``, when given, may find a correction of a first page's search (or None); it is bound as
    ``corrected_<argument>`` and carried in the page's cursors, so that later pages keep it. ``conditions`` and
    ``ranks`` hold the search's condition and rank as ``<argument>``, and with a correction as
    ``<argument>_corrected``. The rows are in rank order unless the request sorts them. ``refuse(variant,
    parameters)``, when given, runs when a search finds nothing, to raise a ValidationError for one its index cannot
    bound. ``max_correction_length`` bounds the corrections, which cursors are sized for.
    """

    argument: str
    conditions: dict
    ranks: dict
    correct: Callable | None = None
    refuse: Callable | None = None
    max_correction_length: int | None = None

    def __post_init__(self):
        self.correction_parameter = f"corrected_{self.argument}"
        self.variants = (self.argument, f"{self.argument}_corrected") if self.correct else (self.argument,)
        if set(self.conditions) != set(self.variants) or set(self.ranks) != set(self.variants):
            raise ValueError(f"a search declares a condition and a rank for each of {self.variants}")

    def correction(self, value, cursor=None):
        """The correction of a search for ``value``: the one a cursor's first page was made with, else a new one."""
        if not self.correct:
            return None
        return (cursor.correction if cursor else self.correct(value)) or None

    def variant(self, correction):
        return self.variants[1] if correction else self.variants[0]


def resembling(column, argument):
    """A typo-tolerant search of ``column`` for the argument ``argument``: the rows with a part like it, by pg_trgm's
    word similarity (``%>``, over ``pg_trgm.word_similarity_threshold``), which a trigram index on the column
    bounds; ranked by it plus the similarity of the whole text, so that "Banks" comes before "Banks Jr." for
    `banks`."""
    value = bindparam(argument, type_=column.type)
    return Search(
        argument=argument,
        conditions={argument: column.op("%>")(value)},
        ranks={argument: func.word_similarity(value, column, type_=REAL) + func.similarity(value, column, type_=REAL)},
    )


@dataclass(eq=False)
class Collection:
    """A list of ``table``'s rows: a page selects ``columns``; ``sort_keys`` (name: column) may order it, ending in
    ``tiebreak``, a unique one; ``sortable`` are the keys a request may sort by (all of them unless given: where
    no index orders the filtered rows by the tiebreak, it only breaks ties); ``default_sort`` (``-name`` for
    descending) is the order of a list that names no sort, the tiebreak ascending unless given; ``filters``
    (argument: Filter) narrow it, and a ``search`` ranks it (in rank order when unsorted, so it declares no default
    sort). Counts count the tiebreak of the matching rows; the estimate of the whole table is the planner's (pg_class).
    ``cursor_scope`` (up to 16 bytes; the table's name unless given) keeps one collection's cursors from passing
    for another's."""

    table: object
    columns: tuple
    sort_keys: dict
    filters: dict = field(default_factory=dict)
    search: Search | None = None
    tiebreak: str = "id"
    cursor_scope: bytes | None = None
    default_sort: tuple = ()
    sortable: tuple | None = None

    def __post_init__(self):
        self.columns = tuple(self.columns)
        if self.cursor_scope is None:
            self.cursor_scope = self.table.name.encode()
        if len(self.cursor_scope) > 16:
            raise ValueError("a cursor scope is BLAKE2b's personalization: 16 bytes at most")
        variants = self.search.conditions if self.search else {}
        if set(variants) & set(self.filters):
            raise ValueError("a filter and the search cannot share an argument")
        self.default_sort = tuple(self.default_sort)
        self.sortable = tuple(self.sort_keys if self.sortable is None else self.sortable)
        if not {key.lstrip("-") for key in self.default_sort} | set(self.sortable) <= set(self.sort_keys):
            raise ValueError("a default sort and the sortable keys are among the collection's sort keys")
        if self.default_sort and self.search:
            raise ValueError("a collection with a search ranks an unsorted list, so it declares no default sort")
        self.conditions = {**variants, **{name: filter_.condition for name, filter_ in self.filters.items()}}
        # Null until the table is first analysed (reltuples is -1 then): the list asks the planner instead.
        self.estimate = select(text("nullif(reltuples, -1)::bigint")).select_from(text("pg_class")).where(
            text(f"oid = '{self.table.name}'::regclass")
        ).scalar_subquery()
        self.max_cursor_length = self.longest_cursor()

    def conditions_of(self, names):
        return [self.conditions[name] for name in names]

    def matching_alone(self, names):
        """The keys a shape selects, read from its filters' ``matching`` statements alone, when each of its
        conditions is a filter that declares one: a lone filter's own; of several, the first ``narrow`` one's, each
        key looked up in the others' (see ``looked_up``). Else (several broad filters among them) None."""
        filters = [self.filters.get(name) for name in names]
        if not filters or any(filter_ is None or filter_.matching is None for filter_ in filters):
            return None
        if len(filters) == 1:
            return filters[0].matching
        walked = next((filter_ for filter_ in filters if filter_.narrow), None)
        if walked is None:
            return None
        key = walked.matching.selected_columns[0]
        others = [filter_.matching for filter_ in filters if filter_ is not walked]
        return walked.matching.where(*(looked_up(key, matching) for matching in others))

    def conditions_past(self, names, bound, descending):
        """``conditions_of(names)`` for a page that walks the tiebreak from ``bound`` (see ``Filter.past``)."""
        return [self.filters[name].past(bound, descending) if name in self.filters and self.filters[name].past
                else self.conditions[name] for name in names]

    def search_of(self, conditions):
        """The search among a shape's conditions (it always comes first), or None."""
        return conditions[0] if conditions and self.search and conditions[0] in self.search.variants else None

    def longest_cursor(self):
        """Every key a cursor can carry (a cursor carries some of them) at its widest, with the longest
        correction."""
        keys = sort_keys(self, tuple(self.sort_keys))
        if self.search is None:
            return longest_cursor(keys)
        correction_length = self.search.max_correction_length if self.search.correct else None
        return longest_cursor((*keys, *sort_keys(self, (), self.search.variants[0])), correction_length)

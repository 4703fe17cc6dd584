"""Every list, filter, sort and search path is bounded by an index on tables of 100,000 books, 100,000 accounts,
100,000 authors, 100,000 categories, and 100,000 reviews and favorites (most a few per book or reader, a large share
one book's or one reader's): no sequential scan, and no scan that walks a large part of a table or an index (the
plans are run, and their scans' rows counted).

The rows live in a schema of their own, copies of the real tables with all their indexes, so the rest of the
suite keeps its empty catalogue; each test points the read connection's search_path there, and back.
"""
import pytest
from sqlalchemy import func, select, text

from bookapi import reads
from bookapi.authors.schemas import author_list_args_schema
from bookapi.authors.statements import AUTHOR_LIST
from bookapi.books.schemas import book_list_args_schema
from bookapi.books.statements import BOOK_LIST
from bookapi.categories.schemas import category_list_args_schema
from bookapi.categories.statements import CATEGORY_LIST
from bookapi.extensions import db
from bookapi.favorites.queries import USER_FAVORITES
from bookapi.favorites.schemas import favorite_list_args_schema
from bookapi.listing.pages import list_query
from bookapi.reviews.queries import BOOK_REVIEWS
from bookapi.reviews.schemas import review_list_args_schema
from bookapi.users.queries import USER_LIST
from bookapi.users.schemas import user_list_args_schema

ROWS = 100_000
# A scan that reads a quarter of the table is walking it; a broad search's matches are a few percent of it.
FULL_WALK = ROWS // 4
# Words for titles, authors and emails: w, n of them.
WORDS = """LATERAL (SELECT string_to_array('amber anchor apple arrow aspen autumn badger banner barley beacon birch '
         || 'blossom bramble breeze bridge canyon castle cedar cinder clover comet copper coral crane crystal '
         || 'dawn delta desert dragon dune eagle ember falcon fern flint forest frost garden garnet glacier '
         || 'granite harbor hazel heron hollow island ivory jasper juniper lantern lark laurel lotus maple '
         || 'marble meadow mist moon moss oak ocean orchid otter pebble pine prairie quartz raven reef ridge '
         || 'river robin saffron sage shadow silver sparrow spruce star stone summit thistle thorn thunder '
         || 'tide timber valley velvet violet willow winter wolf wren zephyr', ' ') AS w) AS words,
     LATERAL (SELECT array_length(w, 1) AS n) AS counted"""
FILL_BOOKS = f"""
INSERT INTO plan_check.books (title, author, isbn, isbn13, published_date, description, review_count, rating_total)
SELECT initcap(w[1 + g % n] || ' ' || w[1 + (g / n) % n] || ' ' || w[1 + (g / (n * n)) % n]),
       initcap(w[1 + (g * 7) % 61] || ' ' || w[1 + (g * 13) % 59] || 'son'),
       isbn, isbn,
       date '1900-01-01' + (g * 37 % 45000),
       'A story of ' || w[1 + (g * 11) % n] || ' and ' || w[1 + (g * 17) % n] || '.',
       (g * 3) % 7, (g * 3) % 7 * (2 + g % 4)
FROM generate_series(1, {ROWS}) AS g,
     LATERAL (SELECT '978' || lpad(g::text, 9, '0') AS first12) AS f,
     LATERAL (SELECT first12 || ((10 - (SELECT sum(substr(first12, i, 1)::int * (CASE WHEN i % 2 = 0 THEN 3 ELSE 1 END))
                                        FROM generate_series(1, 12) AS i) % 10) % 10)::text AS isbn) AS n,
     {WORDS}
"""
# One account in 100 an admin, one in 10 an editor, one in 20 deactivated (in runs of 7, so of every role), created
# in an order that neither their ids nor their emails follow, each with a hash as long as an argon2id one.
FILL_USERS = f"""
INSERT INTO plan_check.users (email, password_hash, role, is_active, display_name, created_at)
SELECT w[1 + g % n] || '.' || w[1 + (g / n) % n] || g || '@' || (ARRAY['example.com', 'mail.example.org',
           'post.example.net'])[1 + g % 3],
       '$argon2id$v=19$m=19456,t=2,p=1$' || left(md5(g::text), 22) || '$' || md5(g::text) || left(md5(g::text), 11),
       CASE WHEN g % 100 = 3 THEN 'admin' WHEN g % 10 = 5 THEN 'editor' ELSE 'user' END,
       (g / 7) % 20 <> 3,
       initcap(w[1 + g % n] || ' ' || w[1 + (g / n) % n]),
       timestamptz '2020-01-01' + (g * 7919 % {ROWS}) * interval '1 minute'
FROM generate_series(1, {ROWS}) AS g,
     {WORDS}
"""

# Names of two or three words; one author in five with no known birth date; book counts of up to 50.
FILL_AUTHORS = f"""
INSERT INTO plan_check.authors (name, birth_date, book_count, created_at)
SELECT initcap(w[1 + g % n] || ' ' || CASE WHEN g % 3 = 0 THEN w[1 + (g * 7) % 61] || ' ' ELSE '' END
               || w[1 + (g / n) % n] || 'son'),
       CASE WHEN g % 5 = 2 THEN NULL ELSE date '1800-01-01' + (g * 37 % 70000) END,
       g * 13 % 51,
       timestamptz '2020-01-01' + (g * 7919 % {ROWS}) * interval '1 minute'
FROM generate_series(1, {ROWS}) AS g,
     {WORDS}
"""
# Names unique ignoring case, as the unique index asks: two words and a number.
FILL_CATEGORIES = f"""
INSERT INTO plan_check.categories (name, book_count, created_at)
SELECT initcap(w[1 + g % n] || ' ' || w[1 + (g / n) % n]) || ' ' || g, g * 17 % 101,
       timestamptz '2020-01-01' + (g * 7919 % {ROWS}) * interval '1 minute'
FROM generate_series(1, {ROWS}) AS g,
     {WORDS}
"""
# Books linked as the issue spreads them: author 1 has 2,000 of them (one in 50), 19,999 others about five each;
# category 1 holds half the books, and each book is in one of nineteen others too.
LINKED_AUTHORS = 20_000
FILL_BOOK_AUTHORS = f"""
INSERT INTO plan_check.book_authors (book_id, author_id, position)
SELECT g, CASE WHEN g % 50 = 0 THEN 1 ELSE 2 + g % ({LINKED_AUTHORS} - 1) END, 0 FROM generate_series(1, {ROWS}) AS g
"""
FILL_BOOK_CATEGORIES = f"""
INSERT INTO plan_check.book_categories (book_id, category_id)
SELECT g, 1 FROM generate_series(2, {ROWS}, 2) AS g
UNION ALL SELECT g, 2 + g % 19 FROM generate_series(1, {ROWS}) AS g
"""
# Three in ten reviews are of one book, and three in ten favorites one reader's; the others are spread over 5,000
# books and readers. Each row is written at a time that neither its id nor its rating follows.
POPULAR, POPULAR_SHARE = 7, ROWS * 3 // 10
FILL_OPINIONS = [f"""
INSERT INTO plan_check.{table} ({owner}, {owned}{columns})
SELECT CASE WHEN g <= {POPULAR_SHARE} THEN {POPULAR} ELSE 1 + g % 5000 END, g{values}
FROM generate_series(1, {ROWS}) AS g,
     LATERAL (SELECT timestamptz '2020-01-01' + (g * 7919 % {ROWS}) * interval '1 minute' AS stamp) AS s
""" for table, owner, owned, columns, values in (
    ("reviews", "book_id", "user_id", ", rating, created_at, updated_at", ", 1 + g * 7 % 5, stamp, stamp"),
    ("favorites", "user_id", "book_id", ", created_at", ", stamp"),
)]
PLANNED_TABLES = ("books", "search_words", "users", "authors", "categories", "book_authors", "book_categories",
                  "reviews", "favorites")


@pytest.fixture(scope="module")
def plan_schema(app):
    with app.app_context():
        for statement in (
            "SET LOCAL statement_timeout = 0",
            "DROP SCHEMA IF EXISTS plan_check CASCADE", "CREATE SCHEMA plan_check",
            *(f"CREATE TABLE plan_check.{table} (LIKE public.{table} INCLUDING ALL)" for table in PLANNED_TABLES),
            FILL_BOOKS,
            FILL_USERS,
            FILL_AUTHORS,
            FILL_CATEGORIES,
            FILL_BOOK_AUTHORS,
            FILL_BOOK_CATEGORIES,
            *FILL_OPINIONS,
            "INSERT INTO plan_check.search_words SELECT DISTINCT lexeme FROM plan_check.books, "
            "unnest(to_tsvector('simple', title || ' ' || author))",
        ):
            db.session.execute(text(statement))
        db.session.commit()
        # VACUUM moves the rows out of the GIN pending lists, as autovacuum would, and ANALYZE gives the planner
        # the statistics of a table in service.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # A sample of every row (300 × the target, over the 100,000 rows), so that the statistics, and the
            # plans made from them, are the same in every run.
            connection.execute(text("SET default_statistics_target = 1000"))
            # On a busy machine, reading every row of 100,000 takes longer than a request's statement timeout.
            connection.execute(text("SET statement_timeout = 0"))
            for table in PLANNED_TABLES:
                connection.execute(text(f"VACUUM ANALYZE plan_check.{table}"))
            connection.execute(text("RESET statement_timeout"))
            connection.execute(text("RESET default_statistics_target"))
    yield
    with app.app_context():
        db.session.execute(text("DROP SCHEMA plan_check CASCADE"))
        db.session.commit()


@pytest.fixture
def on_plan_schema(plan_schema):
    reads.rows(text("SET search_path TO plan_check, public"))
    yield
    reads.rows(text("RESET search_path"))


def plan_of(statement, parameters):
    """The plan of a statement, run: its nodes carry the rows each produced and filtered out."""
    return reads.explain(statement, parameters, "ANALYZE, FORMAT JSON")[0]["Plan"]


def nodes_of(plan, subplans=True):
    """A plan's nodes; without ``subplans``, those that read rows rather than run per row (such as a book's
    authors and categories)."""
    yield plan
    for child in plan.get("Plans", []):
        if subplans or child.get("Parent Relationship") != "SubPlan":
            yield from nodes_of(child, subplans)


def is_scan(node):
    """Whether a node reads a table or an index (a subquery scan reads the rows of a subquery)."""
    return node["Node Type"].endswith("Scan") and node["Node Type"] != "Subquery Scan"


def rows_visited(node):
    """The rows a node read: those it produced and those it dropped, over all its loops (parallel workers)."""
    dropped = node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
    return (node["Actual Rows"] + dropped) * node["Actual Loops"]


def assert_indexed(statement, parameters):
    """No sequential scan of a listed table, an index used, and no scan reading more than a sliver of the table: an
    index scan whose filter rejects row after row, or a GIN scan of every entry, is a full walk all the same."""
    nodes = list(nodes_of(plan_of(statement, parameters)))
    scans = [(node["Node Type"], node.get("Relation Name"), node.get("Index Name"), rows_visited(node))
             for node in nodes if is_scan(node)]
    assert not any(kind == "Seq Scan" and relation in LISTS for kind, relation, _, _ in scans), scans
    assert any(index for _, _, index, _ in scans), scans
    assert all(visited < FULL_WALK for *_, visited in scans), scans


# Each list, its arguments, and the arguments its view binds (the popular book's reviews, the reader's favorites).
LISTS = {
    "books": (BOOK_LIST, book_list_args_schema, {}),
    "users": (USER_LIST, user_list_args_schema, {}),
    "authors": (AUTHOR_LIST, author_list_args_schema, {}),
    "categories": (CATEGORY_LIST, category_list_args_schema, {}),
    "reviews": (BOOK_REVIEWS, review_list_args_schema, {"book_id": POPULAR}),
    "reviews of a book": (BOOK_REVIEWS, review_list_args_schema, {"book_id": POPULAR + 1}),
    "favorites": (USER_FAVORITES, favorite_list_args_schema, {"user_id": POPULAR}),
    "favorites of a reader": (USER_FAVORITES, favorite_list_args_schema, {"user_id": POPULAR + 1}),
}
BOOK_PATHS = [
    "", "page=40&size=25", "sort=title", "sort=-title", "sort=author", "sort=-published_date", "sort=created_at",
    "sort=-id", "sort=author,-published_date", "sort=-title,published_date", "author=Banner Breezeson",
    "title=glacier", "isbn=978-0-00-005000-7", "published_after=1990-01-01&published_before=1990-02-01",
    "published_after=2020-01-01&sort=-published_date", "q=dragon", "q=glacer", 'q="marble river"',
    "q=falcon -winter", "q=thistle&sort=title", "author=Banner Breezeson&sort=-published_date&title=arbor",
    "author_id=1", "author_id=1&sort=title", "author_id=1&sort=-published_date", "author_id=777",
    "author_id=777&sort=-average_rating", "category_id=1", "category_id=1&sort=-published_date", "category_id=5",
    "category_id=5&sort=title", "category=autumn amber 5", "category=ANCHOR AMBER 1&sort=-created_at",
    "category=no such genre&sort=-created_at", "min_rating=4",
    "min_rating=4.5&sort=-average_rating", "min_rating=3&sort=title", "sort=-average_rating", "sort=average_rating",
    "sort=review_count", "sort=-review_count,title", "author_id=1&min_rating=3", "category_id=1&author_id=1",
    "search=dragon", "q=dragon&category_id=1", "category_id=3&category=anchor AMBER 1",
]
USER_PATHS = [
    "", "page=40&size=25", "sort=email", "sort=-email", "sort=created_at", "sort=-created_at", "sort=-id",
    "role=admin", "role=editor&sort=email", "role=user&sort=-created_at", "is_active=false",
    "is_active=false&sort=-email", "is_active=true&sort=created_at", "role=admin&is_active=false&sort=email",
    "role=user&is_active=true&sort=-email", "q=glacier", "q=amber.anchor&sort=email",
    "q=river&role=editor&sort=-created_at",
]
AUTHOR_PATHS = [
    "", "sort=name", "sort=-name", "sort=birth_date", "sort=-birth_date", "sort=book_count", "sort=-book_count",
    "sort=created_at", "sort=-created_at", "q=glacier", "q=glacer", "q=amber anchorson", "q=raven&sort=name",
    "q=thistle&sort=-birth_date",
]
CATEGORY_PATHS = ["", "sort=name", "sort=-name", "sort=book_count", "sort=-book_count", "sort=created_at",
                  "q=glacier", "q=glacer", "q=harbor&sort=-book_count"]
REVIEW_PATHS = ["", "page=40&size=25", "sort=created_at", "sort=-created_at", "sort=rating", "sort=-rating"]
FAVORITE_PATHS = ["", "page=40&size=25", "sort=created_at", "sort=-created_at"]
PATHS = ([("books", path) for path in BOOK_PATHS] + [("users", path) for path in USER_PATHS]
         + [("authors", path) for path in AUTHOR_PATHS] + [("categories", path) for path in CATEGORY_PATHS]
         + [(name, path) for name in ("reviews", "reviews of a book") for path in REVIEW_PATHS]
         + [(name, path) for name in ("favorites", "favorites of a reader") for path in FAVORITE_PATHS])
FILTERED = [(name, path) for name, path in PATHS
            if LISTS[name][2] or "=" in path and not path.startswith(("sort", "page"))]


def query_of(name, path):
    """``(list query, arguments)`` of a query string of the list ``name``."""
    collection, args_schema, bound = LISTS[name]
    args = {**args_schema.load(dict(arg.split("=", 1) for arg in path.split("&") if arg)), **bound}
    return list_query(collection, args), args


@pytest.mark.parametrize("name, query", PATHS)
def test_first_page_uses_an_index(on_plan_schema, name, query):
    rows, args = query_of(name, query)

    assert_indexed(*rows.first_rows(args["size"], (args.get("page", 1) - 1) * args["size"]))


def far_apart_rows(rows):
    """The first, the middle and the last of ``rows``, in their order (none when it selects none)."""
    statement, parameters = rows.matching_query()
    count = reads.scalar(select(func.count()).select_from(statement.subquery()), parameters)
    offsets = sorted({0, count // 2, count - 1}) if count else []
    return [reads.records(*rows.first_rows(1, offset))[0] for offset in offsets]


@pytest.mark.parametrize("name, query", PATHS)
def test_cursor_page_uses_an_index(on_plan_schema, name, query):
    rows, _ = query_of(name, query)
    positions = far_apart_rows(rows)
    if not positions:
        pytest.skip("the query selects no row")

    # From the ends and the middle, either way: a page must not walk from an end to find its place.
    for row in positions:
        for direction in ("n", "p"):
            assert_indexed(*rows.rows_from(direction, [row[key.label] for key in rows.keys], 20))


@pytest.mark.parametrize("name, query", FILTERED)
def test_filtered_count_uses_an_index(on_plan_schema, name, query):
    statement, parameters = query_of(name, query)[0].matching_query()

    assert_indexed(statement.limit(1001), parameters)


@pytest.mark.parametrize("name, query", FILTERED)
def test_filtered_page_with_its_count_uses_indexes(on_plan_schema, name, query):
    rows, _ = query_of(name, query)

    assert_indexed(*rows.first_rows(20, count_cap=1000))


# Author 1's books are every 50th, all in category 1 (the even ones); author 777 has five books, two of them even.
@pytest.mark.parametrize("query, count", [("author_id=1", ROWS // 50), ("category_id=1", ROWS // 2),
                                          ("category=anchor AMBER 1", ROWS // 2), ("category=no such genre", 0),
                                          ("category_id=1&author_id=1", ROWS // 50),
                                          ("author_id=777&category_id=1", 2), ("author_id=777&category_id=2", 0),
                                          ("author_id=1&category=anchor amber 1", ROWS // 50)])
def test_count_of_link_filters_reads_the_links_alone(on_plan_schema, query, count):
    rows, _ = query_of("books", query)
    statement, parameters = rows.matching_query()
    read = {node.get("Relation Name") for node in nodes_of(plan_of(statement, parameters)) if is_scan(node)}

    assert "books" not in read and read <= {"book_authors", "book_categories", "categories"}, read
    assert rows.count(ROWS, exact=True) == (count, False)
    total, is_estimate = rows.count(1000)
    if count <= 1000:
        assert (total, is_estimate) == (count, False)
    else:
        assert is_estimate is True and total > 1000


@pytest.mark.parametrize("name, query, count", [("books", "published_after=1900-01-01", ROWS),
                                                ("books", "category_id=1", ROWS // 2),
                                                ("users", "role=user", ROWS * 89 // 100),
                                                ("reviews", "", POPULAR_SHARE), ("favorites", "", POPULAR_SHARE)])
def test_count_of_a_large_result_is_estimated(on_plan_schema, name, query, count):
    total, is_estimate = query_of(name, query)[0].count(1000)

    assert is_estimate is True
    assert 0.5 * count < total < 1.5 * count


@pytest.mark.parametrize("q", ["-dragon", "-dragon -glacier", "dragon or -glacier", "the -dragon"])
def test_search_without_a_word_to_find_reads_no_book(on_plan_schema, q):
    # The list arguments refuse such a search; its statements must not run it either.
    books = list_query(BOOK_LIST, {"q": q})

    for statement, parameters in (books.first_rows(20, count_cap=1000), books.matching_query()):
        plan = plan_of(statement, parameters)
        scans = [node["Node Type"] for node in nodes_of(plan, subplans=False) if is_scan(node)]
        assert scans == []

"""The benchmark catalogue: N books made by one INSERT ... SELECT over generate_series, entirely inside PostgreSQL.

Every value is a pure function of the row number (hashes, not random()), so a catalogue of a given size is the same
on every machine and every run. Books ``1..N`` get ids ``1..N`` (the table is truncated with RESTART IDENTITY).

- ISBNs are unique and valid: a 9-digit body that is a bijection of the row number, a 978 or (for a quarter of
  the books) 979 prefix, and the ISBN-13 check digit computed in SQL. Another quarter are stored as ISBN-10, with
  their own check digit; the rest store the ISBN-13 in ``isbn`` too. ``isbn13`` is always the ISBN-13.
- Authors repeat: there are N / BOOKS_PER_AUTHOR of them, so an author filter matches about 50 books whatever N is.
- Titles take 2-6 words and descriptions 12-40 words from fixed pools; a fifth of the books have no description.
- SELECTIVE_WORD is in the title and description of SELECTIVE_MATCHES books, evenly spread, whatever N is: a
  selective full-text search, which should cost the same at any size, as the author filter does.
- Books are rated as reviews would rate them: 0 to 5 reviews each, averaging 2 to 5 stars (the reviews themselves
  are not made: a book's figures are all its reads show of them).
- Books are linked as the API links them: each to the author its byline names (one author row per distinct byline,
  as migration 0007 makes them), and to one of CATEGORIES categories, every other book to a second one too.
- One more author, PROLIFIC_AUTHOR, co-wrote PROLIFIC_BOOKS books, evenly spread, whatever N is (second in their
  links; their bylines name the first author only): an author filter of a prolific author, whose books are
  thousands rather than fifty.
- Every RARE_EVERY-th book carries RARE_WORD in its title and its description, and nothing else does: a broad
  full-text search whose matches grow with the catalogue (5 books in 10,000, 500 in 1,000,000).
"""
import time

BOOKS_PER_AUTHOR = 50
RARE_WORD = "zeugma"
RARE_EVERY = 2_000
SELECTIVE_WORD = "quillon"
SELECTIVE_MATCHES = 50
CATEGORIES = 30
PROLIFIC_AUTHOR = "Prolific Co-Author"
PROLIFIC_BOOKS = 2_000
# Multiplying by 3**18 (coprime with 10**9) modulo 10**9 maps row numbers to distinct 9-digit ISBN bodies.
ISBN_SCRAMBLE = 3**18

TITLE_WORDS = """
amber anchor archive autumn beacon bitter blue border bridge broken brother burning captain cathedral city clock
cold copper crown dark daughter dawn desert distant dragon dream dust echo empire empty eternal evening falcon
father field fire forest forgotten fortune garden ghost glass golden harbor harvest heart hidden hollow honey
hunter iron island ivory journey kingdom lantern last light lion long lost machine map marble memory midnight
mirror moon mountain night north ocean orchard paper pilgrim queen quiet rain raven red river road rose salt
secret shadow silent silver sister sky song stone storm summer sun thief thunder tide tower true velvet voyage
war water whisper white wild winter wolf wonder
""".split()

FIRST_NAMES = """
ada alan alice amara anna arjun ben carla chen clara daniel diego elena emil fatima felix grace hana hugo ines
ivan jade james julia kai kenji laila leo lina lucas maria marta mei mohamed nadia nina noah olga omar paula
pedro priya rafael rosa ruth sam sara sofia tariq tom uma vera victor yara yusuf zoe
""".split()

LAST_NAMES = """
abbott adeyemi alvarez andersen bauer becker bianchi brennan carter castillo chen costa dubois eriksson fischer
fontaine garcia gomez hansen hayashi herrera ivanova jensen kaplan kim kowalski larsen laurent lee lindqvist
mahler martin mendes moreau murphy nakamura novak nowak okafor oliveira olsen park patel petrov quinn rossi
sato schmidt silva singh smith sousa suzuki tanaka torres varga vogel wagner walsh weber wong yamamoto zhang
""".split()

DESCRIPTION_WORDS = """
a an and the of in on at to for with from by as into over under after before between through against without
story novel tale account history life world family war love journey city village sea mountain river island
young old first last new lost hidden ancient strange quiet bright dark cold warm long short great small
woman man child girl boy mother father sister brother friend stranger king queen soldier doctor teacher
finds loses returns discovers leaves remembers follows builds breaks keeps tells hears sees fears loves
secret letter house garden road ship train war peace winter summer night morning year century generation
truth memory silence hope grief courage power fortune trust betrayal freedom justice faith home exile
across toward beyond within around during while when where because although until unless
""".split()


def unsigned_hash(expression, salt):
    """A deterministic non-negative bigint from ``expression`` (a bigint SQL expression)."""
    return f"(hashint8extended({expression}, {salt}) & 9223372036854775807)"


def body_digit(position):
    """The SQL for digit ``position`` (1 = leftmost) of the 9-digit ISBN body ``b``."""
    return f"(b / {10 ** (9 - position)} %% 10)"


# ISBN-13 weights alternate 1, 3 from the left; the body starts at position 4, so its weights run 3, 1, 3, ...
ISBN13_BODY_SUM = " + ".join(f"{3 if position % 2 else 1} * {body_digit(position)}" for position in range(1, 10))
# The 978 and 979 prefixes contribute 9*1 + 7*3 + 8*1 = 38 and 9*1 + 7*3 + 9*1 = 39.
ISBN13_PREFIX_SUM = "CASE WHEN prefix = '979' THEN 39 ELSE 38 END"
ISBN10_SUM = " + ".join(f"{11 - position} * {body_digit(position)}" for position in range(1, 10))

FILL = f"""
INSERT INTO books (title, author, isbn, isbn13, published_date, description, review_count, rating_total)
SELECT title, author,
       CASE WHEN as_isbn10 THEN body || check10 ELSE prefix || body || check13 END,
       prefix || body || check13,
       published_date, description, review_count, review_count * stars
FROM (
    SELECT i, prefix, as_isbn10, lpad(b::text, 9, '0') AS body,
           ((10 - ({ISBN13_PREFIX_SUM} + {ISBN13_BODY_SUM}) %% 10) %% 10)::text AS check13,
           CASE (11 - ({ISBN10_SUM}) %% 11) %% 11 WHEN 10 THEN 'X' ELSE ((11 - ({ISBN10_SUM}) %% 11) %% 11)::text END
               AS check10,
           (SELECT initcap(string_agg(
                       (%(title_words)s::text[])[1 + {unsigned_hash('i * 8 + k', 2)} %% %(title_pool)s], ' '))
              FROM generate_series(1, 2 + {unsigned_hash('i', 3)} %% 5) AS k)
               || CASE WHEN i %% {RARE_EVERY} = 0 THEN ' {RARE_WORD.title()}' ELSE '' END
               || CASE WHEN i %% %(selective_every)s = 0 THEN ' {SELECTIVE_WORD.title()}' ELSE '' END AS title,
           initcap((%(first_names)s::text[])[1 + author_no %% %(first_pool)s]) || ' '
               || chr(65 + (author_no / %(first_pool)s %% 26)::int) || '. '
               || initcap((%(last_names)s::text[])[1 + author_no / (26 * %(first_pool)s) %% %(last_pool)s])
               AS author,
           DATE '1950-01-01' + ({unsigned_hash('i', 4)} %% 27000)::int AS published_date,
           {unsigned_hash('i', 9)} %% 6 AS review_count, 2 + {unsigned_hash('i', 10)} %% 4 AS stars,
           CASE WHEN {unsigned_hash('i', 5)} %% 5 = 0 THEN NULL ELSE
               (SELECT upper(left(words, 1)) || substr(words, 2) FROM (
                    SELECT string_agg((%(description_words)s::text[])[
                               1 + {unsigned_hash('i * 64 + k', 6)} %% %(description_pool)s], ' ') AS words
                    FROM generate_series(1, 12 + {unsigned_hash('i', 7)} %% 29) AS k) AS drawn)
               || CASE WHEN i %% {RARE_EVERY} = 0 THEN ' {RARE_WORD}' ELSE '' END
               || CASE WHEN i %% %(selective_every)s = 0 THEN ' {SELECTIVE_WORD}' ELSE '' END || '.'
           END AS description
    FROM (
        SELECT i,
               i * {ISBN_SCRAMBLE} %% 1000000000 AS b,
               CASE WHEN {unsigned_hash('i', 1)} %% 4 = 0 THEN '979' ELSE '978' END AS prefix,
               {unsigned_hash('i', 1)} %% 4 = 1 AS as_isbn10,
               -- The author's number, scrambled so that neighbouring authors differ in every part of the name.
               {unsigned_hash('i', 8)} %% %(authors)s * 7919 %% %(names)s AS author_no
        FROM generate_series(1::bigint, %(count)s::bigint) AS i
    ) AS numbered
) AS books_to_be
ORDER BY i
"""


# Every book's authors and categories as migration 0009 stores them, the links' order included.
REFER = """
UPDATE books AS b SET author_refs = coalesce(a.refs, '[]'::json), category_refs = coalesce(c.refs, '[]'::json)
FROM (SELECT l.book_id, json_agg(json_build_object('id', r.id, 'name', r.name) ORDER BY l.position) AS refs
      FROM book_authors AS l JOIN authors AS r ON r.id = l.author_id GROUP BY l.book_id) AS a
FULL JOIN (SELECT l.book_id, json_agg(json_build_object('id', r.id, 'name', r.name) ORDER BY r.name, r.id) AS refs
           FROM book_categories AS l JOIN categories AS r ON r.id = l.category_id GROUP BY l.book_id) AS c
    ON c.book_id = a.book_id
WHERE b.id = coalesce(a.book_id, c.book_id)
"""

# The counting triggers count the links as they are made, one statement each. The triggers that rewrite each linked
# book's stored references (migration 0009) are off meanwhile: they run a subquery per book, and the second link
# statement would rewrite every book again. REFER writes them all in one pass instead, as the migration does. So is
# the one that rewrites the books of renamed authors, which the counting's update of every author sets off although
# no name changes: on a reload of 1M books, its statement ran for over eight minutes (seen in gdb) before it was
# stopped; without it the reload took 289 s.
# Each statement takes the parameters ``prolific`` (PROLIFIC_AUTHOR) and ``prolific_every`` (see prolific_every).
LINK = [
    "ALTER TABLE book_authors DISABLE TRIGGER book_authors_refer_books_on_insert",
    "ALTER TABLE authors DISABLE TRIGGER authors_rename_books",
    "ALTER TABLE book_categories DISABLE TRIGGER book_categories_refer_books_on_insert",
    "INSERT INTO authors (name) SELECT author FROM books GROUP BY author ORDER BY author",
    # The join below is planned on the statistics of the rows just loaded.
    "ANALYZE books, authors",
    "INSERT INTO book_authors (book_id, author_id, position) "
    "SELECT books.id, authors.id, 0 FROM books JOIN authors ON authors.name = books.author",
    "WITH prolific AS (INSERT INTO authors (name) VALUES (%(prolific)s) RETURNING id) "
    "INSERT INTO book_authors (book_id, author_id, position) "
    "SELECT books.id, prolific.id, 1 FROM books, prolific WHERE books.id %% %(prolific_every)s = 0",
    f"INSERT INTO categories (name) SELECT 'Genre ' || c FROM generate_series(1, {CATEGORIES}) AS c",
    f"INSERT INTO book_categories (book_id, category_id) SELECT id, 1 + id %% {CATEGORIES} FROM books "
    f"UNION ALL SELECT id, 1 + (id * 7 + 3) %% {CATEGORIES} FROM books "
    f"WHERE id %% 2 = 0 AND (id * 7 + 3) %% {CATEGORIES} <> id %% {CATEGORIES}",
    "ALTER TABLE book_authors ENABLE TRIGGER book_authors_refer_books_on_insert",
    "ALTER TABLE authors ENABLE TRIGGER authors_rename_books",
    "ALTER TABLE book_categories ENABLE TRIGGER book_categories_refer_books_on_insert",
    # Neither titles nor bylines change: the search's word list (migration 0002) needs no collecting again.
    "ALTER TABLE books DISABLE TRIGGER books_search_words_on_update",
    REFER,
    "ALTER TABLE books ENABLE TRIGGER books_search_words_on_update",
]

SECONDARY_INDEXES = """
SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
WHERE indrelid = 'books'::regclass AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = indexrelid)
"""


def book_count(connection):
    """``(rows, lowest id, highest id)`` of the books table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM books")
        return cursor.fetchone()


def prolific_every(count):
    """PROLIFIC_AUTHOR co-wrote every this many books of a catalogue of ``count``."""
    return max(count // PROLIFIC_BOOKS, 1)


def is_filled(connection, count):
    """Whether the books are exactly this module's catalogue of ``count`` (as far as cheap checks can tell)."""
    if book_count(connection) != (count, 1, count):
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM books WHERE search_vector @@ to_tsquery('english', %s)",
                       (SELECTIVE_WORD,))
        if cursor.fetchone()[0] != min(SELECTIVE_MATCHES, count):
            return False
        cursor.execute("SELECT count(*) FROM book_authors")
        return cursor.fetchone()[0] == count + count // prolific_every(count)


def fill(connection, count):
    """Replace the catalogue with ``count`` generated books, ids 1..count, then VACUUM ANALYZE; returns seconds.

    Secondary indexes (those no constraint owns) are dropped for the load and rebuilt after it, and after the
    links, from their own definitions, in the same transaction: building a GIN index once is many times faster
    than growing it a row at a time, and a failed load leaves the schema exactly as it was.
    """
    started = time.monotonic()
    connection.autocommit = False
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(SECONDARY_INDEXES)
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute("TRUNCATE books, authors, categories RESTART IDENTITY CASCADE")
        cursor.execute(FILL, {
            "count": count, "selective_every": max(count // SELECTIVE_MATCHES, 1),
            "authors": max(count // BOOKS_PER_AUTHOR, 1), "names": len(FIRST_NAMES) * 26 * len(LAST_NAMES),
            "title_words": TITLE_WORDS, "title_pool": len(TITLE_WORDS),
            "first_names": FIRST_NAMES, "first_pool": len(FIRST_NAMES),
            "last_names": LAST_NAMES, "last_pool": len(LAST_NAMES),
            "description_words": DESCRIPTION_WORDS, "description_pool": len(DESCRIPTION_WORDS),
        })
        # Linking rewrites every book's stored authors and categories (migration 0009's triggers): done before
        # the indexes are back, so that those rewrites do not go through them too.
        for statement in LINK:
            cursor.execute(statement, {"prolific": PROLIFIC_AUTHOR, "prolific_every": prolific_every(count)})
        for _, definition in indexes:
            cursor.execute(definition)
    connection.commit()
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return time.monotonic() - started

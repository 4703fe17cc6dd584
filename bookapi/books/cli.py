"""``flask books import`` and ``flask books export``: the catalogue to and from CSV or JSON Lines files."""
import csv
import itertools
import os
import stat
import sys
from contextlib import nullcontext
from pathlib import PurePath

import click

from bookapi.books import transfer
from bookapi.books.cells import to_cell
from bookapi.extensions import db

FORMATS_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
SHOWN_REJECTIONS = 20
EXPORT_BATCH = 10_000
READ_ERRORS = (UnicodeDecodeError, csv.Error)

format_option = click.option(
    "--format", "file_format", type=click.Choice(sorted(set(FORMATS_BY_SUFFIX.values())), case_sensitive=False),
    help="csv or jsonl; by default taken from FILE's extension (.csv, .jsonl, .ndjson).",
)
escape_formulas_option = click.option(
    "--escape-formulas/--no-escape-formulas", default=True, show_default=True,
    help="CSV: a ' in front of each cell that starts with = + - @, a tab or a carriage return (so that a spreadsheet "
         "shows it instead of running it as a formula), taken off again on import. Import a file with the setting "
         "it was exported with; turn it off only for files no spreadsheet will open.",
)


@click.group("books")
def books_cli():
    """Import books from, and export them to, CSV or JSON Lines files."""


def format_of(path, chosen):
    if chosen:
        return chosen.lower()
    file_format = FORMATS_BY_SUFFIX.get(PurePath(path).suffix.lower())
    if file_format is None:
        raise click.UsageError(
            f"Cannot tell the format of {path!r}: name it .csv, .jsonl or .ndjson, or pass --format csv|jsonl."
        )
    return file_format


def file_size(stream):
    """The size of a regular file; None for a pipe or a terminal, whose end is unknown."""
    try:
        status = os.fstat(stream.fileno())
    except OSError:
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def progress_bar(length, label):
    # Progress goes to stderr, so that stdout, which may carry an export, gets nothing else.
    if length is None:
        # click wants a length or an iterable: an endless one draws a bar that shows activity without an end.
        return click.progressbar(itertools.repeat(None), label=label, show_pos=True, file=sys.stderr)
    return click.progressbar(length=length, label=label, file=sys.stderr)


def printable(text):
    """``text`` with every character that is not printable written as its Python escape (``\\n``, ``\\x1b``, …).

    A reason quotes the file (a field name, say): raw, a line break could forge report lines, an escape
    sequence drive the terminal, and a bidirectional control reorder what is shown.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class ImportReport:
    """Totals of an import, its first rejections for the terminal, and every rejection for ``--rejects``."""

    def __init__(self, rejects_file=None):
        self.imported = 0
        self.rejected = 0
        self.shown = []
        self.rejects = csv.writer(rejects_file) if rejects_file else None
        if self.rejects:
            self.rejects.writerow(["line", "reason"])

    def add(self, outcome):
        rejections = [rejection._replace(reason=printable(rejection.reason)) for rejection in outcome.rejections]
        self.imported += outcome.imported
        self.rejected += len(rejections)
        self.shown += rejections[:SHOWN_REJECTIONS - len(self.shown)]
        if self.rejects:
            # A spreadsheet opens the rejects file too, and a reason can start with a field name from the file.
            self.rejects.writerows((line, to_cell(reason)) for line, reason in rejections)

    def echo(self, rejects_path):
        click.echo(f"Imported {self.imported} books, rejected {self.rejected}.")
        for rejection in self.shown:
            click.echo(f"  line {rejection.line}: {rejection.reason}")
        unshown = self.rejected - len(self.shown)
        if unshown:
            where = f"all are in {rejects_path}" if rejects_path else "--rejects FILE writes them all"
            click.echo(f"  ... and {unshown} more ({where}).")


def open_rejects(path):
    return open(path, "w", encoding="utf-8", newline="") if path else nullcontext()


def run_import(path, file_format, batch_size, escape_formulas, report):
    with click.open_file(path, "rb") as binary:
        counter = transfer.ByteCounter(binary)
        text = transfer.text_reader(counter)
        with progress_bar(file_size(binary), "Importing books") as bar, db.engine.connect() as connection:
            for outcome in transfer.import_books(connection, text, file_format, batch_size, escape_formulas):
                report.add(outcome)
                bar.update(counter.bytes_read - bar.pos)


@books_cli.command("import", short_help="Add books from a CSV or JSON Lines file.")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@format_option
@click.option("--batch-size", default=10_000, show_default=True, type=click.IntRange(min=1),
              help="Rows validated, loaded and committed together.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, writable=True),
              help="Write every rejected row (line, reason) to this CSV file.")
@escape_formulas_option
def import_command(path, file_format, batch_size, rejects_path, escape_formulas):
    """Add the books in FILE: CSV with a header row, or JSON Lines (- reads stdin).

    Columns (keys): title, author, isbn, published_date (YYYY-MM-DD), and optionally description and
    categories. author names the book's authors separated by ; (first author first): the book is linked to the
    author of each name, made when missing, and its byline is the names joined by ", ". categories, also
    separated by ;, are matched by name ignoring case and made when missing. In CSV an empty cell is a missing
    value (no description), and a cell holding only ' is an empty text. A ' in front of = + - @, a tab, a
    carriage return or another ' is taken off: export puts it there so that spreadsheets show formulas rather
    than run them (--no-escape-formulas keeps it). The id, isbn13, average_rating, review_count, created_by,
    created_at and updated_at columns that export writes are ignored: the database numbers and dates new books,
    isbn13 is computed again from isbn, and ratings come from reviews.

    Each row is validated as the API validates a new book. A row that fails, or whose ISBN (compared as
    ISBN-13) is in the catalogue already or on an earlier line, is rejected and reported with its line number
    and reason (a character that is not printable, from a field name say, shown as an escape such as \\n or
    \\x1b); the other rows are imported.

    Rows are loaded --batch-size at a time, each batch in a transaction of its own: a failed import keeps the
    batches committed before the failure, and running it again rejects those books as already existing.
    Exits with 0 once the whole file is read, rejected rows or not. A CSV field over 16,777,216 characters (as
    when a quote is never closed) stops the import at the line its row starts on.
    """
    file_format = format_of(path, file_format)
    with open_rejects(rejects_path) as rejects_file:
        report = ImportReport(rejects_file)
        try:
            run_import(path, file_format, batch_size, escape_formulas, report)
        except READ_ERRORS as error:
            report.echo(rejects_path)
            raise click.ClickException(f"Stopped reading {path}: {error}") from error
    report.echo(rejects_path)


def run_export(connection, binary, file_format, escape_formulas):
    exported = 0
    with transfer.text_writer(binary) as text, progress_bar(transfer.count_books(connection), "Exporting books") as bar:
        for written in transfer.export_books(connection, text, file_format, EXPORT_BATCH, escape_formulas):
            exported += written
            bar.update(written)
    return exported


@books_cli.command("export", short_help="Write every book to a CSV or JSON Lines file.")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, writable=True, allow_dash=True))
@format_option
@escape_formulas_option
def export_command(path, file_format, escape_formulas):
    """Write every book, in id order, to FILE: CSV with a header row, or JSON Lines (- writes stdout).

    Columns (keys): id, title, author, isbn, isbn13, published_date, description, categories, average_rating,
    review_count, created_by, created_at, updated_at. author holds the linked authors' names joined by "; "
    (the byline for a book linked to no author), categories the linked categories' names, so that the file
    imports back to the same links.
    The books come from one snapshot of the catalogue, whatever is written meanwhile, and the file imports
    back with `flask books import`. FILE appears only once complete.

    In CSV, a cell that a spreadsheet would run as a formula (one starting with = + - @, a tab or a carriage
    return) gets a ' in front, which spreadsheets show as it is and import takes off again; so does a text
    starting with ' followed by one of those, another ' or nothing, so that it reads back unchanged. No
    description is an empty cell, an empty one a lone '. --no-escape-formulas writes formulas as they are,
    for files no spreadsheet opens.
    """
    file_format = format_of(path, file_format)
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin(), click.open_file(path, "wb", atomic=True) as binary:
            exported = run_export(connection, binary, file_format, escape_formulas)
    click.echo(f"Exported {exported} books to {path}.", err=True)

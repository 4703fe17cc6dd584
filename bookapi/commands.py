"""CLI commands: ``flask seed``, and ``flask books`` (import and export) from the books package."""
import random
from datetime import date, timedelta

import click
from faker import Faker

from bookapi.books import staging
from bookapi.books.cli import books_cli
from bookapi.extensions import db
from bookapi.isbn import isbn13_check_digit

__all__ = ["books_cli", "seed_command"]

BATCH = 50_000
POOL_SIZE = 5_000
YEARS_BACK = 80


class FakeBooks:
    """Realistic books, fast: Faker fills pools of titles, names and sentences once, and each row combines them.

    Calling Faker for every row costs hundreds of microseconds; drawing from the pools, about ten.
    """

    def __init__(self, seed=None):
        fake = Faker()
        fake.seed_instance(seed)
        self.random = random.Random(seed)
        self.titles = [fake.catch_phrase()[:255] for _ in range(POOL_SIZE)]
        self.authors = [fake.name() for _ in range(POOL_SIZE)]
        self.sentences = [fake.sentence() for _ in range(POOL_SIZE)]
        self.last_day = date.today().toordinal()
        self.first_day = (date.today() - timedelta(days=365 * YEARS_BACK)).toordinal()

    def isbn13(self):
        # 978000000000 to 979999999999: every ISBN-13 without its check digit.
        first12 = str(978_000_000_000 + self.random.randrange(2_000_000_000))
        return first12 + isbn13_check_digit(first12)

    def description(self):
        if self.random.random() < 0.2:
            return None
        return " ".join(self.random.choices(self.sentences, k=self.random.randint(1, 3)))

    def published_date(self):
        return date.fromordinal(self.random.randint(self.first_day, self.last_day))

    def row(self, line):
        """A row in ``staging.COLUMNS`` order."""
        isbn = self.isbn13()
        title, author = self.random.choice(self.titles), self.random.choice(self.authors)
        return line, title, author, isbn, isbn, self.published_date(), self.description()

    def batches(self, count):
        """Batches of ``count`` rows in all."""
        for start in range(0, count, BATCH):
            yield [self.row(line) for line in range(start, min(start + BATCH, count))]


@click.command("seed")
@click.option("--count", default=100, show_default=True, type=click.IntRange(min=1), help="Books to add.")
@click.option("--seed", "random_seed", type=int, help="Seed the generator for a repeatable catalogue.")
def seed_command(count, random_seed):
    """Fill the catalogue with realistic fake books (valid, unique ISBNs), committing every 50,000."""
    books = FakeBooks(random_seed)
    added = 0
    with click.progressbar(length=count, label="Seeding books") as bar, db.engine.connect() as connection:
        with staging.tables(connection):
            while added < count:
                # An ISBN drawn twice, or already in the catalogue, is skipped: the next round draws the shortfall.
                for rows in staging.read_ahead(books.batches(count - added)):
                    inserted = staging.load_new(connection, rows)
                    added += inserted
                    bar.update(inserted)
    click.echo(f"Added {added} books.")

"""CLI commands: ``flask seed``, ``flask purge``, and ``flask books`` (import and export) from the books package."""
import random
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date, timedelta
from functools import partial

import click
from faker import Faker

from bookapi import idempotency
from bookapi.accounts import tokens
from bookapi.books import staging
from bookapi.books.cli import books_cli
from bookapi.conflicts import retry_once_on_conflict
from bookapi.extensions import db
from bookapi.isbn import isbn13_check_digit

__all__ = ["books_cli", "purge_command", "seed_command"]

BATCH = 50_000
POOL_SIZE = 5_000
YEARS_BACK = 80
# Loading is the database's work, most of it the indexes' (full-text, trigram): two connections use two cores.
LOADERS = 2


class FakeBooks:
    """Realistic books, fast: Faker fills pools of titles, names and sentences once, and each row combines them.

    Calling Faker for every row costs hundreds of microseconds; drawing from the pools, about ten. Stream ``k`` of
    ``streams`` draws only ISBNs whose bodies are ``k`` modulo ``streams``, so that streams loaded side by side
    never insert the same ISBN (and never wait on each other for it).
    """

    def __init__(self, seed=None, stream=0, streams=1):
        stream_seed = None if seed is None else seed * streams + stream
        fake = Faker()
        fake.seed_instance(stream_seed)
        self.random = random.Random(stream_seed)  # nosec B311  # fake books, repeatable by --seed: nothing secret
        self.stream, self.streams = stream, streams
        self.titles = [fake.catch_phrase()[:255] for _ in range(POOL_SIZE)]
        self.authors = [fake.name() for _ in range(POOL_SIZE)]
        self.sentences = [fake.sentence() for _ in range(POOL_SIZE)]
        self.last_day = date.today().toordinal()
        self.first_day = (date.today() - timedelta(days=365 * YEARS_BACK)).toordinal()

    def isbn13(self):
        # 978000000000 to 979999999999: every ISBN-13 without its check digit.
        body = self.random.randrange(2_000_000_000 // self.streams) * self.streams + self.stream
        first12 = str(978_000_000_000 + body)
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
@click.option("--seed", "random_seed", type=int, help="Seed the generator: the same books every time (ids may differ).")
def seed_command(count, random_seed):
    """Fill the catalogue with realistic fake books (valid, unique ISBNs), committing every 50,000."""
    engine = db.engine
    shares = [count // LOADERS + (k < count % LOADERS) for k in range(LOADERS)]
    stop = threading.Event()
    with click.progressbar(length=count, label="Seeding books") as bar:
        progress = threading.Lock()

        def advance(inserted):
            with progress:
                bar.update(inserted)

        with ThreadPoolExecutor(LOADERS) as loaders:
            futures = [loaders.submit(seed_share, engine, FakeBooks(random_seed, k, LOADERS), share, advance, stop)
                       for k, share in enumerate(shares) if share]
            try:
                added = sum(future.result() for future in as_completed(futures))
            finally:
                # After an error in one loader, or Ctrl-C, the others stop once their current batch is in.
                stop.set()
    click.echo(f"Added {added} books.")


def seed_share(engine, books, count, advance, stop):
    """Add ``count`` books drawn from ``books`` on a connection of its own, until done or told to ``stop``;
    return how many were added."""
    added = 0
    with engine.connect() as connection, staging.tables(connection):
        while added < count and not stop.is_set():
            # An ISBN drawn twice, or already in the catalogue, is skipped: the next round draws the shortfall.
            for rows in staging.read_ahead(books.batches(count - added)):
                if stop.is_set():
                    break
                inserted = retry_once_on_conflict(partial(staging.load_new, connection, rows))
                added += inserted
                advance(inserted)
    return added


@click.command("purge")
def purge_command():
    """Delete every record past its expiry: refresh tokens, sign-out records and idempotency keys."""
    refresh, revoked = tokens.purge_expired()
    keys = idempotency.purge_expired()
    click.echo(f"Purged {refresh} expired refresh tokens, {revoked} expired sign-out records and {keys} expired "
               "idempotency keys.")

"""CLI commands: ``flask seed``, ``flask purge``, and ``flask books`` (import and export) from the books package."""
import random
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date, timedelta
from functools import partial
from string import ascii_uppercase

import click
from faker import Faker
from sqlalchemy import text

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
NAME_POOL_SIZE = 2_000
YEARS_BACK = 80
# How many authors and categories a book has, with their shares of the books.
AUTHORS_PER_BOOK = {1: 86, 2: 11, 3: 3}
CATEGORIES_PER_BOOK = {1: 70, 2: 25, 3: 5}
# Books per author follow a power law, P(n) ~ n^-2.2 (a Pareto tail of 1.2): most authors have a book or two, a few
# have hundreds. Authors are drawn in rounds of count / 30 (within ROUND_AUTHORS), each author's books shuffled among
# the round's, so that a round holds every book of its authors.
AUTHOR_TAIL = 1.2
MOST_BOOKS_PER_AUTHOR = 1_000
ROUND_AUTHORS = (10, 10_000)
MIDDLE_INITIALS = 0.3
# The 30 categories, largest first: category k weighs 1/k^1.3, so the largest has about 75 times the smallest's books.
CATEGORIES = (
    "Fiction", "Mystery", "Romance", "Fantasy", "Science Fiction", "Thriller", "Biography", "History",
    "Young Adult", "Children", "Self-Help", "Horror", "Historical Fiction", "Business", "Poetry", "Cooking",
    "Travel", "Science", "Philosophy", "Religion", "Art", "Graphic Novels", "Health", "Psychology", "Politics",
    "True Crime", "Humor", "Music", "Sports", "Drama",
)
CATEGORY_WEIGHTS = tuple(1 / rank ** 1.3 for rank in range(1, len(CATEGORIES) + 1))
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
        self.first_names = sorted({fake.first_name() for _ in range(NAME_POOL_SIZE)})
        self.last_names = sorted({fake.last_name() for _ in range(NAME_POOL_SIZE)})
        self.sentences = [fake.sentence() for _ in range(POOL_SIZE)]
        self.last_day = date.today().toordinal()
        self.first_day = (date.today() - timedelta(days=365 * YEARS_BACK)).toordinal()
        self.author_slots = None

    def author_name(self):
        first, last = self.random.choice(self.first_names), self.random.choice(self.last_names)
        if self.random.random() < MIDDLE_INITIALS:
            return f"{first} {self.random.choice(ascii_uppercase)}. {last}"
        return f"{first} {last}"

    def rounds_of_authors(self, authors):
        """Endless: a round of ``authors`` new authors at a time, each named once per book they will have, in a
        shuffled order. (Two authors can be given the same name: loading then makes them one.)"""
        while True:
            slots = []
            for _ in range(authors):
                books = min(int(self.random.paretovariate(AUTHOR_TAIL)), MOST_BOOKS_PER_AUTHOR)
                slots += [self.author_name()] * books
            self.random.shuffle(slots)
            yield from slots

    def how_many(self, shares):
        return self.random.choices(tuple(shares), weights=tuple(shares.values()))[0]

    def authors(self):
        """A book's authors, first author first."""
        return tuple(dict.fromkeys(next(self.author_slots) for _ in range(self.how_many(AUTHORS_PER_BOOK))))

    def categories(self):
        drawn = self.random.choices(CATEGORIES, weights=CATEGORY_WEIGHTS, k=self.how_many(CATEGORIES_PER_BOOK))
        return tuple(dict.fromkeys(drawn))

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
        """A ``staging.StagedBook``."""
        isbn, title, authors = self.isbn13(), self.random.choice(self.titles), self.authors()
        return staging.StagedBook(line, title, ", ".join(authors), isbn, isbn, self.published_date(),
                                  self.description(), authors, self.categories())

    def batches(self, count):
        """Batches of ``count`` rows in all."""
        if self.author_slots is None:
            # Rounds in proportion to the books, so that a small catalogue has authors of several books too.
            self.author_slots = self.rounds_of_authors(min(max(count // 30, ROUND_AUTHORS[0]), ROUND_AUTHORS[1]))
        for start in range(0, count, BATCH):
            yield [self.row(line) for line in range(start, min(start + BATCH, count))]


# Readers: one per 500 books, 20 to 2,000. Their password hashes are no hash at all, so no password signs them in.
READERS_PER_BOOK = 500
READERS = (20, 2_000)
# A book's reviews and favorites: floor(most * random()^skew), so most books have none and a few have many (up to
# most - 1): about 26% of books have reviews, 1.6 per book on average; 25% are favorites, 0.9 per book on average.
REVIEWS = {"most": 20, "skew": 10}
FAVORITES = {"most": 10, "skew": 8}
# Ratings lean towards 4: 1 star 5%, 2 stars 8%, 3 stars 20%, 4 stars 40%, 5 stars 27% (cumulative bounds below).
RATING = "CASE WHEN x < 0.05 THEN 1 WHEN x < 0.13 THEN 2 WHEN x < 0.33 THEN 3 WHEN x < 0.73 THEN 4 ELSE 5 END"
ADD_READERS = text("""
    INSERT INTO users (email, password_hash, role, display_name)
    SELECT format('reader-%s-%s@example.com', :tag, i), '!' || md5(random()::text), 'user', format('Reader %s', i)
    FROM generate_series(1, :readers) AS i
    RETURNING id
""")
# Each book's readers are consecutive ones from a random start, so they are distinct; the transaction-wide
# readers array is 1-based.
OPINIONS_OF_NEW_BOOKS = """
    INSERT INTO {table} (book_id, user_id{rating_column})
    SELECT b.id, (CAST(:readers AS bigint[]))[1 + (b.start + k) % cardinality(CAST(:readers AS bigint[]))]{rating}
    FROM (SELECT id, floor(:most * random() ^ :skew)::int AS n,
                 floor(random() * cardinality(CAST(:readers AS bigint[])))::int AS start
          FROM books WHERE id > :after) AS b
    CROSS JOIN LATERAL (SELECT k, random() AS x FROM generate_series(0, b.n - 1) AS k) AS draw
"""
ADD_REVIEWS = text(OPINIONS_OF_NEW_BOOKS.format(table="reviews", rating_column=", rating", rating=f", {RATING}"))
ADD_FAVORITES = text(OPINIONS_OF_NEW_BOOKS.format(table="favorites", rating_column="", rating=""))
LAST_BOOK_ID = text("SELECT coalesce(max(id), 0) FROM books")


@click.command("seed")
@click.option("--count", default=100, show_default=True, type=click.IntRange(min=1), help="Books to add.")
@click.option("--seed", "random_seed", type=int, help="Seed the generator: the same books every time (ids may differ).")
def seed_command(count, random_seed):
    """Fill the catalogue with realistic fake books (valid, unique ISBNs), committing every 50,000: linked to
    authors (most with a book or two, a few with hundreds) and to 30 categories of very uneven sizes; then reader
    accounts (which no password signs in), and their reviews (leaning towards 4 stars) and favorites of the new
    books."""
    engine = db.engine
    with engine.connect() as connection:
        after = connection.scalar(LAST_BOOK_ID)
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
    readers, reviews, favorites = add_opinions(engine, after, count, random_seed)
    click.echo(f"Added {readers} readers, {reviews} reviews and {favorites} favorites.")


def add_opinions(engine, after, count, random_seed):
    """Readers, and their reviews and favorites of the books with ids above ``after``, in one transaction (the
    reviews' trigger updates each reviewed book once)."""
    readers = min(max(count // READERS_PER_BOOK, READERS[0]), READERS[1])
    with engine.connect() as connection, staging.transaction(connection):
        if random_seed is not None:
            # Sample data made repeatable, not a secret: a plain pseudo-random generator is what is wanted.
            seed = random.Random(random_seed).uniform(-1, 1)  # nosec B311
            connection.execute(text("SELECT setseed(:seed)"), {"seed": seed})
        # Fresh in every run, --seed or not, so that emails never repeat.
        reader_ids = connection.scalars(ADD_READERS, {"tag": secrets.token_hex(4), "readers": readers}).all()
        parameters = {"readers": reader_ids, "after": after}
        reviews = connection.execute(ADD_REVIEWS, {**parameters, **REVIEWS}).rowcount
        favorites = connection.execute(ADD_FAVORITES, {**parameters, **FAVORITES}).rowcount
    return readers, reviews, favorites


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

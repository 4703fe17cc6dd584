"""CLI commands: ``flask seed``."""
import random

import click
from faker import Faker
from sqlalchemy.dialects.postgresql import insert

from bookapi.books.models import Book
from bookapi.extensions import db
from bookapi.isbn import isbn13_check_digit

BATCH = 5_000


def random_isbn13():
    first12 = f"{random.choice(('978', '979'))}{random.randrange(10**9):09d}"
    return first12 + isbn13_check_digit(first12)


def fake_book(fake):
    isbn = random_isbn13()
    return {
        "title": fake.catch_phrase()[:255],
        "author": fake.name(),
        "isbn": isbn,
        "isbn13": isbn,
        "published_date": fake.date_between(start_date="-80y", end_date="today"),
        "description": fake.paragraph(nb_sentences=3) if random.random() < 0.8 else None,
    }


@click.command("seed")
@click.option("--count", default=100, show_default=True, type=click.IntRange(min=1), help="Books to add.")
@click.option("--seed", "random_seed", type=int, help="Seed the generator for a repeatable catalogue.")
def seed_command(count, random_seed):
    """Fill the catalogue with realistic fake books (valid, unique ISBNs)."""
    fake = Faker()
    if random_seed is not None:
        Faker.seed(random_seed)
        random.seed(random_seed)
    added = 0
    with click.progressbar(length=count, label="Seeding books") as bar:
        while added < count:
            rows = [fake_book(fake) for _ in range(min(BATCH, count - added))]
            # An ISBN drawn twice, or already in the catalogue, is skipped and drawn again next round.
            statement = insert(Book).on_conflict_do_nothing(index_elements=["isbn13"]).returning(Book.id)
            inserted = len(db.session.execute(statement, rows).all())
            db.session.commit()
            added += inserted
            bar.update(inserted)
    click.echo(f"Added {added} books.")

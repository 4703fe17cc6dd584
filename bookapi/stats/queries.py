"""The catalogue's figures: read as last stored, and computed again at most once per STATS_MAX_AGE for everyone.

Counting a large catalogue takes scans, so no request counts while the stored figures are fresh enough. Once they
are older than STATS_MAX_AGE, the one request (of any worker or instance) that wins a transaction-level advisory
lock computes and stores them again, while the others answer what is stored; only when nothing is stored yet do
they wait for the winner. Ages are taken on the database's clock, which every instance shares.
"""
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app
from sqlalchemy import Interval, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert

from bookapi import reads
from bookapi.authors.models import Author
from bookapi.books.models import Book
from bookapi.categories.models import Category
from bookapi.extensions import db
from bookapi.reviews.models import Review
from bookapi.stats.models import CatalogueStats

# The key of the advisory lock that elects the one recomputation: a bigint the app uses for nothing else.
RECOMPUTE_LOCK = 0x5354_4154_5301
STARS = range(1, 6)
TOP_CATEGORIES = 10

STORED = select(
    CatalogueStats.figures,
    CatalogueStats.computed_at,
    (CatalogueStats.computed_at > func.now() - bindparam("max_age", type_=Interval)).label("fresh"),
).where(CatalogueStats.id == 1)
TRY_LOCK = select(func.pg_try_advisory_xact_lock(RECOMPUTE_LOCK))
WAIT_FOR_LOCK = select(func.pg_advisory_xact_lock(RECOMPUTE_LOCK))
# Counts the planner answers from an index alone (books: the smallest, ix_books_created_by); the ratings take a pass
# over the reviews, the one scan that grows with them.
BOOK_COUNT = select(func.count()).select_from(Book)
AUTHOR_COUNT = select(func.count()).select_from(Author)
CATEGORY_COUNT = select(func.count()).select_from(Category)
RATINGS = select(Review.rating, func.count()).group_by(Review.rating)
# Off the book_count index: the counts are kept by triggers, so nothing is counted here.
LARGEST_CATEGORIES = (select(Category.id, Category.name, Category.book_count)
                      .order_by(Category.book_count.desc(), Category.id).limit(TOP_CATEGORIES))


def max_age():
    return {"max_age": timedelta(seconds=current_app.config["STATS_MAX_AGE"])}


def catalogue_figures():
    """The figures as stored, or as computed now when they are older than STATS_MAX_AGE and this request is the one
    to compute them: ``{..., "computed_at": ...}``."""
    stored = reads.records(STORED, max_age())
    if stored and stored[0]["fresh"]:
        return figures_of(stored[0])
    if db.session.scalar(TRY_LOCK):
        return recompute_unless_fresh()
    if stored:
        return figures_of(stored[0])
    # Nothing stored yet: wait for the request computing the first figures, and answer those.
    db.session.execute(WAIT_FOR_LOCK)
    return recompute_unless_fresh()


def recompute_unless_fresh():
    """Under the lock: the figures that a request that held it just before stored, else new ones."""
    stored = db.session.execute(STORED, max_age()).mappings().first()
    if stored is not None and stored["fresh"]:
        db.session.commit()
        return figures_of(stored)
    figures = compute()
    statement = insert(CatalogueStats).values(id=1, figures=figures, computed_at=func.now())
    computed_at = db.session.scalar(
        statement.on_conflict_do_update(index_elements=[CatalogueStats.id], set_={
            "figures": statement.excluded.figures, "computed_at": statement.excluded.computed_at,
        })
        .returning(CatalogueStats.computed_at)
    )
    db.session.commit()
    return {**figures, "computed_at": computed_at}


def figures_of(stored):
    return {**stored["figures"], "computed_at": stored["computed_at"]}


def compute():
    """The figures, counted now. Review totals and the average come from the histogram, so they agree with it."""
    session = db.session
    ratings = dict(session.execute(RATINGS).all())
    review_count = sum(ratings.values())
    rating_total = sum(stars * count for stars, count in ratings.items())
    return {
        "total_books": session.scalar(BOOK_COUNT),
        "total_authors": session.scalar(AUTHOR_COUNT),
        "total_categories": session.scalar(CATEGORY_COUNT),
        "total_reviews": review_count,
        "average_rating": mean(rating_total, review_count),
        "ratings_histogram": {str(stars): ratings.get(stars, 0) for stars in STARS},
        "top_categories": [row._asdict() for row in session.execute(LARGEST_CATEGORIES)],
    }


def mean(total, count):
    """``total / count`` to two decimals, rounded half up as PostgreSQL rounds a book's average; None for no count."""
    return float((Decimal(total) / count).quantize(Decimal("0.01"), ROUND_HALF_UP)) if count else None

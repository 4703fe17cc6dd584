"""GET /api/v1/stats: the catalogue's figures, counted at most once per STATS_MAX_AGE for every worker."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import insert, select, text, update

from bookapi.books.models import book_categories
from bookapi.categories.models import Category
from bookapi.extensions import db
from bookapi.reviews.models import Review
from bookapi.stats import queries
from bookapi.stats.models import CatalogueStats
from tests.accounts import own_app
from tests.conftest import RequestScopedClient
from tests.factories import BookFactory, UserFactory

URL = "/api/v1/stats"


@contextmanager
def own_client(max_age):
    with own_app(STATS_MAX_AGE=max_age) as app:
        app.test_client_class = RequestScopedClient
        yield app.test_client()


@pytest.fixture
def counting():
    """A client of an app whose figures are counted on every request."""
    with own_client(0) as client:
        yield client


@pytest.fixture
def patient():
    """A client of an app whose figures may be an hour old."""
    with own_client(3600) as client:
        yield client


def review(book, rating):
    db.session.execute(insert(Review).values(book_id=book.id, user_id=UserFactory().id, rating=rating))
    db.session.commit()


def category_with_books(name, books):
    category_id = db.session.scalar(insert(Category).values(name=name).returning(Category.id))
    db.session.execute(insert(book_categories), [{"book_id": b.id, "category_id": category_id} for b in books])
    db.session.commit()
    return category_id


def age_figures(seconds):
    db.session.execute(update(CatalogueStats).values(computed_at=text(f"now() - interval '{seconds} seconds'")))
    db.session.commit()


def test_stats_of_an_empty_catalogue_are_zeros_and_no_average(anonymous):
    response = anonymous.get(URL)

    assert response.status_code == 200
    body = response.get_json()
    assert {key: body[key] for key in ("total_books", "total_authors", "total_categories", "total_reviews")} == {
        "total_books": 0, "total_authors": 0, "total_categories": 0, "total_reviews": 0,
    }
    assert body["average_rating"] is None
    assert body["ratings_histogram"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}
    assert body["top_categories"] == []


def test_stats_count_the_catalogue_as_written(counting):
    books = BookFactory.create_batch(3)
    for rating in (5, 4, 4):
        review(books[0], rating)
    review(books[1], 2)

    body = counting.get(URL).get_json()

    assert (body["total_books"], body["total_reviews"], body["average_rating"]) == (3, 4, 3.75)
    assert body["ratings_histogram"] == {"1": 0, "2": 1, "3": 0, "4": 2, "5": 1}


def test_stats_count_authors_and_categories(counting):
    books = BookFactory.create_batch(3)
    db.session.execute(text("INSERT INTO authors (name) VALUES ('Ann'), ('Bo')"))
    db.session.commit()
    category_with_books("Small", books[:1])

    body = counting.get(URL).get_json()

    assert (body["total_authors"], body["total_categories"]) == (2, 1)


def test_stats_average_rounds_half_up_to_two_decimals(counting):
    book = BookFactory()
    for rating in (5, 5, 5, 4, 4, 4, 3, 3):  # 33 / 8 = 4.125
        review(book, rating)

    assert counting.get(URL).get_json()["average_rating"] == 4.13


def test_stats_list_the_ten_largest_categories_largest_first(counting):
    books = BookFactory.create_batch(12)
    ids = [category_with_books(f"Genre {size}", books[:size]) for size in range(1, 13)]

    top = counting.get(URL).get_json()["top_categories"]

    assert [c["id"] for c in top] == ids[::-1][:10]
    assert top[0] == {"id": ids[-1], "name": "Genre 12", "book_count": 12}


def test_stats_answer_the_stored_figures_while_they_are_younger_than_the_max_age(patient):
    patient.get(URL)
    BookFactory()
    age_figures(3599)

    assert patient.get(URL).get_json()["total_books"] == 0


def test_stats_are_counted_again_once_older_than_the_max_age(patient):
    patient.get(URL)
    BookFactory()
    age_figures(3601)

    assert patient.get(URL).get_json()["total_books"] == 1


def test_stats_are_stored_once_for_every_app(patient):
    first = patient.get(URL).get_json()
    BookFactory()

    with own_client(3600) as other_app:
        other = other_app.get(URL).get_json()

    assert other == first


@pytest.fixture
def slow_counting(monkeypatch):
    """Counts how often the figures are computed, each computation taking long enough for others to arrive."""
    calls, lock = [], threading.Lock()
    compute = queries.compute

    def slow_compute():
        with lock:
            calls.append(1)
        time.sleep(0.5)
        return compute()

    monkeypatch.setattr(queries, "compute", slow_compute)
    return calls


def get_at_once(client, requests):
    start = threading.Barrier(requests)

    def get(_):
        start.wait()
        return client.get(URL)

    with ThreadPoolExecutor(requests) as pool:
        return list(pool.map(get, range(requests)))


def test_concurrent_requests_on_stale_figures_count_once_and_the_others_answer_the_stale_ones(patient, slow_counting):
    patient.get(URL)
    slow_counting.clear()
    BookFactory()
    age_figures(3601)

    responses = get_at_once(patient, 6)

    assert [r.status_code for r in responses] == [200] * 6
    assert len(slow_counting) == 1
    assert sorted(r.get_json()["total_books"] for r in responses) == [0, 0, 0, 0, 0, 1]


def test_concurrent_first_requests_count_once_and_all_answer_those_figures(patient, slow_counting):
    BookFactory()

    responses = get_at_once(patient, 6)

    assert len(slow_counting) == 1
    assert {r.get_json()["computed_at"] for r in responses} == {
        db.session.scalar(select(CatalogueStats.computed_at)).isoformat()
    }


def test_stats_answer_304_to_the_etag_of_current_figures(patient):
    etag = patient.get(URL).headers["ETag"]

    response = patient.get(URL, headers={"If-None-Match": etag})

    assert response.status_code == 304


def test_stats_answer_200_to_the_etag_of_older_figures(patient):
    etag = patient.get(URL).headers["ETag"]
    BookFactory()
    age_figures(3601)

    response = patient.get(URL, headers={"If-None-Match": etag})

    assert response.status_code == 200
    assert response.get_json()["total_books"] == 1

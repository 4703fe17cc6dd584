"""Bulk create: up to 1,000 books, atomic by default, with a result for every item."""
import pytest
from sqlalchemy import insert

from bookapi.books import batch
from bookapi.books.models import Book
from bookapi.books.schemas import bulk_args_schema
from bookapi.extensions import db
from tests.factories import BookFactory, BookPayload

BULK = "/api/v1/books/bulk"


def total(client):
    return client.get("/api/v1/books").get_json()["total"]


def test_bulk_create_stores_every_book(client):
    items = BookPayload.build_batch(3)

    response = client.post(BULK, json={"items": items})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["created"], body["rejected"]) == (3, 0)
    assert [r["status"] for r in body["items"]] == [201, 201, 201]
    assert [r["book"]["title"] for r in body["items"]] == [item["title"] for item in items]
    assert total(client) == 3


def test_bulk_create_atomic_rejects_all_when_one_item_is_invalid(client):
    items = [BookPayload(), {**BookPayload(), "isbn": "123"}, BookPayload()]

    response = client.post(BULK, json={"items": items})

    assert response.status_code == 422
    assert list(response.get_json()["errors"]["items"]) == ["1"]
    assert total(client) == 0


def test_bulk_create_atomic_rejects_duplicate_of_stored_book(client):
    BookFactory(isbn="9780306406157")

    response = client.post(BULK, json={"items": [BookPayload(), BookPayload(isbn="0-306-40615-2")]})

    assert response.status_code == 422
    assert "already exists" in response.get_json()["errors"]["items"]["1"]["detail"]
    assert total(client) == 1


def test_bulk_create_best_effort_stores_the_valid_items(client):
    BookFactory(isbn="9780306406157")
    items = [BookPayload(), {"title": ""}, BookPayload(isbn="0306406152"), BookPayload(isbn="9791090636071"),
             BookPayload(isbn="979-10-90636-07-1")]

    response = client.post(BULK, json={"items": items, "atomic": False})

    assert response.status_code == 200
    results = response.get_json()["items"]
    assert [r["status"] for r in results] == [201, 422, 400, 201, 400]
    assert set(results[1]["problem"]["errors"]) == {"title", "author", "isbn", "published_date"}
    assert "already exists" in results[2]["problem"]["detail"]
    assert "also item 3" in results[4]["problem"]["detail"]
    assert results[1]["book"] is None
    assert total(client) == 3


@pytest.mark.parametrize(
    "body",
    [{"items": []}, {"items": "books"}, {}, {"items": [{}], "atomic": "yes"}, {"items": [{}], "colour": 1},
     {"items": [None], "atomic": False}, {"items": [{}, [1]], "atomic": False}],
)
def test_bulk_create_with_malformed_envelope_returns_422(client, body):
    assert client.post(BULK, json=body).status_code == 422


def test_bulk_create_over_1000_items_returns_422(client):
    response = client.post(BULK, json={"items": [{}] * 1001})

    assert response.status_code == 422
    assert "items" in response.get_json()["errors"]


def test_bulk_create_over_1000_items_returns_422_without_loading_an_item(client, monkeypatch):
    # An oversized list must cost what any 422 costs, not a load per item (349,518 empty items took 15 s).
    item_schema = bulk_args_schema.fields["items"].schema
    loaded = []
    load = item_schema.load
    monkeypatch.setattr(item_schema, "load", lambda item, **kwargs: loaded.append(item) or load(item, **kwargs))

    response = client.post(BULK, json={"items": [{}] * 1001})

    assert response.status_code == 422
    assert loaded == []


def test_bulk_create_of_1000_books_succeeds(client):
    response = client.post(BULK, json={"items": BookPayload.build_batch(1000)})

    assert response.get_json()["created"] == 1000
    assert client.get("/api/v1/books?count=exact").get_json()["total"] == 1000


@pytest.fixture
def racing_writer(monkeypatch):
    """Another client stores the first item's ISBN after the batch was checked, before it is inserted."""
    screen = batch.screen

    def screen_then_race(items):
        screened = screen(items)
        with db.engine.begin() as other:
            other.execute(insert(Book), [{**BookPayload(isbn=items[0]["isbn"]), "isbn13": items[0]["isbn"]}])
        return screened

    monkeypatch.setattr(batch, "screen", screen_then_race)


@pytest.mark.parametrize("atomic, status, stored", [(True, 422, 1), (False, 200, 2)])
def test_bulk_create_reports_isbn_taken_by_a_racing_request(client, racing_writer, atomic, status, stored):
    response = client.post(BULK, json={"items": BookPayload.build_batch(2), "atomic": atomic})

    assert response.status_code == status
    assert total(client) == stored
    problem = response.get_json()["errors"]["items"]["0"] if atomic else response.get_json()["items"][0]["problem"]
    assert "already exists" in problem["detail"]

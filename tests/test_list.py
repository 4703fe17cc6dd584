"""The list envelope: pages by id, and a total that stays cheap on a large table."""
import pytest
from sqlalchemy import delete, text

from bookapi.books.models import Book
from bookapi.extensions import db
from tests.factories import BookFactory

BOOKS = "/api/v1/books"


def test_list_books_on_empty_catalogue(client):
    response = client.get(BOOKS)

    assert response.status_code == 200
    assert response.get_json() == {
        "items": [], "page": 1, "size": 20, "total": 0, "pages": 0, "total_is_estimate": False,
        "next_cursor": None, "prev_cursor": None,
    }


def test_list_books_pages_in_id_order(client):
    books = BookFactory.create_batch(5)

    body = client.get(f"{BOOKS}?page=2&size=2").get_json()

    assert [b["id"] for b in body["items"]] == [books[2].id, books[3].id]
    assert (body["page"], body["size"], body["total"], body["pages"]) == (2, 2, 5, 3)


def test_list_books_past_last_page_is_empty(client):
    BookFactory.create_batch(2)

    body = client.get(f"{BOOKS}?page=3&size=2").get_json()

    assert body["items"] == []
    assert body["total"] == 2


def test_list_books_above_count_cap_estimates_total(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_COUNT_CAP", 3)
    BookFactory.create_batch(6)
    db.session.execute(text("ANALYZE books"))

    body = client.get(f"{BOOKS}?size=2").get_json()

    assert body["total_is_estimate"] is True
    assert body["total"] >= 4
    assert body["pages"] == -(-body["total"] // 2)


def test_list_books_of_a_large_table_trusts_the_planner_until_it_learns_otherwise(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_COUNT_CAP", 3)
    books = BookFactory.create_batch(45)
    db.session.execute(text("ANALYZE books"))
    db.session.execute(delete(Book).where(Book.id.in_([book.id for book in books[2:]])))
    db.session.commit()

    stale = client.get(BOOKS).get_json()
    db.session.execute(text("ANALYZE books"))
    db.session.commit()
    current = client.get(BOOKS).get_json()

    assert (stale["total"], stale["total_is_estimate"], len(stale["items"])) == (45, True, 2)
    assert (current["total"], current["total_is_estimate"]) == (2, False)


def test_list_books_keeps_a_large_tables_estimate_for_its_max_age(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_COUNT_CAP", 3)
    books = BookFactory.create_batch(45)
    db.session.execute(text("ANALYZE books"))
    db.session.commit()
    first = client.get(BOOKS).get_json()
    monkeypatch.setitem(app.config, "LIST_ESTIMATE_MAX_AGE", 3600)
    db.session.execute(delete(Book).where(Book.id.in_([book.id for book in books[2:]])))
    db.session.execute(text("ANALYZE books"))
    db.session.commit()

    kept = client.get(BOOKS).get_json()
    monkeypatch.setitem(app.config, "LIST_ESTIMATE_MAX_AGE", 0)
    read_again = client.get(BOOKS).get_json()

    assert (first["total"], first["total_is_estimate"]) == (45, True)
    assert (kept["total"], kept["total_is_estimate"], len(kept["items"])) == (45, True, 2)
    assert (read_again["total"], read_again["total_is_estimate"]) == (2, False)


def test_list_books_of_a_never_analysed_table_estimates_total(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_COUNT_CAP", 3)
    BookFactory.create_batch(45)
    assert db.session.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'books'::regclass")).scalar() == -1

    body = client.get(f"{BOOKS}?size=2").get_json()

    assert body["total_is_estimate"] is True
    assert body["total"] >= 45


def test_list_books_at_count_cap_is_exact(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_COUNT_CAP", 3)
    BookFactory.create_batch(3)

    body = client.get(BOOKS).get_json()

    assert (body["total"], body["total_is_estimate"]) == (3, False)


def test_list_books_exact_count_on_request(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_COUNT_CAP", 3)
    BookFactory.create_batch(6)

    body = client.get(f"{BOOKS}?count=exact").get_json()

    assert (body["total"], body["total_is_estimate"]) == (6, False)


@pytest.mark.parametrize("size", [1, 100])
def test_list_books_accepts_size_bounds(client, size):
    assert client.get(f"{BOOKS}?size={size}").get_json()["size"] == size

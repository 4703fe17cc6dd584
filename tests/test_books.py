"""The books CRUD contract, as the original suite pinned it."""
from sqlalchemy import func, select

from bookapi.books.models import Book
from bookapi.extensions import db
from tests.factories import BookFactory, BookPayload

BOOKS = "/api/v1/books"


def test_create_book_returns_201_with_location(client):
    payload = BookPayload(isbn="978-0-306-40615-7")

    response = client.post(BOOKS, json=payload)

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"{BOOKS}/{body['id']}"
    assert body["title"] == payload["title"]
    assert body["isbn"] == "9780306406157"
    assert body["isbn13"] == "9780306406157"
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("+00:00")


def test_create_book_stores_what_it_returns(client):
    body = client.post(BOOKS, json=BookPayload()).get_json()

    assert client.get(f"{BOOKS}/{body['id']}").get_json() == body


def test_create_book_without_description_stores_null(client):
    payload = BookPayload()
    del payload["description"]

    response = client.post(BOOKS, json=payload)

    assert response.status_code == 201
    assert response.get_json()["description"] is None


def test_create_book_trims_surrounding_whitespace(client):
    response = client.post(BOOKS, json=BookPayload(title="  Dune  ", author=" Frank Herbert\u00a0"))

    assert response.status_code == 201
    assert (response.get_json()["title"], response.get_json()["author"]) == ("Dune", "Frank Herbert")


def test_create_book_with_duplicate_isbn_returns_400(client):
    BookFactory(isbn="9780306406157")

    response = client.post(BOOKS, json=BookPayload(isbn="978-0-306-40615-7"))

    assert response.status_code == 400
    assert response.get_json()["detail"] == "Book with ISBN 9780306406157 already exists"


def test_create_book_with_isbn10_of_existing_isbn13_is_a_duplicate(client):
    BookFactory(isbn="9780306406157")

    response = client.post(BOOKS, json=BookPayload(isbn="0-306-40615-2"))

    assert response.status_code == 400
    assert "already exists" in response.get_json()["detail"]


def test_create_book_keeps_isbn10_spelling_and_derives_isbn13(client):
    response = client.post(BOOKS, json=BookPayload(isbn="0 306 40615 2"))

    assert response.status_code == 201
    assert (response.get_json()["isbn"], response.get_json()["isbn13"]) == ("0306406152", "9780306406157")


def test_get_book_returns_it(client):
    book = BookFactory()

    response = client.get(f"{BOOKS}/{book.id}")

    assert response.status_code == 200
    assert response.get_json()["isbn13"] == book.isbn13


def test_get_missing_book_returns_404(client):
    response = client.get(f"{BOOKS}/999")

    assert response.status_code == 404
    assert response.get_json()["detail"] == "Book with id 999 not found"


def test_get_book_with_id_beyond_column_returns_404(client):
    response = client.get(f"{BOOKS}/{2**64}")

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Book with id {2**64} not found"


def test_get_book_with_id_zero_returns_404(client):
    assert client.get(f"{BOOKS}/0").status_code == 404


def test_get_book_with_negative_id_returns_404(client):
    assert client.get(f"{BOOKS}/-1").status_code == 404


def test_update_book_changes_all_fields_sent(client):
    book = BookFactory()
    payload = BookPayload()

    response = client.put(f"{BOOKS}/{book.id}", json=payload)

    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("title", "author", "published_date", "description")} == {
        k: payload[k] for k in ("title", "author", "published_date", "description")
    }
    assert body["isbn13"] == payload["isbn"]
    assert body["updated_at"] > body["created_at"]


def test_update_book_partially_leaves_other_fields(client):
    book = BookFactory(title="Old", author="Keeps")

    response = client.put(f"{BOOKS}/{book.id}", json={"title": "New"})

    assert response.status_code == 200
    assert (response.get_json()["title"], response.get_json()["author"]) == ("New", "Keeps")


def test_update_book_can_clear_description(client):
    book = BookFactory(description="Soon gone")

    response = client.put(f"{BOOKS}/{book.id}", json={"description": None})

    assert response.status_code == 200
    assert response.get_json()["description"] is None


def test_update_book_with_empty_body_changes_nothing(client):
    book = BookFactory()
    before = client.get(f"{BOOKS}/{book.id}").get_json()

    response = client.put(f"{BOOKS}/{book.id}", json={})

    assert response.status_code == 200
    assert response.get_json() == before


def test_update_book_isbn_moves_isbn13_with_it(client):
    book = BookFactory()

    response = client.put(f"{BOOKS}/{book.id}", json={"isbn": "0-306-40615-2"})

    assert response.status_code == 200
    assert response.get_json()["isbn13"] == "9780306406157"


def test_update_book_to_an_isbn_taken_by_another_returns_400(client):
    BookFactory(isbn="9780306406157")
    other = BookFactory()

    response = client.put(f"{BOOKS}/{other.id}", json={"isbn": "9780306406157"})

    assert response.status_code == 400
    assert "already exists" in response.get_json()["detail"]
    assert client.get(f"{BOOKS}/{other.id}").get_json()["isbn13"] == other.isbn13


def test_update_book_to_its_own_isbn_succeeds(client):
    book = BookFactory()

    assert client.put(f"{BOOKS}/{book.id}", json={"isbn": book.isbn}).status_code == 200


def test_update_missing_book_returns_404(client):
    response = client.put(f"{BOOKS}/999", json={"title": "Nothing"})

    assert response.status_code == 404
    assert response.get_json()["detail"] == "Book with id 999 not found"


def test_delete_book_returns_message(client):
    book = BookFactory()

    response = client.delete(f"{BOOKS}/{book.id}")

    assert response.status_code == 200
    assert response.get_json() == {"message": "Book deleted successfully"}
    assert db.session.scalar(select(func.count()).select_from(Book)) == 0


def test_delete_missing_book_returns_404(client):
    response = client.delete(f"{BOOKS}/999")

    assert response.status_code == 404
    assert response.get_json()["detail"] == "Book with id 999 not found"


def test_full_crud_workflow(client):
    created = client.post(BOOKS, json=BookPayload(title="Draft"))
    url = created.headers["Location"]

    assert client.get(url).get_json()["title"] == "Draft"
    assert client.put(url, json={"title": "Final"}).get_json()["title"] == "Final"
    assert [b["title"] for b in client.get(BOOKS).get_json()["items"]] == ["Final"]
    assert client.delete(url).status_code == 200
    assert client.get(url).status_code == 404
    assert client.get(BOOKS).get_json()["total"] == 0


def test_create_multiple_books_lists_them_in_creation_order(client):
    ids = [client.post(BOOKS, json=BookPayload()).get_json()["id"] for _ in range(3)]

    body = client.get(BOOKS).get_json()

    assert [b["id"] for b in body["items"]] == ids
    assert body["total"] == 3


def test_error_workflow_leaves_catalogue_unchanged(client):
    payload = BookPayload()
    assert client.post(BOOKS, json=payload).status_code == 201

    assert client.post(BOOKS, json=payload).status_code == 400
    assert client.post(BOOKS, json={**payload, "isbn": "123"}).status_code == 422
    assert client.put(f"{BOOKS}/999", json={"title": "x"}).status_code == 404
    assert client.delete(f"{BOOKS}/999").status_code == 404
    assert client.get(BOOKS).get_json()["total"] == 1

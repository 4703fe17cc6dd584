"""Favorites: a reader's own list of books, each added once, newest first, with the books' full representation."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from bookapi.extensions import db
from tests.accounts import at_once
from tests.conftest import sign_in
from tests.factories import BookFactory, FavoriteFactory, UserFactory
from tests.pages import walk

FAVORITES = "/api/v1/users/me/favorites"
ADDED = datetime(2026, 5, 1, tzinfo=timezone.utc)


def favorite(book_id):
    return f"/api/v1/books/{book_id}/favorite"


def favorites_of(user):
    return db.session.execute(text("SELECT book_id FROM favorites WHERE user_id = :id ORDER BY book_id"),
                              {"id": user.id}).scalars().all()


@pytest.fixture
def reader():
    return UserFactory()


@pytest.fixture
def reader_client(app, reader):
    return sign_in(app.test_client(), reader)


@pytest.fixture
def book():
    return BookFactory()


@pytest.fixture
def favorites(reader):
    """Four of the reader's favorites, added in an order their ids do not follow."""
    return [FavoriteFactory(user_id=reader.id, created_at=ADDED - timedelta(days=days)) for days in (3, 1, 4, 2)]


def book_ids(response):
    return [item["book_id"] for item in response.get_json()["items"]]


# Adding and removing


def test_favorite_book_returns_201(reader_client, reader, book):
    response = reader_client.post(favorite(book.id))

    assert response.status_code == 201
    body = response.get_json()
    assert body == {"message": "Book added to favorites", "id": body["id"], "book_id": book.id}
    assert isinstance(body["id"], int)
    assert response.headers["Location"] == favorite(book.id)
    assert favorites_of(reader) == [book.id]


def test_favorite_book_again_returns_400(reader_client, book):
    reader_client.post(favorite(book.id))

    response = reader_client.post(favorite(book.id))

    assert response.status_code == 400
    assert response.get_json()["detail"] == "You have already favorited this book"


def test_favorite_a_book_another_reader_favorited_returns_201(app, reader_client, book):
    sign_in(app.test_client(), UserFactory()).post(favorite(book.id))

    assert reader_client.post(favorite(book.id)).status_code == 201


def test_parallel_favorites_of_one_book_by_one_reader_yield_one_201(app, reader, book):
    clients = [sign_in(app.test_client(), reader) for _ in range(6)]

    responses = at_once(*(lambda c=c: c.post(favorite(book.id)) for c in clients))

    assert sorted(response.status_code for response in responses) == [201] + [400] * 5
    assert favorites_of(reader) == [book.id]


@pytest.mark.parametrize("book_id", [999_999, 2**63])
def test_favorite_missing_book_returns_404(reader_client, reader, book_id):
    response = reader_client.post(favorite(book_id))

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Book with id {book_id} not found"
    assert favorites_of(reader) == []


def test_favorite_book_with_an_idempotency_key_replays_the_first_answer(reader_client, reader, book):
    first = reader_client.post(favorite(book.id), headers={"Idempotency-Key": "fav-1"})

    again = reader_client.post(favorite(book.id), headers={"Idempotency-Key": "fav-1"})

    assert (again.status_code, again.get_json()) == (201, first.get_json())
    assert again.headers["Idempotent-Replayed"] == "true"


def test_unfavorite_book_returns_200(reader_client, reader, book):
    reader_client.post(favorite(book.id))

    response = reader_client.delete(favorite(book.id))

    assert response.status_code == 200
    assert response.get_json() == {"message": "Book removed from favorites"}
    assert favorites_of(reader) == []


def test_unfavorite_a_book_not_in_your_favorites_returns_404(app, reader_client, book):
    sign_in(app.test_client(), UserFactory()).post(favorite(book.id))

    response = reader_client.delete(favorite(book.id))

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Book {book.id} is not in your favorites"


@pytest.mark.parametrize("book_id", [999_999, 2**63])
def test_unfavorite_missing_book_returns_404(reader_client, book_id):
    response = reader_client.delete(favorite(book_id))

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Book {book_id} is not in your favorites"


def test_unfavorite_leaves_other_readers_favorites(app, reader_client, book):
    other = UserFactory()
    sign_in(app.test_client(), other).post(favorite(book.id))
    reader_client.post(favorite(book.id))

    reader_client.delete(favorite(book.id))

    assert favorites_of(other) == [book.id]


def test_deleting_a_book_removes_it_from_favorites(client, reader, favorites):
    assert client.delete(f"/api/v1/books/{favorites[0].book_id}").status_code == 200

    assert favorites_of(reader) == sorted(f.book_id for f in favorites[1:])


# The caller's list


def test_list_favorites_returns_the_callers_own_newest_first(reader_client, favorites):
    FavoriteFactory()

    response = reader_client.get(FAVORITES)

    assert response.status_code == 200
    body = response.get_json()
    assert book_ids(response) == [favorites[i].book_id for i in (1, 3, 0, 2)]
    assert (body["page"], body["total"], body["total_is_estimate"], body["next_cursor"]) == (1, 4, False, None)


def test_list_favorites_holds_each_books_full_representation(reader_client, anonymous, favorites):
    items = reader_client.get(FAVORITES).get_json()["items"]

    assert all(list(item) == ["id", "book_id", "created_at", "book"] for item in items)
    assert [item["id"] for item in items] == [favorites[i].id for i in (1, 3, 0, 2)]
    for item in items:
        assert item["book"] == anonymous.get(f"/api/v1/books/{item['book_id']}").get_json()


def test_list_favorites_of_a_reader_without_any_returns_an_empty_page(app, favorites):
    response = sign_in(app.test_client(), UserFactory()).get(FAVORITES)

    assert response.status_code == 200
    assert (response.get_json()["items"], response.get_json()["total"]) == ([], 0)


@pytest.mark.parametrize("sort, order", [("created_at", (2, 0, 3, 1)), ("-created_at", (1, 3, 0, 2))])
def test_list_favorites_sorts_them(reader_client, favorites, sort, order):
    response = reader_client.get(f"{FAVORITES}?sort={sort}")

    assert book_ids(response) == [favorites[i].book_id for i in order]


@pytest.mark.parametrize("query", ["", "sort=created_at", "sort=-created_at"])
def test_list_favorites_cursor_walk_visits_every_favorite_once_in_order(reader_client, reader, favorites, query):
    FavoriteFactory.create_batch(3, user_id=reader.id)
    expected = book_ids(reader_client.get(f"{FAVORITES}?{query}&size=100"))

    assert walk(reader_client, f"{FAVORITES}?{query}&size=2", "book_id") == expected
    assert len(expected) == 7


def test_list_favorites_refuses_another_readers_cursor(app, reader_client, favorites):
    other = UserFactory()
    FavoriteFactory.create_batch(2, user_id=other.id)
    cursor = sign_in(app.test_client(), other).get(f"{FAVORITES}?size=1").get_json()["next_cursor"]

    response = reader_client.get(f"{FAVORITES}?size=1&cursor={cursor}")

    assert response.status_code == 400


def test_list_favorites_cuts_items_to_the_fields_asked_for(reader_client, favorites):
    items = reader_client.get(f"{FAVORITES}?fields=book_id,book").get_json()["items"]

    assert all(list(item) == ["book_id", "book"] for item in items)


def test_list_favorites_with_its_current_weak_etag_returns_304(reader_client, favorites):
    etag = reader_client.get(FAVORITES).headers["ETag"]

    response = reader_client.get(FAVORITES, headers={"If-None-Match": etag})

    assert etag.startswith('W/"')
    assert response.status_code == 304


def test_list_favorites_changes_its_etag_when_a_favorite_book_changes(client, reader_client, favorites):
    etag = reader_client.get(FAVORITES).headers["ETag"]
    client.patch(f"/api/v1/books/{favorites[0].book_id}", json={"title": "A New Title"})

    response = reader_client.get(FAVORITES, headers={"If-None-Match": etag})

    assert response.status_code == 200


def test_list_favorites_links_to_the_next_page(reader_client, favorites):
    response = reader_client.get(f"{FAVORITES}?size=2")

    cursor = response.get_json()["next_cursor"]
    assert f'<{FAVORITES}?size=2&cursor={cursor}>; rel="next"' in response.headers["Link"]


def test_openapi_documents_the_default_order_of_favorites(client):
    operation = client.get("/openapi.json").get_json()["paths"][FAVORITES]["get"]

    sort = next(parameter for parameter in operation["parameters"] if parameter["name"] == "sort")
    assert sort["schema"]["default"] == "-created_at"


@pytest.mark.parametrize("query", ["sort=title", "sort=book_id", "sort=-id", "fields=user_id", "fields=email",
                                   "user_id=1", "size=0", "page=1&cursor=abc"])
def test_list_favorites_with_an_invalid_argument_returns_422(reader_client, favorites, query):
    response = reader_client.get(f"{FAVORITES}?{query}")

    assert response.status_code == 422
    assert response.get_json()["errors"]

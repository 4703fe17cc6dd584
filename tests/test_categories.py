"""The categories resource: CRUD, names unique ignoring case under races, its first books embedded, its list."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, insert, select

from bookapi.books.models import Book, book_categories
from bookapi.categories.models import Category
from bookapi.extensions import db
from tests.conftest import sign_in
from tests.factories import BookFactory, CategoryFactory, link
from tests.pages import walk

CATEGORIES = "/api/v1/categories"


def categorised(category, count):
    books = [BookFactory() for _ in range(count)]
    link(book_categories, "category_id", category, books[::-1])
    return books


def category_count():
    return db.session.scalar(select(func.count()).select_from(Category))


def test_create_category_returns_201_with_location(client):
    response = client.post(CATEGORIES, json={"name": " Science fiction ", "description": "Spaceships.\nAnd more."})

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"{CATEGORIES}/{body['id']}"
    assert {k: body[k] for k in ("name", "description", "book_count", "books")} == {
        "name": "Science fiction", "description": "Spaceships.\nAnd more.", "book_count": 0, "books": [],
    }
    assert body["books_url"] == f"/api/v1/books?category_id={body['id']}"


def test_create_category_stores_what_it_returns(client):
    body = client.post(CATEGORIES, json={"name": "Poetry"}).get_json()

    assert client.get(f"{CATEGORIES}/{body['id']}").get_json() == body


@pytest.mark.parametrize("name", ["Poetry", "poetry", "POETRY", "  Poetry  "])
def test_create_category_with_a_taken_name_returns_400(client, name):
    CategoryFactory(name="Poetry")

    response = client.post(CATEGORIES, json={"name": name})

    assert response.status_code == 400
    assert response.get_json()["detail"] == f"Category with name '{name.strip()}' already exists"
    assert category_count() == 1


def test_parallel_creates_of_one_name_yield_one_201_and_400s(app, admin):
    racers = 6
    start = threading.Barrier(racers)
    statuses = []

    def create(n):
        client = sign_in(app.test_client(), admin)
        start.wait()
        statuses.append(client.post(CATEGORIES, json={"name": "Drama" if n % 2 else "DRAMA"}).status_code)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(statuses) == [201] + [400] * (racers - 1)
    assert category_count() == 1


@pytest.mark.parametrize("other_commits, status", [(True, 400), (False, 201)])
def test_create_category_racing_an_uncommitted_one_of_its_name_waits_for_it(client, other_commits, status):
    with db.engine.connect() as other, ThreadPoolExecutor(1) as pool:
        other.execute(insert(Category).values(name="Essays"))
        pending = pool.submit(client.post, CATEGORIES, json={"name": "essays"})
        time.sleep(0.5)  # the request now waits on the unique index for the other transaction
        assert not pending.done()
        other.commit() if other_commits else other.rollback()
        response = pending.result(10)

    assert response.status_code == status
    assert category_count() == 1


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": " \t "}, "name"),
    ({"name": None}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "Sci\x1bfi"}, "name"),
    ({"name": "A", "description": "x" * 10_001}, "description"),
    ({"name": "A", "description": "nul\x00"}, "description"),
    ({"name": "A", "parent": 1}, "parent"),
    ({"name": "A", "book_count": 1}, "book_count"),
    ({"name": "A", "created_at": "2020-01-01T00:00:00+00:00"}, "created_at"),
])
def test_create_category_with_invalid_values_returns_422_and_stores_nothing(client, body, field):
    response = client.post(CATEGORIES, json=body)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert category_count() == 0


def test_get_category_embeds_its_first_20_books_in_id_order_and_links_to_all(anonymous):
    category = CategoryFactory()
    books = categorised(category, 21)

    body = anonymous.get(f"{CATEGORIES}/{category.id}").get_json()

    assert body["books"] == [{"id": b.id, "title": b.title, "isbn13": b.isbn13,
                              "published_date": b.published_date.isoformat()} for b in books[:20]]
    assert body["book_count"] == 21
    assert body["books_url"] == f"/api/v1/books?category_id={category.id}"


def test_get_category_carries_a_strong_etag_and_honours_it(anonymous):
    category = CategoryFactory()

    etag = anonymous.get(f"{CATEGORIES}/{category.id}").headers["ETag"]

    assert not etag.startswith("W/")
    assert anonymous.get(f"{CATEGORIES}/{category.id}", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("category_id", ["999", str(2**63)])
def test_get_missing_category_returns_404(anonymous, category_id):
    response = anonymous.get(f"{CATEGORIES}/{category_id}")

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Category with id {category_id} not found"


def test_update_category_changes_only_the_fields_sent(client):
    category = CategoryFactory(name="Poetry", description="Verse.")

    response = client.put(f"{CATEGORIES}/{category.id}", json={"name": "Poems"})

    assert response.status_code == 200
    assert (response.get_json()["name"], response.get_json()["description"]) == ("Poems", "Verse.")


def test_rename_category_to_a_taken_name_returns_400_and_changes_nothing(client):
    CategoryFactory(name="Poetry")
    category = CategoryFactory(name="Drama")

    response = client.patch(f"{CATEGORIES}/{category.id}", json={"name": "poetry"})

    assert response.status_code == 400
    assert response.get_json()["detail"] == "Category with name 'poetry' already exists"
    assert client.get(f"{CATEGORIES}/{category.id}").get_json()["name"] == "Drama"


def test_rename_category_to_its_own_name_in_other_case_succeeds(client):
    category = CategoryFactory(name="Poetry")

    response = client.patch(f"{CATEGORIES}/{category.id}", json={"name": "POETRY"})

    assert response.status_code == 200
    assert response.get_json()["name"] == "POETRY"


def test_merge_patch_null_clears_the_description(client):
    category = CategoryFactory()

    response = client.patch(f"{CATEGORIES}/{category.id}", json={"description": None},
                            headers={"Content-Type": "application/merge-patch+json"})

    assert response.status_code == 200
    assert response.get_json()["description"] is None


@pytest.mark.parametrize("method, body", [("PUT", {"name": "New"}), ("PATCH", {"name": "New"}), ("DELETE", None)])
def test_write_with_a_stale_etag_returns_412_and_changes_nothing(client, method, body):
    category = CategoryFactory(name="Old")
    stale = client.get(f"{CATEGORIES}/{category.id}").headers["ETag"]
    categorised(category, 1)

    response = client.open(f"{CATEGORIES}/{category.id}", method=method, json=body, headers={"If-Match": stale})

    assert response.status_code == 412
    assert client.get(f"{CATEGORIES}/{category.id}").get_json()["name"] == "Old"


def test_write_with_the_etag_of_a_read_succeeds(client):
    category = CategoryFactory()
    categorised(category, 2)
    etag = client.get(f"{CATEGORIES}/{category.id}").headers["ETag"]

    response = client.patch(f"{CATEGORIES}/{category.id}", json={"description": "x"}, headers={"If-Match": etag})

    assert response.status_code == 200
    assert response.headers["ETag"] == client.get(f"{CATEGORIES}/{category.id}").headers["ETag"]


def test_delete_category_unlinks_its_books_and_keeps_them(client):
    category = CategoryFactory()
    books = categorised(category, 2)

    response = client.delete(f"{CATEGORIES}/{category.id}")

    assert response.status_code == 200
    assert response.get_json() == {"message": "Category deleted successfully"}
    assert db.session.scalar(select(func.count()).select_from(Book)) == len(books)
    assert db.session.scalar(select(func.count()).select_from(book_categories)) == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_write_missing_category_returns_404(client, method):
    response = client.open(f"{CATEGORIES}/999", method=method, json={"name": "X"} if method != "DELETE" else None)

    assert response.status_code == 404
    assert response.get_json()["detail"] == "Category with id 999 not found"


@pytest.fixture
def listed():
    categories = [CategoryFactory(name=name) for name in
                  ("Science fiction", "Fantasy", "Poetry", "Drama", "Historical fiction", "Essays", "Horror")]
    for count, category in zip([3, 2, 0, 1, 0, 4, 1], categories):
        categorised(category, count)
    for category in categories:
        db.session.refresh(category)
    return categories


@pytest.mark.parametrize("sort, key", [
    ("name", lambda c: (c.name, c.id)), ("-name", lambda c: (c.name, c.id)),
    ("book_count", lambda c: (c.book_count, c.id)), ("-book_count", lambda c: (c.book_count, c.id)),
    ("-created_at", lambda c: (c.created_at, c.id)),
])
def test_list_categories_walks_every_category_once_in_order_by_cursor(anonymous, listed, sort, key):
    expected = [c.id for c in sorted(listed, key=key, reverse=sort.startswith("-"))]

    assert walk(anonymous, f"{CATEGORIES}?sort={sort}&size=2", "id") == expected


@pytest.mark.parametrize("q, expected", [
    ("fiction", ["Historical fiction", "Science fiction"]),
    ("fantsy", ["Fantasy"]),
    ("poetri", ["Poetry"]),
    ("cookery", []),
])
def test_list_categories_q_finds_names_despite_typos(anonymous, listed, q, expected):
    items = anonymous.get(f"{CATEGORIES}?q={q}&sort=name").get_json()["items"]

    assert [item["name"] for item in items] == expected


def test_list_categories_returns_only_the_fields_asked_for(anonymous, listed):
    items = anonymous.get(f"{CATEGORIES}?fields=name,book_count&sort=-book_count&size=2").get_json()["items"]

    assert items == [{"name": "Essays", "book_count": 4}, {"name": "Science fiction", "book_count": 3}]


@pytest.mark.parametrize("query", ["q=", f"q={'x' * 101}", "sort=birth_date", "sort=description", "fields=books_url"])
def test_list_categories_with_invalid_argument_returns_422(anonymous, query):
    assert anonymous.get(f"{CATEGORIES}?{query}").status_code == 422

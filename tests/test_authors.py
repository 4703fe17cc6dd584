"""The authors resource: CRUD, its first books embedded, deletion refused while it has books, validators, its list."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select

from bookapi.authors.models import Author
from bookapi.books.models import Book, book_authors
from bookapi.extensions import db
from tests.factories import AuthorFactory, BookFactory, link
from tests.pages import walk

AUTHORS = "/api/v1/authors"


def authors_books(author, count):
    books = [BookFactory() for _ in range(count)]
    link(book_authors, "author_id", author, books[::-1])
    return books


def test_create_author_returns_201_with_location(client):
    response = client.post(AUTHORS, json={"name": " Frank Herbert ", "birth_date": "1920-10-08",
                                          "nationality": "American", "bio": "Wrote Dune.\nAnd more."})

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"{AUTHORS}/{body['id']}"
    assert {k: body[k] for k in ("name", "birth_date", "nationality", "bio", "book_count", "books")} == {
        "name": "Frank Herbert", "birth_date": "1920-10-08", "nationality": "American", "bio": "Wrote Dune.\nAnd more.",
        "book_count": 0, "books": [],
    }
    assert body["books_url"] == f"/api/v1/books?author_id={body['id']}"
    assert body["created_at"] == body["updated_at"]


def test_create_author_with_only_a_name_leaves_the_rest_null(client):
    body = client.post(AUTHORS, json={"name": "Anonymous"}).get_json()

    assert (body["bio"], body["birth_date"], body["nationality"]) == (None, None, None)


def test_create_author_stores_what_it_returns(client):
    body = client.post(AUTHORS, json={"name": "Ursula K. Le Guin"}).get_json()

    response = client.get(f"{AUTHORS}/{body['id']}")

    assert response.get_json() == body
    assert response.headers["ETag"] == client.get(f"{AUTHORS}/{body['id']}").headers["ETag"]


def test_create_author_with_the_same_idempotency_key_creates_one(client):
    headers = {"Idempotency-Key": "author-1"}

    first = client.post(AUTHORS, json={"name": "Isaac Asimov"}, headers=headers)
    again = client.post(AUTHORS, json={"name": "Isaac Asimov"}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert db.session.scalar(select(db.func.count()).select_from(Author)) == 1


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": None}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"name": "Frank\x00Herbert"}, "name"),
    ({"name": "Frank\nHerbert"}, "name"),
    ({"name": "Frank\u0085Herbert"}, "name"),
    ({"name": "A", "bio": "x" * 10_001}, "bio"),
    ({"name": "A", "bio": "bell\x07"}, "bio"),
    ({"name": "A", "nationality": "x" * 101}, "nationality"),
    ({"name": "A", "nationality": "tab\there"}, "nationality"),
    ({"name": "A", "birth_date": "1920-13-01"}, "birth_date"),
    ({"name": "A", "birth_date": "yesterday"}, "birth_date"),
    ({"name": "A", "birth_date": (date.today() + timedelta(days=2)).isoformat()}, "birth_date"),
    ({"name": "A", "birth_date": "3000-01-01"}, "birth_date"),
    ({"name": "A", "born": "1920-10-08"}, "born"),
    ({"name": "A", "book_count": 5}, "book_count"),
    ({"name": "A", "books": []}, "books"),
    ({"name": "A", "id": 7}, "id"),
])
def test_create_author_with_invalid_values_returns_422_and_stores_nothing(client, body, field):
    response = client.post(AUTHORS, json=body)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert db.session.scalar(select(Author.id)) is None


def test_create_author_born_today_anywhere_on_earth_succeeds(client):
    today_in_kiribati = datetime.now(timezone(timedelta(hours=14))).date()

    response = client.post(AUTHORS, json={"name": "Newborn", "birth_date": today_in_kiribati.isoformat()})

    assert response.status_code == 201


def test_get_author_embeds_their_books_in_id_order_and_links_to_all(anonymous):
    author = AuthorFactory()
    books = authors_books(author, 3)

    body = anonymous.get(f"{AUTHORS}/{author.id}").get_json()

    assert body["books"] == [{"id": b.id, "title": b.title, "isbn13": b.isbn13,
                              "published_date": b.published_date.isoformat()} for b in books]
    assert body["book_count"] == 3
    assert body["books_url"] == f"/api/v1/books?author_id={author.id}"


def test_get_author_embeds_only_their_first_20_books(anonymous):
    author = AuthorFactory()
    books = authors_books(author, 23)

    body = anonymous.get(f"{AUTHORS}/{author.id}").get_json()

    assert [book["id"] for book in body["books"]] == [book.id for book in books[:20]]
    assert body["book_count"] == 23


def test_get_author_embeds_no_other_authors_books(anonymous):
    author, other = AuthorFactory(), AuthorFactory()
    authors_books(other, 2)

    assert anonymous.get(f"{AUTHORS}/{author.id}").get_json()["books"] == []


@pytest.mark.parametrize("author_id", ["999", str(2**64)])
def test_get_missing_author_returns_404(anonymous, author_id):
    response = anonymous.get(f"{AUTHORS}/{author_id}")

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"Author with id {author_id} not found"


def test_get_author_carries_a_strong_etag_and_last_modified(anonymous):
    author = AuthorFactory()

    response = anonymous.get(f"{AUTHORS}/{author.id}")

    assert not response.headers["ETag"].startswith("W/")
    assert response.last_modified == author.updated_at.replace(microsecond=0)
    assert anonymous.get(f"{AUTHORS}/{author.id}", headers={"If-None-Match": response.headers["ETag"]}
                         ).status_code == 304


def test_get_author_after_a_book_is_linked_has_a_new_etag_and_a_later_date(anonymous):
    author = AuthorFactory()
    before = anonymous.get(f"{AUTHORS}/{author.id}")

    authors_books(author, 1)

    after = anonymous.get(f"{AUTHORS}/{author.id}", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.get_json()["updated_at"] > before.get_json()["updated_at"]


def test_get_author_after_one_of_their_books_changes_has_a_new_etag_and_date(anonymous):
    author = AuthorFactory()
    (book,) = authors_books(author, 1)
    before = anonymous.get(f"{AUTHORS}/{author.id}")

    book.title = "Retitled"
    db.session.commit()

    after = anonymous.get(f"{AUTHORS}/{author.id}")
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.get_json()["books"][0]["title"] == "Retitled"
    assert after.last_modified == book.updated_at.replace(microsecond=0)


def test_update_author_changes_only_the_fields_sent(client):
    author = AuthorFactory(name="Frank Herbert", nationality="American")

    response = client.put(f"{AUTHORS}/{author.id}", json={"bio": "Wrote Dune."})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["nationality"], body["bio"]) == ("Frank Herbert", "American", "Wrote Dune.")
    assert body["updated_at"] > body["created_at"]


def test_merge_patch_null_clears_an_optional_field(client):
    author = AuthorFactory()

    response = client.patch(f"{AUTHORS}/{author.id}", json={"birth_date": None},
                            headers={"Content-Type": "application/merge-patch+json"})

    assert response.status_code == 200
    assert response.get_json()["birth_date"] is None


def test_merge_patch_null_name_returns_422(client):
    author = AuthorFactory()

    response = client.patch(f"{AUTHORS}/{author.id}", json={"name": None})

    assert response.status_code == 422
    assert "name" in response.get_json()["errors"]


def test_patch_author_with_another_media_type_returns_415(client):
    author = AuthorFactory()

    response = client.patch(f"{AUTHORS}/{author.id}", data="{}", content_type="text/plain")

    assert response.status_code == 415
    assert response.headers["Accept-Patch"] == "application/merge-patch+json, application/json"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_change_missing_author_returns_404(client, method):
    response = client.open(f"{AUTHORS}/999", method=method.upper(), json={"name": "X"})

    assert response.status_code == 404
    assert response.get_json()["detail"] == "Author with id 999 not found"


@pytest.mark.parametrize("method, body", [("PUT", {"bio": "x"}), ("PATCH", {"bio": "x"}), ("DELETE", None)])
def test_write_with_the_etag_of_a_read_succeeds(client, method, body):
    author = AuthorFactory()
    authors_books(author, 2)
    db.session.execute(delete(book_authors))
    db.session.commit()
    etag = client.get(f"{AUTHORS}/{author.id}").headers["ETag"]

    response = client.open(f"{AUTHORS}/{author.id}", method=method, json=body, headers={"If-Match": etag})

    assert response.status_code == 200


@pytest.mark.parametrize("method, body", [("PUT", {"bio": "x"}), ("PATCH", {"bio": "x"}), ("DELETE", None)])
def test_write_with_a_stale_etag_returns_412_and_changes_nothing(client, method, body):
    author = AuthorFactory(bio="before")
    stale = client.get(f"{AUTHORS}/{author.id}").headers["ETag"]
    client.patch(f"{AUTHORS}/{author.id}", json={"nationality": "Changed"})

    response = client.open(f"{AUTHORS}/{author.id}", method=method, json=body, headers={"If-Match": stale})

    assert response.status_code == 412
    assert client.get(f"{AUTHORS}/{author.id}").get_json()["bio"] == "before"


def test_write_returns_the_etag_a_read_would(client):
    author = AuthorFactory()
    authors_books(author, 2)

    response = client.patch(f"{AUTHORS}/{author.id}", json={"bio": "x"})

    read = client.get(f"{AUTHORS}/{author.id}")
    assert (response.headers["ETag"], response.last_modified) == (read.headers["ETag"], read.last_modified)


def test_delete_author_returns_message(client):
    author = AuthorFactory()

    response = client.delete(f"{AUTHORS}/{author.id}")

    assert response.status_code == 200
    assert response.get_json() == {"message": "Author deleted successfully"}
    assert client.get(f"{AUTHORS}/{author.id}").status_code == 404


def test_delete_author_with_books_returns_409_and_keeps_them(client):
    author = AuthorFactory()
    authors_books(author, 2)

    response = client.delete(f"{AUTHORS}/{author.id}")

    assert response.status_code == 409
    assert response.get_json()["detail"] == (
        f"Cannot delete author with id {author.id} because they have 2 book(s). Remove or reassign the books first."
    )
    assert client.get(f"{AUTHORS}/{author.id}").get_json()["book_count"] == 2


def test_delete_author_whose_books_were_deleted_succeeds(client):
    author = AuthorFactory()
    authors_books(author, 2)
    db.session.execute(delete(Book))
    db.session.commit()

    assert client.delete(f"{AUTHORS}/{author.id}").status_code == 200


def test_delete_missing_author_returns_404(client):
    response = client.delete(f"{AUTHORS}/999")

    assert response.status_code == 404
    assert response.get_json()["detail"] == "Author with id 999 not found"


@pytest.fixture
def listed():
    """Authors with names, birth dates (some unknown) and book counts in no common order."""
    names = ["Ursula K. Le Guin", "Frank Herbert", "Isaac Asimov", "J. R. R. Tolkien", "Octavia E. Butler",
             "Anonymous", "Arthur C. Clarke", "Mary Shelley", "Homer", "Stanisław Lem", "Iain M. Banks"]
    births = [date(1929, 10, 21), date(1920, 10, 8), None, date(1892, 1, 3), date(1947, 6, 22), None,
              date(1917, 12, 16), None, None, date(1921, 9, 12), date(1954, 2, 16)]
    authors = [AuthorFactory(name=name, birth_date=born) for name, born in zip(names, births)]
    for count, author in zip([2, 0, 3, 1, 0, 0, 4, 1, 0, 2, 0], authors):
        authors_books(author, count)
    return authors


@pytest.mark.parametrize("sort, key", [
    ("name", lambda a: (a.name, a.id)),
    ("-name", lambda a: (a.name, a.id)),
    ("book_count", lambda a: (a.book_count, a.id)),
    ("-book_count", lambda a: (a.book_count, a.id)),
    ("birth_date", lambda a: (a.birth_date or date.max, a.id)),
    ("-birth_date", lambda a: (a.birth_date or date.max, a.id)),
    ("created_at", lambda a: (a.created_at, a.id)),
])
def test_list_authors_walks_every_author_once_in_order_by_cursor(anonymous, listed, sort, key):
    for author in listed:
        db.session.refresh(author)
    expected = [a.id for a in sorted(listed, key=key, reverse=sort.startswith("-"))]

    assert walk(anonymous, f"{AUTHORS}?sort={sort}&size=2", "id") == expected


@pytest.mark.parametrize("sort", ["birth_date", "-birth_date"])
def test_list_authors_by_birth_date_walks_back_from_the_end_over_unknown_dates(anonymous, listed, sort):
    forward = walk(anonymous, f"{AUTHORS}?sort={sort}&size=3", "id")
    last_page = anonymous.get(f"{AUTHORS}?sort={sort}&size=3&page=4").get_json()

    backward = walk(anonymous, f"{AUTHORS}?sort={sort}&size=3", "id", cursor=last_page["prev_cursor"], back=True)

    assert backward == forward[:9]


def test_list_authors_shows_unknown_birth_dates_as_null(anonymous, listed):
    items = anonymous.get(f"{AUTHORS}?sort=-birth_date&size=4").get_json()["items"]

    assert [item["birth_date"] for item in items] == [None] * 4
    assert "sort_birth_date" not in items[0]


def test_list_authors_is_in_id_order_with_offset_pages_and_a_link_header(anonymous, listed):
    response = anonymous.get(f"{AUTHORS}?size=4&page=2")

    body = response.get_json()
    assert [item["id"] for item in body["items"]] == [a.id for a in listed[4:8]]
    assert (body["total"], body["pages"], body["total_is_estimate"]) == (11, 3, False)
    assert 'rel="next"' in response.headers["Link"]
    assert "books" not in body["items"][0]


def test_list_authors_returns_only_the_fields_asked_for(anonymous, listed):
    items = anonymous.get(f"{AUTHORS}?fields=id,name&size=1").get_json()["items"]

    assert items == [{"id": listed[0].id, "name": listed[0].name}]


def test_list_authors_page_carries_a_weak_etag_and_honours_it(anonymous, listed):
    etag = anonymous.get(AUTHORS).headers["ETag"]

    assert etag.startswith("W/")
    assert anonymous.get(AUTHORS, headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("q, expected", [
    ("tolkien", ["J. R. R. Tolkien"]),
    ("tolkein", ["J. R. R. Tolkien"]),
    ("herbet", ["Frank Herbert"]),
    ("asimow", ["Isaac Asimov"]),
    ("le guin", ["Ursula K. Le Guin"]),
    ("HOMER", ["Homer"]),
    ("zzyzx", []),
])
def test_list_authors_q_finds_names_despite_typos(anonymous, listed, q, expected):
    items = anonymous.get(f"{AUTHORS}?q={q}").get_json()["items"]

    assert [item["name"] for item in items] == expected


def test_list_authors_q_ranks_the_closest_names_first(anonymous):
    for name in ("Arthur Clarkson", "Arthur C. Clarke", "Clara Arthurs"):
        AuthorFactory(name=name)

    items = anonymous.get(f"{AUTHORS}?q=clarke").get_json()["items"]

    assert items[0]["name"] == "Arthur C. Clarke"


def test_list_authors_q_walks_by_cursor_in_rank_order(anonymous):
    for n in range(7):
        AuthorFactory(name=f"Banks {'I' * n}".strip())

    names = walk(anonymous, f"{AUTHORS}?q=banks&size=2", "name")

    assert sorted(names) == sorted(f"Banks {'I' * n}".strip() for n in range(7))
    assert names[0] == "Banks"


def test_list_authors_q_with_sort_orders_by_the_sort(anonymous, listed):
    items = anonymous.get(f"{AUTHORS}?q=arthur&sort=-name").get_json()["items"]

    assert [item["name"] for item in items] == ["Arthur C. Clarke"]


@pytest.mark.parametrize("query", ["q=", "q=a%01b", f"q={'x' * 256}", "sort=bio", "sort=nationality", "fields=books",
                                   "size=101", "cursor=nonsense"])
def test_list_authors_with_invalid_argument_returns_4xx(anonymous, query):
    assert anonymous.get(f"{AUTHORS}?{query}").status_code in (400, 422)


def test_list_authors_refuses_a_categories_cursor(anonymous, client, listed):
    for name in ("Poetry", "Drama", "Essays"):
        client.post("/api/v1/categories", json={"name": name})
    cursor = anonymous.get("/api/v1/categories?size=1").get_json()["next_cursor"]

    assert anonymous.get(f"{AUTHORS}?size=1&cursor={cursor}").status_code == 400

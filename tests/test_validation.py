"""Bad input gets a 4xx problem and changes nothing."""
import pytest

from tests.factories import BookFactory, BookPayload

BOOKS = "/api/v1/books"


def catalogue(client):
    return client.get(f"{BOOKS}?count=exact").get_json()


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": 42}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"author": ""}, "author"),
        ({"author": "y" * 256}, "author"),
        ({"isbn": "123"}, "isbn"),
        ({"isbn": "978-0-306-40615-8"}, "isbn"),
        ({"isbn": "0-306-40615-3"}, "isbn"),
        ({"isbn": "9770306406157"}, "isbn"),
        ({"isbn": "03064X6152"}, "isbn"),
        ({"isbn": 9780306406157}, "isbn"),
        ({"isbn": "\u0660\u0664\u0664\u0661\u0661\u0667\u0662\u0667\u06617"}, "isbn"),
        ({"published_date": "not a date"}, "published_date"),
        ({"published_date": "2021-02-30"}, "published_date"),
        ({"published_date": None}, "published_date"),
        ({"description": "d" * 10_001}, "description"),
        ({"description": "nul\x00"}, "description"),
        # Lengths count what is sent, as the OpenAPI document's maxLength does, surrounding spaces included.
        ({"author": " " + "y" * 255}, "author"),
        ({"title": "x" * 255 + "  "}, "title"),
        ({"description": "d" * 10_000 + "\n"}, "description"),
        # Control characters: C0, DEL and C1; a description may hold tab, CR and LF.
        ({"title": "Tab\tin a title"}, "title"),
        ({"title": "Dune\n"}, "title"),
        ({"title": "\r\nDune"}, "title"),
        ({"title": "Escape\x1b[31m"}, "title"),
        ({"author": "Frank\x7fHerbert"}, "author"),
        ({"author": "Frank\x85Herbert"}, "author"),
        ({"author": "\x9f" * 255}, "author"),
        ({"description": "Bell\x07"}, "description"),
        ({"description": "Vertical\x0btab"}, "description"),
        ({"description": "Next\x85line"}, "description"),
        ({"id": 5}, "id"),
        ({"isbn13": "9780306406157"}, "isbn13"),
        ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_create_book_with_invalid_field_returns_422(client, changes, field):
    response = client.post(BOOKS, json={**BookPayload(), **changes})

    assert response.status_code == 422
    body = response.get_json()
    assert list(body["errors"]) == [field]
    assert field in body["detail"]
    assert catalogue(client)["total"] == 0


@pytest.mark.parametrize("missing", ["title", "author", "isbn", "published_date"])
def test_create_book_without_required_field_returns_422(client, missing):
    payload = BookPayload()
    del payload[missing]

    response = client.post(BOOKS, json=payload)

    assert response.status_code == 422
    assert response.get_json()["errors"] == {missing: ["Missing data for required field."]}


def test_create_book_accepts_isbn10_with_x_check_digit(client):
    response = client.post(BOOKS, json=BookPayload(isbn="0-8044-2957-x"))

    assert response.status_code == 201
    assert response.get_json()["isbn"] == "080442957X"


@pytest.mark.parametrize(
    "changes, field",
    [({"title": ""}, "title"), ({"isbn": "123"}, "isbn"), ({"id": 9}, "id"), ({"author": None}, "author")],
)
def test_update_book_with_invalid_field_returns_422_and_changes_nothing(client, changes, field):
    book = BookFactory()
    before = client.get(f"{BOOKS}/{book.id}").get_json()

    response = client.put(f"{BOOKS}/{book.id}", json=changes)

    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == [field]
    assert client.get(f"{BOOKS}/{book.id}").get_json() == before


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b"[1, 2]", b'"a string"', b"null", b"42", b'{"title": "\\ud800"}', b"NaN"]
)
def test_create_book_with_malformed_or_non_object_json_returns_400(client, body):
    response = client.post(BOOKS, data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert catalogue(client)["total"] == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_create_book_with_non_json_content_type_returns_415(client, content_type):
    response = client.post(BOOKS, data='{"title": "x"}', content_type=content_type)

    assert response.status_code == 415
    assert response.get_json()["detail"] == "Send the body as application/json."


def test_update_book_with_non_json_content_type_returns_415(client):
    book = BookFactory()

    assert client.put(f"{BOOKS}/{book.id}", data="title=x", content_type="text/plain").status_code == 415


def test_body_above_the_limit_returns_413(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)

    response = client.post(BOOKS, json=BookPayload(description="d" * 2000))

    assert response.status_code == 413
    assert response.get_json()["detail"] == "The body is larger than 1024 bytes."
    assert catalogue(client)["total"] == 0


@pytest.mark.parametrize(
    "query, field",
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("size=0", "size"),
        ("size=101", "size"),
        ("size=1.5", "size"),
        ("count=maybe", "count"),
        ("colour=red", "colour"),
    ],
)
def test_list_books_with_invalid_query_returns_422(client, query, field):
    response = client.get(f"{BOOKS}?{query}")

    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == [field]


@pytest.mark.parametrize("query", ["author=Frank%1BHerbert", "title=Dun%0Ae", "q=dune%1F"])
def test_list_books_with_control_character_in_a_filter_returns_422(client, query):
    response = client.get(f"{BOOKS}?{query}")

    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == [query.split("=")[0]]


def test_list_books_beyond_offset_limit_points_to_cursor_pagination(client):
    response = client.get(f"{BOOKS}?page=101&size=100")

    assert response.status_code == 422
    assert "cursor" in response.get_json()["errors"]["page"][0]

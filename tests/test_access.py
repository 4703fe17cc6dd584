"""Who may call what: every route for every kind of caller, deny by default, roles that change, mass assignment."""
import pytest
from sqlalchemy import text

from bookapi.access import ROLE_RANK, rule_of
from bookapi.extensions import db
from tests.accounts import own_app
from tests.conftest import sign_in
from tests.factories import (
    PASSWORD,
    AuthorFactory,
    BookFactory,
    BookPayload,
    CategoryFactory,
    ReviewFactory,
    UserFactory,
)

PUBLIC, SIGNED_IN = "public", "signed in"
CALLERS = ["anonymous", *ROLE_RANK]
# Who may call each route: the table. The URL map must hold exactly these routes (test below).
ROUTES = {
    ("GET", "/"): PUBLIC,
    ("GET", "/health"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/apidocs/"): PUBLIC,
    ("GET", "/apidocs/index.html"): PUBLIC,
    ("GET", "/apidocs/static/<path:filename>"): PUBLIC,
    ("GET", "/oauth2-redirect.html"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/docs/redoc/<path:filename>"): PUBLIC,
    ("GET", "/static/<path:filename>"): PUBLIC,
    ("POST", "/api/v1/auth/register"): PUBLIC,
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): SIGNED_IN,
    ("GET", "/api/v1/auth/me"): SIGNED_IN,
    ("PUT", "/api/v1/auth/me"): SIGNED_IN,
    ("PATCH", "/api/v1/auth/me"): SIGNED_IN,
    ("GET", "/api/v1/books"): PUBLIC,
    ("GET", "/api/v1/books/<int:book_id>"): PUBLIC,
    ("GET", "/api/v1/books/isbn/<isbn>"): PUBLIC,
    ("POST", "/api/v1/books"): "editor",
    ("POST", "/api/v1/books/bulk"): "editor",
    ("PUT", "/api/v1/books/<int:book_id>"): "editor",
    ("PATCH", "/api/v1/books/<int:book_id>"): "editor",
    ("DELETE", "/api/v1/books/<int:book_id>"): "admin",
    ("PUT", "/api/v1/books/<int:book_id>/categories"): "editor",
    ("GET", "/api/v1/authors"): PUBLIC,
    ("GET", "/api/v1/authors/<int:author_id>"): PUBLIC,
    ("POST", "/api/v1/authors"): "editor",
    ("PUT", "/api/v1/authors/<int:author_id>"): "editor",
    ("PATCH", "/api/v1/authors/<int:author_id>"): "editor",
    ("DELETE", "/api/v1/authors/<int:author_id>"): "admin",
    ("GET", "/api/v1/categories"): PUBLIC,
    ("GET", "/api/v1/categories/<int:category_id>"): PUBLIC,
    ("POST", "/api/v1/categories"): "editor",
    ("PUT", "/api/v1/categories/<int:category_id>"): "editor",
    ("PATCH", "/api/v1/categories/<int:category_id>"): "editor",
    ("DELETE", "/api/v1/categories/<int:category_id>"): "admin",
    ("GET", "/api/v1/users"): "admin",
    ("GET", "/api/v1/users/<int:user_id>"): "admin",
    ("PATCH", "/api/v1/users/<int:user_id>"): "admin",
    ("PATCH", "/api/v1/users/<int:user_id>/role"): "admin",
    ("POST", "/api/v1/reviews"): SIGNED_IN,
    ("GET", "/api/v1/reviews/<int:review_id>"): PUBLIC,
    ("PUT", "/api/v1/reviews/<int:review_id>"): SIGNED_IN,
    ("PATCH", "/api/v1/reviews/<int:review_id>"): SIGNED_IN,
    ("DELETE", "/api/v1/reviews/<int:review_id>"): SIGNED_IN,
    ("GET", "/api/v1/books/<int:book_id>/reviews"): PUBLIC,
    ("POST", "/api/v1/books/<int:book_id>/favorite"): SIGNED_IN,
    ("DELETE", "/api/v1/books/<int:book_id>/favorite"): SIGNED_IN,
    ("GET", "/api/v1/users/me/favorites"): SIGNED_IN,
    ("GET", "/api/v1/stats"): PUBLIC,
}


def expected_refusal(rule, caller):
    """The status and detail ``caller`` gets from a route under ``rule``, or None when it is let through."""
    if rule == PUBLIC:
        return None
    if caller == "anonymous":
        return 401, "Not authenticated"
    if rule == SIGNED_IN or ROLE_RANK[caller] >= ROLE_RANK[rule]:
        return None
    return 403, f"{rule.capitalize()} role required"


def snapshot():
    """Every stored row a request could change."""
    return [db.session.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
            for table in ("users", "books", "refresh_tokens", "revoked_access_tokens", "authors", "categories",
                          "reviews", "favorites")]


def test_url_map_holds_exactly_the_routes_of_the_access_table(app):
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}

    assert routes == set(ROUTES)


def test_every_route_declares_an_access_rule(app):
    undeclared = [rule.rule for rule in app.url_map.iter_rules() if rule_of(app, rule.endpoint) is None]

    assert undeclared == []


@pytest.mark.parametrize("route", ROUTES, ids=" ".join)
@pytest.mark.parametrize("caller", CALLERS)
def test_route_answers_each_caller_as_its_rule_says(app, route, caller):
    method, rule = route
    book, target = BookFactory(), UserFactory(display_name="Target")
    author, category = AuthorFactory(), CategoryFactory()
    account = None if caller == "anonymous" else UserFactory(role=caller)
    client = app.test_client() if account is None else sign_in(app.test_client(), account)
    # The caller's own review, so that a caller the rule lets through is not refused as someone else.
    review = ReviewFactory(book_id=book.id, user_id=(account or target).id)
    path = (rule.replace("<int:book_id>", str(book.id)).replace("<int:user_id>", str(target.id))
            .replace("<int:review_id>", str(review.id)).replace("<isbn>", book.isbn13)
            .replace("<path:filename>", "missing.js")
            .replace("<int:author_id>", str(author.id)).replace("<int:category_id>", str(category.id)))
    before = snapshot()

    response = client.open(path, method=method, json={} if method != "GET" else None)

    refusal = expected_refusal(ROUTES[route], caller)
    if refusal is None:
        assert response.status_code not in (401, 403), response.get_json()
    else:
        assert (response.status_code, response.get_json()["detail"]) == refusal
        assert snapshot() == before


@pytest.fixture
def undeclared_app():
    with own_app() as app:
        @app.get("/undeclared")
        def undeclared():
            return {"open": True}

        yield app


@pytest.mark.parametrize("caller", CALLERS)
def test_route_without_an_access_rule_is_refused_to_everyone(undeclared_app, caller):
    client = undeclared_app.test_client()
    if caller != "anonymous":
        sign_in(client, UserFactory(role=caller))

    response = client.get("/undeclared")

    assert response.status_code == 403
    assert response.get_json()["detail"] == "This route declares no access rule, so it is closed."


def test_demoted_editor_is_refused_writes_on_the_next_request_without_signing_out(app, client):
    editor = UserFactory(role="editor")
    editor_client = sign_in(app.test_client(), editor)
    assert editor_client.post("/api/v1/books", json=BookPayload()).status_code == 201

    assert client.patch(f"/api/v1/users/{editor.id}/role", json={"role": "user"}).status_code == 200

    response = editor_client.post("/api/v1/books", json=BookPayload())
    assert (response.status_code, response.get_json()["detail"]) == (403, "Editor role required")
    assert editor_client.get("/api/v1/auth/me").get_json()["role"] == "user"


def test_promoted_user_may_write_on_the_next_request(app, client):
    user = UserFactory(role="user")
    user_client = sign_in(app.test_client(), user)
    assert user_client.post("/api/v1/books", json=BookPayload()).status_code == 403

    client.patch(f"/api/v1/users/{user.id}/role", json={"role": "editor"})

    assert user_client.post("/api/v1/books", json=BookPayload()).status_code == 201


def test_books_record_who_created_them(app):
    editor = UserFactory(role="editor")
    editor_client = sign_in(app.test_client(), editor)

    single = editor_client.post("/api/v1/books", json=BookPayload()).get_json()
    bulk = editor_client.post("/api/v1/books/bulk", json={"items": [BookPayload()]}).get_json()

    assert single["created_by"] == editor.id
    assert bulk["items"][0]["book"]["created_by"] == editor.id
    assert editor_client.get(f"/api/v1/books/{single['id']}").get_json()["created_by"] == editor.id


def test_books_of_a_deleted_account_keep_a_null_creator(app, anonymous):
    editor = UserFactory(role="editor")
    book = sign_in(app.test_client(), editor).post("/api/v1/books", json=BookPayload()).get_json()

    db.session.delete(editor)
    db.session.commit()

    response = anonymous.get(f"/api/v1/books/{book['id']}")
    assert response.status_code == 200
    assert response.get_json()["created_by"] is None


# Fields a caller must never set through a body, for every route that takes one.
FORBIDDEN = {
    ("POST", "/api/v1/auth/register"): ["role", "is_active", "id", "token_version", "password_hash", "created_at"],
    ("POST", "/api/v1/auth/login"): ["role", "id"],
    ("POST", "/api/v1/auth/refresh"): ["user_id", "family_id"],
    ("PUT", "/api/v1/auth/me"): ["role", "is_active", "id", "token_version", "password_hash", "created_at"],
    ("PATCH", "/api/v1/auth/me"): ["role", "is_active", "id", "token_version", "password_hash", "created_at"],
    ("POST", "/api/v1/books"): ["id", "created_by", "isbn13", "created_at", "updated_at"],
    ("PUT", "/api/v1/books/{book}"): ["id", "created_by", "isbn13", "created_at", "updated_at"],
    ("PATCH", "/api/v1/books/{book}"): ["id", "created_by", "isbn13", "created_at", "updated_at"],
    ("PATCH", "/api/v1/users/{user}"): ["role", "email", "password", "password_hash", "token_version", "id"],
    ("PATCH", "/api/v1/users/{user}/role"): ["is_active", "email", "token_version", "id"],
    **{(method, path): ["id", "book_count", "created_at", "updated_at"]
       for method, path in [("POST", "/api/v1/authors"), ("PUT", "/api/v1/authors/{author}"),
                            ("PATCH", "/api/v1/authors/{author}"), ("POST", "/api/v1/categories"),
                            ("PUT", "/api/v1/categories/{category}"), ("PATCH", "/api/v1/categories/{category}")]},
}
VALUES = {"role": "admin", "is_active": True, "id": 999, "token_version": 99, "password_hash": "x", "email": "a@b.co",
          "password": PASSWORD, "created_at": "2020-01-01T00:00:00+00:00", "updated_at": "2020-01-01T00:00:00+00:00",
          "user_id": 1, "family_id": "00000000-0000-0000-0000-000000000000", "created_by": 1, "isbn13": "9780306406157",
          "book_count": 7}
VALID_BODIES = {
    "/api/v1/auth/register": {"email": "new.reader@example.com", "password": "quiet lantern orchard 2041"},
    "/api/v1/auth/login": {"email": "nobody@example.com", "password": PASSWORD},
    "/api/v1/auth/refresh": {"refresh_token": "anything"},
    "/api/v1/auth/me": {"display_name": "Changed"},
    "/api/v1/books": BookPayload.build(),
    "/api/v1/books/{book}": {"title": "Changed"},
    "/api/v1/users/{user}": {"display_name": "Changed"},
    "/api/v1/users/{user}/role": {"role": "editor"},
    "/api/v1/authors": {"name": "Octavia E. Butler"},
    "/api/v1/authors/{author}": {"bio": "Changed"},
    "/api/v1/categories": {"name": "Afrofuturism"},
    "/api/v1/categories/{category}": {"description": "Changed"},
}


@pytest.mark.parametrize("route, field", [(route, field) for route, fields in FORBIDDEN.items() for field in fields],
                         ids=lambda value: " ".join(value) if isinstance(value, tuple) else value)
def test_body_setting_a_protected_field_is_422_and_changes_nothing(client, route, field):
    method, path = route
    book, user = BookFactory(), UserFactory(email="target@example.com")
    author, category = AuthorFactory(), CategoryFactory()
    before = snapshot()

    response = client.open(path.format(book=book.id, user=user.id, author=author.id, category=category.id),
                           method=method, json={**VALID_BODIES[path], field: VALUES[field]})

    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert snapshot() == before


def test_atomic_bulk_with_an_item_setting_its_creator_is_422(client):
    before = snapshot()

    response = client.post("/api/v1/books/bulk", json={"items": [{**BookPayload(), "created_by": 1}]})

    assert response.status_code == 422
    assert "created_by" in response.get_json()["errors"]["items"]["0"]["errors"]
    assert snapshot() == before


def test_non_atomic_bulk_item_setting_its_creator_is_refused_alone(client, admin):
    items = [{**BookPayload(), "created_by": 1}, BookPayload()]

    response = client.post("/api/v1/books/bulk", json={"items": items, "atomic": False})

    assert [item["status"] for item in response.get_json()["items"]] == [422, 201]
    assert response.get_json()["items"][1]["book"]["created_by"] == admin.id

"""The admins' list of accounts: the books' list envelope, filters, sort, cursors, fields and ETags."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from bookapi.extensions import db
from tests.factories import BookFactory, UserFactory
from tests.pages import walk

USERS = "/api/v1/users"
LINK = re.compile(r'<([^>]*)>; rel="(\w+)"')
USER_FIELDS = ["id", "email", "role", "is_active", "display_name", "created_at"]
# Accounts created in an order that neither their ids nor their emails follow.
JOINED = datetime(2026, 1, 1, tzinfo=timezone.utc)


def emails(response):
    return [user["email"] for user in response.get_json()["items"]]


@pytest.fixture
def accounts(admin):
    """The admin who lists, and five others."""
    return [admin, *(
        UserFactory(email=email, role=role, is_active=active, created_at=JOINED - timedelta(days=days))
        for email, role, active, days in [
            ("ada@lovelace.example", "editor", True, 3),
            ("grace.hopper@navy.example", "admin", True, 5),
            ("alan@turing.example", "user", False, 1),
            ("edsger@dijkstra.example", "editor", False, 4),
            ("barbara@liskov.example", "user", True, 2),
        ]
    )]


def test_list_users_anonymously_returns_401(anonymous, accounts):
    response = anonymous.get(USERS)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ["user", "editor"])
def test_list_users_without_the_admin_role_returns_403(client_as, accounts, role):
    response = client_as(role).get(USERS)

    assert response.status_code == 403
    assert response.get_json()["detail"] == "Admin role required"


def test_list_users_pages_accounts_in_id_order(client, accounts):
    response = client.get(f"{USERS}?size=4")

    assert response.status_code == 200
    body = response.get_json()
    assert [user["id"] for user in body["items"]] == [user.id for user in accounts[:4]]
    assert (body["page"], body["size"], body["total"], body["pages"], body["total_is_estimate"]) == (1, 4, 6, 2, False)
    assert body["prev_cursor"] is None and body["next_cursor"]


def test_list_users_shows_no_password_hash(client, accounts):
    items = client.get(USERS).get_json()["items"]

    assert all(list(item) == USER_FIELDS for item in items)


@pytest.mark.parametrize("query, expected", [
    ("role=editor", ["ada@lovelace.example", "edsger@dijkstra.example"]),
    ("is_active=false", ["alan@turing.example", "edsger@dijkstra.example"]),
    ("is_active=true&role=user", ["barbara@liskov.example"]),
    ("q=LOVELACE", ["ada@lovelace.example"]),
    ("q=ing.exa&is_active=false", ["alan@turing.example"]),
])
def test_list_users_filters_combine_with_and(client, accounts, query, expected):
    response = client.get(f"{USERS}?{query}&sort=email")

    assert (response.status_code, emails(response)) == (200, expected)


def test_list_users_treats_wildcards_in_q_literally(client):
    UserFactory(email="under_score@example.com")
    UserFactory(email="underxscore@example.com")

    assert emails(client.get(USERS, query_string={"q": "r_sco"})) == ["under_score@example.com"]
    assert emails(client.get(USERS, query_string={"q": "der%sco"})) == []


@pytest.mark.parametrize("query", ["role=root", "role=Admin", "is_active=yes", "is_active=1", "q=ab", "q=a.b-c",
                                   "q=" + "x" * 255, "sort=title", "sort=email,email", "fields=password_hash",
                                   "fields=id,token_version", "title=dune", "size=0", "page=1&cursor=abc"])
def test_list_users_with_invalid_argument_returns_422(client, accounts, query):
    response = client.get(f"{USERS}?{query}")

    assert response.status_code == 422
    assert response.get_json()["errors"]


@pytest.mark.parametrize("sort, expected", [
    ("email", ["ada", "alan", "barbara", "edsger", "grace.hopper", "reader"]),
    ("-email", ["reader", "grace.hopper", "edsger", "barbara", "alan", "ada"]),
    ("created_at", ["grace.hopper", "edsger", "ada", "barbara", "alan", "reader"]),
    ("-created_at", ["reader", "alan", "barbara", "ada", "edsger", "grace.hopper"]),
])
def test_list_users_sorts_accounts(client, accounts, sort, expected):
    response = client.get(f"{USERS}?sort={sort}")

    assert [email.split("@")[0].rstrip("0123456789") for email in emails(response)] == expected


@pytest.mark.parametrize("query", ["sort=email", "sort=-email", "sort=created_at", "sort=-id", "role=editor",
                                   "is_active=true&sort=-created_at", "q=example&sort=email"])
def test_list_users_cursor_walk_visits_every_account_once_in_order(client, accounts, query):
    UserFactory.create_batch(5, role="editor")
    expected = emails(client.get(f"{USERS}?{query}&size=100"))

    assert walk(client, f"{USERS}?{query}&size=2", "email") == expected
    assert len(expected) > 2


@pytest.mark.parametrize("sort", ["email", "-created_at"])
def test_list_users_cursors_lead_both_ways_from_a_middle_page(client, accounts, sort):
    UserFactory.create_batch(5)
    everyone = emails(client.get(f"{USERS}?sort={sort}&size=100"))
    middle = client.get(f"{USERS}?sort={sort}&size=3&page=2").get_json()

    before = walk(client, f"{USERS}?sort={sort}&size=3", "email", middle["prev_cursor"], back=True)
    after = walk(client, f"{USERS}?sort={sort}&size=3", "email", middle["next_cursor"])

    assert before + [user["email"] for user in middle["items"]] + after == everyone
    assert (len(before), len(after)) == (3, 5)


def test_list_users_returns_only_the_fields_asked_for(client, accounts):
    items = client.get(f"{USERS}?fields=email,role&sort=email&size=1").get_json()["items"]

    assert items == [{"email": "ada@lovelace.example", "role": "editor"}]


def test_list_users_link_header_leads_to_the_first_and_next_pages(client, accounts):
    response = client.get(f"{USERS}?role=editor&size=1&page=2")

    links = {rel: url for url, rel in LINK.findall(response.headers["Link"])}
    assert set(links) == {"first", "prev"}
    assert emails(client.get(links["first"])) == ["ada@lovelace.example"]
    assert emails(client.get(links["prev"])) == ["ada@lovelace.example"]


def test_list_users_with_current_etag_returns_304(client, accounts):
    etag = client.get(USERS).headers["ETag"]

    response = client.get(USERS, headers={"If-None-Match": etag})

    assert etag.startswith('W/"')
    assert response.status_code == 304


def test_list_users_after_a_change_returns_a_new_etag(client, accounts):
    etag = client.get(USERS).headers["ETag"]
    client.patch(f"{USERS}/{accounts[3].id}", json={"is_active": True})

    response = client.get(USERS, headers={"If-None-Match": etag})

    assert response.status_code == 200
    assert response.headers["ETag"] != etag


def test_list_users_above_count_cap_estimates_total(client, app, accounts, monkeypatch):
    monkeypatch.setitem(app.config, "LIST_COUNT_CAP", 3)
    db.session.execute(text("ANALYZE users"))

    estimated = client.get(f"{USERS}?size=2").get_json()
    exact = client.get(f"{USERS}?size=2&count=exact").get_json()

    assert (estimated["total_is_estimate"], estimated["total"] >= 4) == (True, True)
    assert (exact["total_is_estimate"], exact["total"]) == (False, 6)


def test_list_users_refuses_a_books_cursor_and_books_a_users_cursor(client, accounts):
    BookFactory.create_batch(3)
    users_cursor = client.get(f"{USERS}?size=1").get_json()["next_cursor"]
    books_cursor = client.get("/api/v1/books?size=1").get_json()["next_cursor"]

    assert client.get(f"{USERS}?size=1&cursor={books_cursor}").status_code == 400
    assert client.get(f"/api/v1/books?size=1&cursor={users_cursor}").status_code == 400

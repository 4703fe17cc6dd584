"""Conditional requests: ETags and Last-Modified for reads, If-Match and If-Unmodified-Since for both, merge-patch."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from werkzeug.http import http_date

from bookapi.extensions import db
from tests.factories import BookFactory

BOOKS = "/api/v1/books"
MERGE_PATCH = "application/merge-patch+json"
# A change in the middle of a second: Last-Modified, in whole seconds, says 12:00:00.
CHANGED_AT = datetime(2024, 5, 1, 12, 0, 0, 400_000, tzinfo=timezone.utc)
WRITES = [("put", {"title": "Mine"}), ("patch", {"title": "Mine"}), ("delete", None)]
# Dates the book changed at or after: a second before its change, and the second of its change.
CHANGED_SINCE = [http_date(CHANGED_AT - timedelta(seconds=1)), http_date(CHANGED_AT)]
AFTER_THE_CHANGE = http_date(CHANGED_AT + timedelta(seconds=1))


@pytest.fixture
def book():
    return BookFactory(title="Original", description="Some words")


@pytest.fixture
def changed_book():
    return BookFactory(title="Theirs", updated_at=CHANGED_AT)


def test_get_book_carries_strong_etag_and_last_modified(client, book):
    response = client.get(f"{BOOKS}/{book.id}")

    assert response.headers["ETag"].startswith('"')
    assert response.headers["Last-Modified"]
    assert response.headers["Cache-Control"] == "no-cache"
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("method", ["get", "head"])
def test_get_book_with_current_etag_returns_304(client, book, method):
    etag = client.get(f"{BOOKS}/{book.id}").headers["ETag"]

    response = getattr(client, method)(f"{BOOKS}/{book.id}", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.get_data() == b""


def test_get_book_after_change_returns_200_with_new_etag(client, book):
    etag = client.get(f"{BOOKS}/{book.id}").headers["ETag"]
    client.put(f"{BOOKS}/{book.id}", json={"title": "Changed"})

    response = client.get(f"{BOOKS}/{book.id}", headers={"If-None-Match": etag})

    assert response.status_code == 200
    assert response.headers["ETag"] != etag


@pytest.mark.parametrize("header, status", [("If-Modified-Since", 304), ("If-Unmodified-Since", 200)])
def test_get_book_with_a_date_after_its_last_change_passes_the_date_condition(client, changed_book, header, status):
    response = client.get(f"{BOOKS}/{changed_book.id}", headers={header: AFTER_THE_CHANGE})

    assert response.status_code == status


def test_get_book_changed_again_within_its_last_modified_second_returns_200(client, changed_book):
    last_modified = client.get(f"{BOOKS}/{changed_book.id}").headers["Last-Modified"]
    changed_book.title, changed_book.updated_at = "Changed", CHANGED_AT + timedelta(milliseconds=300)
    db.session.commit()

    response = client.get(f"{BOOKS}/{changed_book.id}", headers={"If-Modified-Since": last_modified})

    assert response.status_code == 200
    assert response.get_json()["title"] == "Changed"


@pytest.fixture
def transaction_began():
    """The start of a transaction that has then run for a while, as one waiting for a row lock does."""
    began = db.session.scalar(select(func.now()))
    db.session.execute(text("SELECT pg_sleep(0.01)"))
    return began


def test_book_change_is_stamped_when_written_not_when_its_transaction_began(book, transaction_began):
    book.title = "Changed"
    db.session.commit()

    assert book.updated_at > transaction_began


def test_new_book_is_stamped_when_inserted_not_when_its_transaction_began(transaction_began):
    book = BookFactory()

    assert book.created_at == book.updated_at > transaction_began


def test_list_page_carries_weak_etag_and_honours_it(client, book):
    etag = client.get(BOOKS).headers["ETag"]

    assert etag.startswith('W/"')
    assert client.get(BOOKS, headers={"If-None-Match": etag}).status_code == 304


def test_list_page_etag_changes_when_a_book_changes(client, book):
    etag = client.get(BOOKS).headers["ETag"]
    client.put(f"{BOOKS}/{book.id}", json={"title": "Changed"})

    assert client.get(BOOKS, headers={"If-None-Match": etag}).status_code == 200


def test_write_returns_the_etag_a_read_would(client, book):
    written = client.put(f"{BOOKS}/{book.id}", json={"title": "Changed"})

    assert written.headers["ETag"] == client.get(f"{BOOKS}/{book.id}").headers["ETag"]


@pytest.mark.parametrize("method, body", WRITES)
def test_write_with_current_if_match_succeeds(client, book, method, body):
    etag = client.get(f"{BOOKS}/{book.id}").headers["ETag"]

    response = getattr(client, method)(f"{BOOKS}/{book.id}", json=body, headers={"If-Match": etag})

    assert response.status_code == 200


@pytest.mark.parametrize("method, body", WRITES)
def test_write_with_stale_if_match_returns_412_and_changes_nothing(client, book, method, body):
    stale = client.get(f"{BOOKS}/{book.id}").headers["ETag"]
    client.put(f"{BOOKS}/{book.id}", json={"title": "Theirs"})

    response = getattr(client, method)(f"{BOOKS}/{book.id}", json=body, headers={"If-Match": stale})

    assert response.status_code == 412
    assert response.mimetype == "application/problem+json"
    assert client.get(f"{BOOKS}/{book.id}").get_json()["title"] == "Theirs"


@pytest.mark.parametrize("method, body", WRITES)
def test_write_unmodified_since_a_later_second_succeeds(client, changed_book, method, body):
    headers = {"If-Unmodified-Since": AFTER_THE_CHANGE}

    response = getattr(client, method)(f"{BOOKS}/{changed_book.id}", json=body, headers=headers)

    assert response.status_code == 200


@pytest.mark.parametrize("since", CHANGED_SINCE)
@pytest.mark.parametrize("method, body", WRITES)
def test_write_changed_since_if_unmodified_since_returns_412_and_changes_nothing(
    client, changed_book, method, body, since
):
    response = getattr(client, method)(f"{BOOKS}/{changed_book.id}", json=body, headers={"If-Unmodified-Since": since})

    assert response.status_code == 412
    assert response.mimetype == "application/problem+json"
    assert client.get(f"{BOOKS}/{changed_book.id}").get_json()["title"] == "Theirs"


def test_write_with_if_match_ignores_if_unmodified_since(client, changed_book):
    etag = client.get(f"{BOOKS}/{changed_book.id}").headers["ETag"]

    response = client.put(f"{BOOKS}/{changed_book.id}", json={"title": "Mine"}, headers={
        "If-Match": etag, "If-Unmodified-Since": CHANGED_SINCE[0],
    })

    assert response.status_code == 200


def test_write_with_unparsable_if_unmodified_since_ignores_it(client, book):
    response = client.put(f"{BOOKS}/{book.id}", json={"title": "Mine"}, headers={"If-Unmodified-Since": "yesterday"})

    assert response.status_code == 200


@pytest.mark.parametrize("since", CHANGED_SINCE)
def test_get_book_changed_since_if_unmodified_since_returns_412(client, changed_book, since):
    response = client.get(f"{BOOKS}/{changed_book.id}", headers={"If-Unmodified-Since": since})

    assert response.status_code == 412
    assert response.mimetype == "application/problem+json"


def test_get_book_failed_precondition_outranks_a_current_if_none_match(client, changed_book):
    etag = client.get(f"{BOOKS}/{changed_book.id}").headers["ETag"]
    headers = {"If-None-Match": etag, "If-Unmodified-Since": CHANGED_SINCE[0]}

    response = client.get(f"{BOOKS}/{changed_book.id}", headers=headers)

    assert response.status_code == 412


def test_write_with_if_match_star_succeeds(client, book):
    assert client.put(f"{BOOKS}/{book.id}", json={"title": "Any"}, headers={"If-Match": "*"}).status_code == 200


def test_write_without_if_match_when_required_returns_428(client, app, book, monkeypatch):
    monkeypatch.setitem(app.config, "REQUIRE_IF_MATCH", True)

    response = client.put(f"{BOOKS}/{book.id}", json={"title": "Blind"})

    assert response.status_code == 428
    assert client.get(f"{BOOKS}/{book.id}").get_json()["title"] == "Original"


def test_merge_patch_changes_fields_sent(client, book):
    response = client.patch(f"{BOOKS}/{book.id}", json={"title": "Patched"}, content_type=MERGE_PATCH)

    assert response.status_code == 200
    assert response.get_json()["title"] == "Patched"
    assert response.get_json()["description"] == "Some words"


def test_merge_patch_null_clears_description(client, book):
    response = client.patch(f"{BOOKS}/{book.id}", data='{"description": null}', content_type=MERGE_PATCH)

    assert response.get_json()["description"] is None


def test_merge_patch_null_for_required_field_returns_422(client, book):
    response = client.patch(f"{BOOKS}/{book.id}", data='{"title": null}', content_type=MERGE_PATCH)

    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["title"]


def test_patch_with_plain_json_is_accepted(client, book):
    assert client.patch(f"{BOOKS}/{book.id}", json={"title": "Plain"}).status_code == 200


@pytest.mark.parametrize("content_type", ["application/json-patch+json", "text/plain"])
def test_patch_with_other_media_type_returns_415_and_advertises_accept_patch(client, book, content_type):
    response = client.patch(f"{BOOKS}/{book.id}", data="[]", content_type=content_type)

    assert response.status_code == 415
    assert response.headers["Accept-Patch"] == "application/merge-patch+json, application/json"


def test_get_book_advertises_accept_patch(client, book):
    assert "application/merge-patch+json" in client.get(f"{BOOKS}/{book.id}").headers["Accept-Patch"]


def test_patch_missing_book_returns_404(client):
    assert client.patch(f"{BOOKS}/999", json={"title": "x"}).status_code == 404

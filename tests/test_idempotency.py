"""Safe retries: a creating request sent with an Idempotency-Key runs once per caller and key, and a retry gets the
first answer back."""
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from bookapi import create_app, reads
from bookapi.access import access_of, login_required
from bookapi.books.models import Book
from bookapi.extensions import db
from bookapi.idempotency import IdempotencyKey, idempotent, is_idempotent
from tests.conftest import make_config, sign_in
from tests.factories import BookPayload, UserFactory
from tests.test_concurrency import WAITING_ON_BACKEND, backend_pid, wait_until

BOOKS = "/api/v1/books"
BULK = "/api/v1/books/bulk"
KEY = "3f6c0b0e-8d7e-4a43-9f7e-5b1c2d9a7e10"
REPLAYED_HEADERS = ("Location", "ETag", "Last-Modified", "Content-Type")
# The simple-query message psycopg2 sends to end a transaction: its answer is the one a lost connection never gets.
COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"
CREATES = [
    pytest.param(BOOKS, lambda: BookPayload(), id="create"),
    pytest.param(BULK, lambda: {"items": BookPayload.build_batch(3), "atomic": True}, id="bulk"),
]


def keyed(key=KEY):
    return {"Idempotency-Key": key}


def books_stored():
    return db.session.scalar(select(func.count()).select_from(Book))


@pytest.fixture
def editor(client_as):
    return client_as("editor")


@pytest.mark.parametrize("url, payload", CREATES)
def test_create_repeated_with_its_key_replays_the_first_answer(editor, url, payload):
    body = payload()
    first = editor.post(url, json=body, headers=keyed())

    again = editor.post(url, json=body, headers=keyed())

    assert again.status_code == first.status_code
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [again.headers.get(name) for name in REPLAYED_HEADERS] == [
        first.headers.get(name) for name in REPLAYED_HEADERS
    ]
    assert again.get_data() == first.get_data()


def test_create_answered_the_first_time_is_not_marked_as_replayed(editor):
    response = editor.post(BOOKS, json=BookPayload(), headers=keyed())

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


def test_create_repeated_with_its_key_in_another_spelling_of_its_body_is_replayed(editor):
    payload = BookPayload()
    editor.post(BOOKS, json=payload, headers=keyed())
    reordered = json.dumps(dict(reversed(payload.items())), indent=2)

    again = editor.post(BOOKS, data=reordered, content_type="application/json", headers=keyed())

    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"


def test_create_with_a_used_key_and_another_body_returns_422_and_stores_nothing(editor):
    editor.post(BOOKS, json=BookPayload(), headers=keyed())

    response = editor.post(BOOKS, json=BookPayload(), headers=keyed())

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == (
        "This Idempotency-Key was used for another request: send a new key with a new request."
    )
    assert books_stored() == 1


def test_key_used_on_another_route_returns_422(editor):
    editor.post(BOOKS, json=BookPayload(), headers=keyed())

    response = editor.post(BULK, json={"items": [BookPayload()]}, headers=keyed())

    assert response.status_code == 422
    assert books_stored() == 1


def test_keys_of_two_callers_do_not_collide(editor, client_as):
    first, second = BookPayload(), BookPayload()
    editor.post(BOOKS, json=first, headers=keyed())

    response = client_as("editor").post(BOOKS, json=second, headers=keyed())

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert response.get_json()["isbn"] == second["isbn"]
    assert books_stored() == 2


def test_create_refused_with_a_key_leaves_the_key_unused(editor):
    invalid = {**BookPayload(), "isbn": "not an isbn"}
    assert editor.post(BOOKS, json=invalid, headers=keyed()).status_code == 422

    response = editor.post(BOOKS, json=BookPayload(), headers=keyed())

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


@pytest.mark.parametrize("header", [
    [("Idempotency-Key", "")],
    [("Idempotency-Key", "k" * 256)],
    [("Idempotency-Key", "clé")],
    [("Idempotency-Key", "tab\there")],
    [("Idempotency-Key", "delete\x7f")],
    [("Idempotency-Key", "one,two")],
    [("Idempotency-Key", "one"), ("Idempotency-Key", "two")],
], ids=["empty", "too-long", "not-ascii", "control", "delete", "comma", "twice"])
def test_create_with_a_malformed_key_returns_400_and_stores_nothing(editor, header):
    response = editor.post(BOOKS, json=BookPayload(), headers=header)

    assert response.status_code == 400
    assert response.get_json()["detail"] == (
        "Idempotency-Key must be one value of 1 to 255 printable ASCII characters, without a comma."
    )
    assert books_stored() == 0


def test_create_with_a_key_of_255_printable_characters_but_commas_is_accepted(editor):
    printable = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) != ",") + " "
    key = (printable * 3)[:255]

    response = editor.post(BOOKS, json=BookPayload(), headers=keyed(key))

    assert response.status_code == 201


def test_create_with_a_key_while_its_first_request_runs_returns_409(app):
    user, payload = UserFactory(role="editor"), BookPayload()
    with db.engine.connect() as holder, ThreadPoolExecutor(1) as threads:
        # Inserts wait for this lock: the first request holds its key while it waits inside its transaction.
        holder.execute(text("LOCK TABLE books IN SHARE MODE"))
        first = threads.submit(sign_in(app.test_client(), user).post, BOOKS, json=payload, headers=keyed())
        wait_until(WAITING_ON_BACKEND, pid=backend_pid(holder))

        second = sign_in(app.test_client(), user).post(BOOKS, json=payload, headers=keyed())
        holder.rollback()

        assert second.status_code == 409
        assert second.get_json()["detail"] == (
            "A request with this Idempotency-Key is still being processed; retry once it has finished."
        )
        assert first.result(timeout=30).status_code == 201
    assert books_stored() == 1


def test_key_is_kept_for_the_configured_time(editor, app):
    editor.post(BOOKS, json=BookPayload(), headers=keyed())

    stored = db.session.scalars(select(IdempotencyKey)).one()

    assert stored.expires_at - stored.created_at == timedelta(seconds=app.config["IDEMPOTENCY_KEY_TTL"])


def expire_keys():
    db.session.execute(update(IdempotencyKey).values(expires_at=func.now() - timedelta(seconds=1)))
    db.session.commit()


def test_expired_key_is_not_replayed(editor):
    payload = BookPayload()
    editor.post(BOOKS, json=payload, headers=keyed())
    expire_keys()

    response = editor.post(BOOKS, json=payload, headers=keyed())

    assert response.status_code == 400
    assert response.get_json()["detail"] == f"Book with ISBN {payload['isbn']} already exists"


def test_expired_key_sent_with_a_new_request_is_kept_for_it(editor):
    editor.post(BOOKS, json=BookPayload(), headers=keyed())
    expire_keys()
    payload = BookPayload()
    editor.post(BOOKS, json=payload, headers=keyed())

    again = editor.post(BOOKS, json=payload, headers=keyed())

    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"


def test_purge_deletes_expired_keys_only(editor, client_as, runner):
    editor.post(BOOKS, json=BookPayload(), headers=keyed())
    expire_keys()
    client_as("editor").post(BOOKS, json=BookPayload(), headers=keyed())

    result = runner.invoke(args=["purge"])

    assert result.exit_code == 0, result.output
    assert "1 expired idempotency keys" in result.output
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1


def test_write_whose_commit_answer_is_lost_returns_503(proxied_client, proxy):
    proxy.lose_answer_to(COMMIT)

    response = proxied_client.post(BOOKS, json=BookPayload(), headers=keyed())

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_retry_of_a_write_whose_commit_answer_was_lost_replays_it(proxied_client, proxy):
    payload = BookPayload()
    proxy.lose_answer_to(COMMIT)
    assert proxied_client.post(BOOKS, json=payload, headers=keyed()).status_code == 503

    retry = proxied_client.post(BOOKS, json=payload, headers=keyed())

    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json()["isbn"] == payload["isbn"]
    assert books_stored() == 1


def test_retry_of_a_write_that_never_committed_runs_it(proxied_client, proxy):
    payload = BookPayload()
    # The connection dies once the book is inserted, so its transaction ends without a COMMIT.
    proxy.lose_answer_to(b"INSERT INTO books")
    assert proxied_client.post(BOOKS, json=payload, headers=keyed()).status_code == 503

    retry = proxied_client.post(BOOKS, json=payload, headers=keyed())

    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert books_stored() == 1


@pytest.fixture
def odd_client(admin):
    """An admin's client of an app with two odd idempotent routes: one answers 409 without raising, the other
    commits by itself."""
    app = create_app(make_config())

    def declined():
        return {"declined": True}, 409

    def self_committing():
        db.session.commit()
        return {"committed": True}, 201

    for view in (declined, self_committing):
        app.add_url_rule(f"/{view.__name__}", view.__name__, login_required(idempotent(view)), methods=["POST"])
    yield sign_in(app.test_client(), admin)
    with app.app_context():
        db.engine.dispose()
        app.extensions[reads.EXTENSION].dispose()


def test_answer_other_than_a_success_is_not_kept(odd_client):
    odd_client.post("/declined", headers=keyed())

    again = odd_client.post("/declined", headers=keyed())

    assert again.status_code == 409
    assert "Idempotent-Replayed" not in again.headers


def test_idempotent_view_that_commits_by_itself_fails_loudly(odd_client):
    # Its write would be stored without the key's record, so that a retry could store it twice.
    assert odd_client.post("/self_committing", headers=keyed()).status_code == 500


def test_idempotent_routes_need_a_signed_in_caller(app):
    # Keys are scoped to the caller: an anonymous one has no account to keep them under.
    idempotent = [view for view in app.view_functions.values() if is_idempotent(view)]

    assert idempotent
    assert all(access_of(view).login for view in idempotent)


def test_key_ttl_below_one_second_is_refused():
    with pytest.raises(RuntimeError, match="IDEMPOTENCY_KEY_TTL"):
        make_config(IDEMPOTENCY_KEY_TTL=0).check()

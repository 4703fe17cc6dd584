"""Registration, login and the caller's own account, through HTTP on real PostgreSQL."""
import logging
import statistics
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from bookapi.accounts.models import User
from bookapi.accounts.passwords import hasher
from bookapi.extensions import db
from tests.accounts import NEW_PASSWORD, at_once, authorization, login, me, refresh, tokens_of
from tests.factories import PASSWORD, UserFactory

REGISTER = "/api/v1/auth/register"
ME = "/api/v1/auth/me"
ACCOUNT_FIELDS = {"id", "email", "role", "is_active", "display_name", "created_at"}


def register(client, email="new.reader@example.com", password=NEW_PASSWORD, **fields):
    return client.post(REGISTER, json={"email": email, "password": password, **fields})


def accounts():
    return db.session.scalar(select(func.count()).select_from(User))


def test_register_returns_the_account_and_no_secret(anonymous):
    response = register(anonymous)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == ACCOUNT_FIELDS
    assert body["email"] == "new.reader@example.com"
    assert (body["role"], body["is_active"]) == ("user", True)
    assert response.headers["Location"] == f"/api/v1/users/{body['id']}"


def test_register_trims_and_lowercases_the_email(anonymous):
    response = register(anonymous, email="  New.Reader@Example.COM ")

    assert response.status_code == 201
    assert response.get_json()["email"] == "new.reader@example.com"


@pytest.mark.parametrize("spelling", ["taken@example.com", "Taken@Example.com", " TAKEN@EXAMPLE.COM"])
def test_register_taken_email_in_any_case_is_400(anonymous, spelling):
    UserFactory(email="taken@example.com")

    response = register(anonymous, email=spelling)

    assert response.status_code == 400
    assert response.get_json()["detail"] == "User with email taken@example.com already exists"
    assert accounts() == 1


def test_register_race_for_one_email_gives_one_201_and_one_400(app):
    clients = {"race@example.com": app.test_client(), "RACE@example.com": app.test_client()}

    answers = at_once(*(lambda email=email, client=client: register(client, email=email)
                        for email, client in clients.items()))

    assert sorted(answer.status_code for answer in answers) == [201, 400]
    assert accounts() == 1


@pytest.mark.parametrize("email", ["", "no-at-sign", "two@@example.com", "a@b", "spaces in@example.com",
                                   "nul\u0000@example.com", 42, None, f"{'a' * 250}@example.com"])
def test_register_bad_email_is_422_naming_email(anonymous, email):
    response = register(anonymous, email=email)

    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"email"}
    assert accounts() == 0


@pytest.mark.parametrize("password", [
    "eleven char",  # 11 characters
    "x" * 129,
    "password1234",
    "qwertyuiopasdf",
    "aaaaaaaaaaaaaaaa",
    "new.reader is me 7",  # contains the email's local part
    "my NEW.READER pass",
    None,
    12345678901234,
])
def test_register_password_against_the_policy_is_422_naming_password(anonymous, password):
    response = register(anonymous, password=password)

    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"password"}
    assert accounts() == 0


@pytest.mark.parametrize("password", ["tulip 9 oxen", ("quiet lantern orchard 2041 " * 5)[:128]], ids=len)
def test_register_password_of_12_to_128_characters_without_composition_rules_is_accepted(anonymous, password):
    assert register(anonymous, password=password).status_code == 201


def test_register_then_login_with_the_password_sent(anonymous):
    register(anonymous, email="New.Reader@example.com")

    assert login(anonymous, "new.reader@example.com", NEW_PASSWORD).status_code == 200


def test_login_returns_a_bearer_token_pair(anonymous):
    user = UserFactory()

    response = login(anonymous, user.email)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", 900)
    assert me(anonymous, body["access_token"]).get_json()["id"] == user.id


def test_login_accepts_the_email_in_any_case_and_spacing(anonymous):
    user = UserFactory(email="reader@example.com")

    response = login(anonymous, "  Reader@EXAMPLE.com ")

    assert response.status_code == 200
    assert me(anonymous, response.get_json()["access_token"]).get_json()["id"] == user.id


@pytest.mark.parametrize("email, password", [
    ("reader@example.com", "not the password at all"),
    ("nobody@example.com", PASSWORD),
    ("nobody", PASSWORD),
])
def test_login_wrong_password_or_unknown_email_is_401_with_a_bearer_challenge(anonymous, email, password):
    UserFactory(email="reader@example.com")

    response = login(anonymous, email, password)

    assert response.status_code == 401
    assert response.get_json()["detail"] == "Incorrect email or password"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("body, field", [
    ({"email": "reader\u0000@example.com", "password": PASSWORD}, "email"),
    ({"email": "reader@example.com"}, "password"),
    ({"password": PASSWORD}, "email"),
    ({"email": ["reader@example.com"], "password": PASSWORD}, "email"),
    ({"email": "reader@example.com", "password": "x" * 513}, "password"),
])
def test_login_malformed_credentials_are_422_naming_the_field(anonymous, body, field):
    UserFactory(email="reader@example.com")

    response = anonymous.post("/api/v1/auth/login", json=body)

    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {field}


def test_login_inactive_account_is_403(anonymous):
    user = UserFactory(is_active=False)

    response = login(anonymous, user.email)

    assert response.status_code == 403
    assert response.get_json()["detail"] == "User account is inactive"


def test_login_inactive_account_with_a_wrong_password_is_401(anonymous):
    user = UserFactory(is_active=False)

    assert login(anonymous, user.email, "not the password at all").status_code == 401


def test_login_rehashes_a_password_hashed_with_older_parameters(anonymous):
    user = UserFactory(password_hash=PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash(PASSWORD))

    assert login(anonymous, user.email).status_code == 200

    db.session.refresh(user)
    assert not hasher.check_needs_rehash(user.password_hash)
    assert hasher.verify(user.password_hash, PASSWORD)


def test_login_takes_as_long_for_an_unknown_email_as_for_a_known_one(anonymous):
    """A wrong password and an unknown email cost one argon2 verification each, so their timing tells nothing."""
    user = UserFactory()
    emails = {"known": user.email, "unknown": "nobody@example.com"}
    timings = {"known": [], "unknown": []}
    for _ in range(3):  # warm-up: connections, caches, the hash that unknown emails are checked against
        for email in emails.values():
            login(anonymous, email, "not the password at all")
    for _ in range(30):
        for kind, email in emails.items():  # interleaved, so a slow spell of the machine hits both alike
            # CPU time of this process, which serves the request in the test client: the work an attacker would
            # time, without the waits a busy machine adds to wall-clock time at random.
            started = time.process_time()
            assert login(anonymous, email, "not the password at all").status_code == 401
            timings[kind].append(time.process_time() - started)

    known, unknown = statistics.median(timings["known"]), statistics.median(timings["unknown"])
    assert max(known, unknown) / min(known, unknown) <= 1.25, (known, unknown)


def test_get_me_returns_the_callers_account(client, admin):
    response = client.get(ME)

    assert response.status_code == 200
    assert set(response.get_json()) == ACCOUNT_FIELDS
    assert response.get_json()["id"] == admin.id


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_me_changes_the_display_name_without_a_password(client, method):
    response = getattr(client, method)(ME, json={"display_name": "  Ada  "})

    assert response.status_code == 200
    assert response.get_json()["display_name"] == "Ada"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_me_null_clears_the_display_name(client, method):
    response = getattr(client, method)(ME, json={"display_name": None})

    assert response.status_code == 200
    assert response.get_json()["display_name"] is None


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("field, value", [("email", "moved@example.com"), ("password", NEW_PASSWORD)])
def test_update_me_email_or_password_without_the_current_password_is_400(client, admin, method, field, value):
    response = getattr(client, method)(ME, json={field: value})

    assert response.status_code == 400
    assert response.get_json()["detail"] == f"Current password required to change {field}"
    assert login(client, admin.email).status_code == 200


@pytest.mark.parametrize("field, value", [("email", "moved@example.com"), ("password", NEW_PASSWORD)])
def test_update_me_with_a_wrong_current_password_is_400(client, admin, field, value):
    response = client.put(ME, json={field: value, "current_password": "not the password at all"})

    assert response.status_code == 400
    assert response.get_json()["detail"] == "Current password is incorrect"
    assert login(client, admin.email).status_code == 200


def test_update_me_to_an_email_in_use_is_400(client, admin):
    UserFactory(email="taken@example.com")

    response = client.put(ME, json={"email": "Taken@Example.com", "current_password": PASSWORD})

    assert response.status_code == 400
    assert response.get_json()["detail"] == "Email taken@example.com already in use"
    assert client.get(ME).get_json()["email"] == admin.email


def test_update_me_changes_the_email_with_the_current_password(client, anonymous):
    response = client.patch(ME, json={"email": " Moved@Example.com", "current_password": PASSWORD})

    assert response.status_code == 200
    assert response.get_json()["email"] == "moved@example.com"
    assert login(anonymous, "moved@example.com").status_code == 200


def test_update_me_changes_the_password_with_the_current_one(client, admin, anonymous):
    response = client.put(ME, json={"password": NEW_PASSWORD, "current_password": PASSWORD})

    assert response.status_code == 200
    assert login(anonymous, admin.email, PASSWORD).status_code == 401
    assert login(anonymous, admin.email, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize("password", ["short one", "password1234", "reader0 and more words"])
def test_update_me_to_a_password_against_the_policy_is_422(app, anonymous, password):
    user = UserFactory(email="reader0@example.com")
    access_token = tokens_of(anonymous, user)["access_token"]

    response = anonymous.put(ME, json={"password": password, "current_password": PASSWORD},
                             headers=authorization(access_token))

    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"password"}
    assert login(anonymous, user.email).status_code == 200


def test_auth_flow_logs_no_password_token_or_authorization_header(anonymous, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    wrong_password = "a wrong guess of a password"

    register(anonymous, email="logged@example.com")
    pair = login(anonymous, "logged@example.com", NEW_PASSWORD).get_json()
    renewed = refresh(anonymous, pair["refresh_token"]).get_json()
    me(anonymous, renewed["access_token"])
    anonymous.post("/api/v1/auth/logout", headers=authorization(renewed["access_token"]))
    login(anonymous, "logged@example.com", wrong_password)

    logged = "\n".join(f"{record.getMessage()} {record.args!r} {record.exc_text}" for record in caplog.records)
    issued = [tokens[kind] for tokens in (pair, renewed) for kind in ("access_token", "refresh_token")]
    secrets = [NEW_PASSWORD, wrong_password, *issued]
    assert "logged@example.com" in logged  # the capture saw the requests' SQL
    assert [secret for secret in secrets if secret in logged] == []
    assert "Bearer " not in logged and "Authorization" not in logged

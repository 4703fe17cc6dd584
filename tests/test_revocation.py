"""Signing out, and tokens that die with a password change or a deactivation, races with them included."""
import threading
import time

import pytest
from sqlalchemy import text

from bookapi.accounts import service
from bookapi.extensions import db
from tests.accounts import NEW_PASSWORD, assert_refused, authorization, login, me, refresh, tokens_of
from tests.factories import PASSWORD, UserFactory


def change_password(client, access_token):
    return client.put("/api/v1/auth/me", json={"password": NEW_PASSWORD, "current_password": PASSWORD},
                      headers=authorization(access_token))


def deactivate(client, user):
    admin_token = tokens_of(client, UserFactory(role="admin"))["access_token"]
    return client.patch(f"/api/v1/users/{user.id}", json={"is_active": False}, headers=authorization(admin_token))


def test_logout_revokes_the_access_token_and_its_sign_in_refresh_tokens(anonymous):
    user = UserFactory()
    pair, other_sign_in = tokens_of(anonymous, user), tokens_of(anonymous, user)

    response = anonymous.post("/api/v1/auth/logout", headers=authorization(pair["access_token"]))

    assert response.status_code == 200
    assert response.get_json() == {"message": "Successfully logged out"}
    assert_refused(me(anonymous, pair["access_token"]))
    assert_refused(refresh(anonymous, pair["refresh_token"]))
    assert me(anonymous, other_sign_in["access_token"]).status_code == 200
    assert refresh(anonymous, other_sign_in["refresh_token"]).status_code == 200


def test_logout_without_a_token_is_401(anonymous):
    assert anonymous.post("/api/v1/auth/logout").status_code == 401


@pytest.mark.parametrize("change", [change_password, deactivate])
def test_tokens_issued_before_a_password_change_or_deactivation_are_refused(anonymous, change):
    user = UserFactory()
    sign_ins = [tokens_of(anonymous, user), tokens_of(anonymous, user)]
    renewed = refresh(anonymous, sign_ins[1]["refresh_token"]).get_json()

    subject = sign_ins[0]["access_token"] if change is change_password else user
    assert change(anonymous, subject).status_code == 200

    for pair in [*sign_ins, renewed]:
        assert_refused(me(anonymous, pair["access_token"]))
        assert_refused(refresh(anonymous, pair["refresh_token"]))


def test_new_password_signs_in_again_after_a_change(anonymous):
    user = UserFactory()
    change_password(anonymous, tokens_of(anonymous, user)["access_token"])

    assert me(anonymous, tokens_of(anonymous, user, NEW_PASSWORD)["access_token"]).status_code == 200


def in_background(call):
    """Start ``call`` (a request) in a thread; ``finish`` returns its answer."""
    answer = []
    thread = threading.Thread(target=lambda: answer.append(call()))
    thread.start()
    return thread, answer


def finish(started):
    thread, answer = started
    thread.join(30)
    return answer[0]


def wait_for_lock_waits(count):
    """Return once ``count`` sessions of this database wait for a lock: the requests queued where the test wants."""
    deadline = time.monotonic() + 30
    query = text("SELECT count(*) FROM pg_stat_activity"
                 " WHERE datname = current_database() AND wait_event_type = 'Lock'")
    while db.session.scalar(query) < count:
        db.session.rollback()  # statistics views keep one snapshot per transaction
        assert time.monotonic() < deadline, "the requests never queued"
        time.sleep(0.02)
    db.session.rollback()


def test_refresh_racing_a_password_change_issues_no_token_that_outlives_it(app, anonymous):
    pair = tokens_of(anonymous, UserFactory())
    with db.engine.connect() as blocker:
        # The refresh token's row held, so that the refresh queues for it first and the password change second.
        blocker.execute(text("SELECT 1 FROM refresh_tokens FOR UPDATE"))
        refreshing = in_background(lambda: refresh(app.test_client(), pair["refresh_token"]))
        wait_for_lock_waits(1)
        changing = in_background(lambda: change_password(app.test_client(), pair["access_token"]))
        wait_for_lock_waits(2)
        blocker.rollback()
    renewed, changed = finish(refreshing), finish(changing)

    assert (renewed.status_code, changed.status_code) == (200, 200)
    assert_refused(refresh(anonymous, renewed.get_json()["refresh_token"]))
    assert_refused(me(anonymous, renewed.get_json()["access_token"]))


def test_login_that_checked_a_password_changed_meanwhile_is_refused(app, anonymous, monkeypatch):
    user = UserFactory()
    access_token = tokens_of(anonymous, user)["access_token"]
    verified, resume, first_call = threading.Event(), threading.Event(), iter([True])
    verify_password = service.verify_password

    def verify_then_wait(password_hash, password):
        """The real check; the first one (the login's) then waits while the password changes."""
        correct = verify_password(password_hash, password)
        if next(first_call, False):
            verified.set()
            resume.wait(30)
        return correct

    monkeypatch.setattr(service, "verify_password", verify_then_wait)
    logging_in = in_background(lambda: login(app.test_client(), user.email))
    assert verified.wait(30)
    assert change_password(anonymous, access_token).status_code == 200
    resume.set()

    assert finish(logging_in).status_code == 401

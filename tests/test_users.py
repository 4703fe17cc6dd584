"""The admins' routes, the last-admin rule (races included) and the ``flask users`` commands."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from bookapi.accounts.models import RefreshToken, RevokedAccessToken, User
from bookapi.extensions import db
from tests.accounts import NEW_PASSWORD, at_once, authorization, login, me, refresh, tokens_of
from tests.conftest import sign_in
from tests.factories import PASSWORD, UserFactory

LAST_ADMIN = "Cannot demote the last admin user. Promote another user to admin first."


def account(user_id):
    return db.session.execute(select(User.role, User.is_active).where(User.id == user_id)).one()


def active_admins():
    return db.session.scalars(select(User.id).where(User.role == "admin", User.is_active).order_by(User.id)).all()


def test_get_user_returns_the_account(client):
    user = UserFactory(display_name="Ada")

    response = client.get(f"/api/v1/users/{user.id}")

    assert response.status_code == 200
    assert response.get_json() == {**response.get_json(), "id": user.id, "email": user.email, "display_name": "Ada"}
    assert "password_hash" not in response.get_json()


@pytest.mark.parametrize("user_id", [0, 424242, 2**63, 10**30])
def test_get_missing_user_is_404(client, user_id):
    response = client.get(f"/api/v1/users/{user_id}")

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"User with ID {user_id} not found"


@pytest.mark.parametrize("role", ["user", "editor", "admin"])
def test_set_role_gives_the_account_that_role(client, role):
    user = UserFactory(role="editor")

    response = client.patch(f"/api/v1/users/{user.id}/role", json={"role": role})

    assert response.status_code == 200
    assert response.get_json()["role"] == role
    assert account(user.id).role == role


@pytest.mark.parametrize("body", [{}, {"role": "superuser"}, {"role": "Admin"}, {"role": None}, {"role": 2}])
def test_set_role_to_something_else_than_a_role_is_422(client, body):
    user = UserFactory()

    response = client.patch(f"/api/v1/users/{user.id}/role", json=body)

    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"role"}
    assert account(user.id).role == "user"


def test_set_role_of_a_missing_user_is_404(client):
    assert client.patch("/api/v1/users/424242/role", json={"role": "editor"}).status_code == 404


def test_patch_user_changes_display_name_and_activation(client):
    user = UserFactory()

    response = client.patch(f"/api/v1/users/{user.id}", json={"display_name": "Renamed", "is_active": False})

    assert response.status_code == 200
    assert (response.get_json()["display_name"], response.get_json()["is_active"]) == ("Renamed", False)


@pytest.mark.parametrize("body", [{"is_active": "false"}, {"is_active": 0}, {"is_active": None},
                                  {"display_name": ""}, {"display_name": "x" * 101}])
def test_patch_user_with_invalid_values_is_422(client, body):
    user = UserFactory()

    response = client.patch(f"/api/v1/users/{user.id}", json=body)

    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == set(body)
    assert account(user.id).is_active is True


def test_reactivated_account_signs_in_again(client, anonymous):
    user = UserFactory()
    client.patch(f"/api/v1/users/{user.id}", json={"is_active": False})

    client.patch(f"/api/v1/users/{user.id}", json={"is_active": True})

    assert me(anonymous, tokens_of(anonymous, user)["access_token"]).status_code == 200


@pytest.mark.parametrize("path, body", [("/role", {"role": "editor"}), ("/role", {"role": "user"}),
                                        ("", {"is_active": False})])
def test_demoting_or_deactivating_the_last_active_admin_is_400(client, admin, path, body):
    UserFactory(role="admin", is_active=False)

    response = client.patch(f"/api/v1/users/{admin.id}{path}", json=body)

    assert response.status_code == 400
    assert response.get_json()["detail"] == LAST_ADMIN
    assert account(admin.id) == ("admin", True)


@pytest.mark.parametrize("path, body", [("/role", {"role": "user"}), ("", {"is_active": False})])
def test_demoting_or_deactivating_an_admin_while_another_remains_is_allowed(client, admin, path, body):
    other = UserFactory(role="admin")

    assert client.patch(f"/api/v1/users/{other.id}{path}", json=body).status_code == 200
    assert active_admins() == [admin.id]


def test_last_admin_may_rename_themselves(client, admin):
    response = client.patch(f"/api/v1/users/{admin.id}", json={"display_name": "Root", "is_active": True})

    assert response.status_code == 200
    assert response.get_json()["display_name"] == "Root"


@pytest.mark.parametrize("path, body", [("/role", {"role": "user"}), ("", {"is_active": False})])
def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, path, body):
    for _ in range(4):  # two requests do not overlap every time; four rounds make an overlap all but certain
        first, second = UserFactory(role="admin"), UserFactory(role="admin")
        demotions = [(sign_in(app.test_client(), caller), f"/api/v1/users/{target.id}{path}")
                     for caller, target in ((first, second), (second, first))]

        answers = at_once(*(lambda client=client, url=url: client.patch(url, json=body) for client, url in demotions))

        # Overlapping, the second finds the other the last admin (400); one after the other, its caller is no
        # longer an admin (403). Either way one admin is left.
        assert sorted(answer.status_code for answer in answers) in ([200, 400], [200, 403])
        assert len(active_admins()) == 1
        db.session.execute(User.__table__.delete())
        db.session.commit()


def test_cli_create_admin_reads_the_password_from_stdin(runner, anonymous):
    result = runner.invoke(args=["users", "create-admin", " Root@Example.com", "--password-stdin"],
                           input=NEW_PASSWORD + "\n")

    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    user = db.session.scalars(select(User).where(User.email == "root@example.com")).one()
    assert user.role == "admin"
    assert login(anonymous, "root@example.com", NEW_PASSWORD).status_code == 200


def test_cli_create_admin_prompts_for_the_password_twice_without_echo(runner, anonymous):
    result = runner.invoke(args=["users", "create-admin", "root@example.com"],
                           input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert login(anonymous, "root@example.com", NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize("args", [["root@example.com", NEW_PASSWORD], ["root@example.com", "--password", NEW_PASSWORD]])
def test_cli_create_admin_takes_no_password_argument(runner, args):
    result = runner.invoke(args=["users", "create-admin", *args], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")

    assert result.exit_code == 2
    assert db.session.scalar(select(User.id)) is None


@pytest.mark.parametrize("password", ["short", "password1234", "root and more words"])
def test_cli_create_admin_with_a_password_against_the_policy_fails(runner, password):
    result = runner.invoke(args=["users", "create-admin", "root@example.com", "--password-stdin"],
                           input=password + "\n")

    assert result.exit_code == 1
    assert "password:" in result.output and password not in result.output
    assert db.session.scalar(select(User.id)) is None


def test_cli_create_admin_promotes_an_existing_account_and_keeps_its_password(runner, anonymous):
    user = UserFactory(email="reader@example.com", role="user")

    result = runner.invoke(args=["users", "create-admin", "Reader@example.com"])

    assert result.exit_code == 0, result.output
    assert account(user.id).role == "admin"
    assert login(anonymous, "reader@example.com", PASSWORD).status_code == 200


def test_cli_create_admin_reactivates_an_inactive_account(runner, anonymous):
    user = UserFactory(email="reader@example.com", role="user", is_active=False)

    result = runner.invoke(args=["users", "create-admin", "reader@example.com"])

    assert result.exit_code == 0, result.output
    assert (account(user.id).role, account(user.id).is_active) == ("admin", True)
    assert login(anonymous, "reader@example.com", PASSWORD).status_code == 200


def test_cli_set_role_changes_the_role(runner):
    user = UserFactory(email="reader@example.com")

    result = runner.invoke(args=["users", "set-role", "reader@example.com", "editor"])

    assert result.exit_code == 0, result.output
    assert account(user.id).role == "editor"


@pytest.mark.parametrize("args", [["nobody@example.com", "editor"], ["reader@example.com", "owner"]])
def test_cli_set_role_of_an_unknown_email_or_role_fails(runner, args):
    UserFactory(email="reader@example.com")

    result = runner.invoke(args=["users", "set-role", *args])

    assert result.exit_code != 0
    assert account(db.session.scalar(select(User.id))).role == "user"


def test_cli_set_role_refuses_to_demote_the_last_admin(runner, admin):
    result = runner.invoke(args=["users", "set-role", admin.email, "user"])

    assert result.exit_code == 1
    assert LAST_ADMIN in result.output
    assert account(admin.id).role == "admin"


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_cli_purge_tokens_deletes_only_expired_tokens_and_sign_outs(anonymous, runner):
    user = UserFactory()
    for _ in range(3):
        anonymous.post("/api/v1/auth/logout", headers=authorization(tokens_of(anonymous, user)["access_token"]))
    live = tokens_of(anonymous, user)
    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    expired = db.session.scalars(select(RefreshToken.id).order_by(RefreshToken.id).limit(2)).all()
    db.session.execute(update(RefreshToken).where(RefreshToken.id.in_(expired)).values(expires_at=yesterday))
    db.session.execute(update(RevokedAccessToken).values(expires_at=yesterday))
    db.session.commit()

    result = runner.invoke(args=["users", "purge-tokens"])

    assert result.exit_code == 0, result.output
    assert result.output == "Purged 2 expired refresh tokens and 3 expired sign-out records.\n"
    assert (count(RefreshToken), count(RevokedAccessToken)) == (2, 0)
    assert refresh(anonymous, live["refresh_token"]).status_code == 200


def test_admin_routes_refuse_a_deactivated_admin_at_once(app, client, admin):
    other = UserFactory(role="admin")
    other_client = sign_in(app.test_client(), other)

    assert client.patch(f"/api/v1/users/{other.id}", json={"is_active": False}).status_code == 200

    assert other_client.get(f"/api/v1/users/{admin.id}").status_code == 401
    assert login(other_client, other.email).status_code == 403

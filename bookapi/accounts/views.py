from flask import g, url_for

from bookapi.access import login_required, public
from bookapi.accounts import bp, service, tokens
from bookapi.accounts.schemas import (
    account_update_schema,
    login_schema,
    refresh_schema,
    register_schema,
    token_schema,
    user_schema,
)
from bookapi.extensions import db
from bookapi.limits import rate_limited
from bookapi.openapi import operation
from bookapi.payloads import PATCH_TYPES, json_object
from bookapi.resources import message_schema


@bp.post("/register")
@public
@rate_limited("register")
@operation(body=register_schema, response=user_schema, status=201)
def register():
    """Open an account (role `user`)."""
    user = service.register(**register_schema.load(json_object()))
    return user_schema.dump(user), 201, {"Location": url_for("users.get_user", user_id=user.id)}


@bp.post("/login")
@public
@rate_limited("login", "login-account")
@operation(body=login_schema, response=token_schema, errors={401, 403})
def login():
    """Sign in with email and password: an access token and a refresh token."""
    credentials = login_schema.load(json_object())
    return token_schema.dump(service.login(credentials["email"], credentials["password"]))


@bp.post("/refresh")
@public
@rate_limited("refresh")
@operation(body=refresh_schema, response=token_schema, errors={401})
def refresh():
    """Trade a refresh token, once, for a new pair."""
    pair = tokens.rotate(refresh_schema.load(json_object())["refresh_token"])
    db.session.commit()
    return token_schema.dump(pair)


@bp.post("/logout")
@login_required
@operation(response=message_schema)
def logout():
    """Sign out: this access token and its sign-in's refresh tokens stop working."""
    tokens.sign_out(g.token_claims)
    db.session.commit()
    return message_schema.dump({"message": "Successfully logged out"})


@bp.get("/me")
@login_required
@operation(response=user_schema)
def get_me():
    """Your account."""
    return user_schema.dump(g.user)


@bp.put("/me")
@login_required
@operation(body=account_update_schema, response=user_schema)
def update_me():
    """Change your email, password or display name (email and password need `current_password`)."""
    return user_schema.dump(service.update_account(g.user, account_update_schema.load(json_object())))


@bp.patch("/me")
@login_required
@operation(body=account_update_schema, response=user_schema, media_types=PATCH_TYPES)
def patch_me():
    """Merge-patch your account: as PUT, and `null` clears the display name."""
    return user_schema.dump(service.update_account(g.user, account_update_schema.load(json_object(PATCH_TYPES))))

"""Account changes that span a user, their tokens and the last-admin rule."""
from flask import abort
from sqlalchemy import select

from bookapi.accounts import tokens
from bookapi.accounts.models import User
from bookapi.accounts.passwords import check_password, dummy_hash, hash_password, needs_rehash, verify_password
from bookapi.errors import duplicate_as
from bookapi.extensions import db

EMAIL_CONSTRAINT = "uq_users_email"
LAST_ADMIN = "Cannot demote the last admin user. Promote another user to admin first."


def user_by_email(email):
    return db.session.scalars(select(User).where(User.email == email)).first()


def register(email, password, display_name=None, role="user"):
    user = User(email=email, password_hash=hash_password(password), display_name=display_name, role=role)
    db.session.add(user)
    with duplicate_as(EMAIL_CONSTRAINT, f"User with email {email} already exists"):
        db.session.commit()
    return user


def login(email, password):
    """A new token pair for the account; the same work is done whether the email is known or not."""
    user = user_by_email(email.strip().lower())
    if user is None:
        verify_password(dummy_hash(), password)
        tokens.Credentials.incorrect()
    if not verify_password(user.password_hash, password):
        tokens.Credentials.incorrect()
    checked_version = user.token_version
    user = tokens.lock_account(user.id)
    # The password or the account changed while it was being checked: the tokens would outlive that change.
    if user is None or user.token_version != checked_version:
        tokens.Credentials.incorrect()
    if not user.is_active:
        abort(403, "User account is inactive")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    pair = tokens.token_pair(user)
    db.session.commit()
    return pair


def update_account(user, changes):
    """Change the caller's own email, password or display name; email and password need the current password."""
    current_password = changes.pop("current_password", None)
    for field in ("email", "password"):
        if field in changes and current_password is None:
            abort(400, f"Current password required to change {field}")
    if current_password is not None and not verify_password(user.password_hash, current_password):
        abort(400, "Current password is incorrect")
    if "password" in changes:
        check_password(changes["password"], changes.get("email", user.email))
        user.password_hash = hash_password(changes.pop("password"))
        tokens.revoke_all(user)
    for field, value in changes.items():
        setattr(user, field, value)
    with duplicate_as(EMAIL_CONSTRAINT, f"Email {changes.get('email')} already in use"):
        db.session.commit()
    return user


def lock_admins():
    """Lock the active admins' rows, in id order, and return their ids.

    Every role or activation change takes these locks first, so two admins demoting each other wait for one
    another (and see each other's change) instead of both passing the check.
    """
    return db.session.scalars(
        select(User.id).where(User.role == "admin", User.is_active).order_by(User.id).with_for_update()
    ).all()


def get_user_or_404(user_id, for_update=False):
    user = db.session.get(User, user_id, with_for_update=for_update) if 0 < user_id < 2**63 else None
    if user is None:
        abort(404, f"User with ID {user_id} not found")
    return user


def change_user(user_id, role=None, **changes):
    """An admin's change of an account: its role, whether it is active, its display name."""
    admins = lock_admins()
    user = get_user_or_404(user_id, for_update=True)
    demoted = role is not None and role != "admin"
    deactivated = changes.get("is_active") is False
    if user.id in admins and admins == [user.id] and (demoted or deactivated):
        abort(400, LAST_ADMIN)
    if deactivated and user.is_active:
        tokens.revoke_all(user)
    if role is not None:
        user.role = role
    for field, value in changes.items():
        setattr(user, field, value)
    db.session.commit()
    return user

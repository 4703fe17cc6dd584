"""``flask users``: the first admin, roles, and the purge of expired tokens."""
import sys
from contextlib import contextmanager

import click
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from bookapi.accounts import service, tokens
from bookapi.accounts.models import ROLES
from bookapi.accounts.schemas import register_schema


@click.group("users")
def users_cli():
    """Manage accounts: make admins, set roles, purge expired tokens."""


def read_password(from_stdin):
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@contextmanager
def refusals_as_errors():
    """What the API would refuse with a 4xx (a taken email, the last admin), said as a command-line error."""
    try:
        yield
    except HTTPException as error:
        raise click.ClickException(error.description) from None
    except ValidationError as error:
        raise click.ClickException(
            "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.messages.items())
        ) from None


def account_or_fail(email):
    user = service.user_by_email(email.strip().lower())
    if user is None:
        raise click.ClickException(f"No account has the email {email}.")
    return user


@users_cli.command("create-admin")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def create_admin(email, password_stdin):
    """Make EMAIL an active admin: promote (and reactivate) its account, or open one (the password is asked for,
    never an argument)."""
    user = service.user_by_email(email.strip().lower())
    if user is not None:
        service.change_user(user.id, role="admin", is_active=True)
        click.echo(f"{user.email} is now an active admin.")
        return
    with refusals_as_errors():
        account = register_schema.load({"email": email, "password": read_password(password_stdin)})
        user = service.register(**account, role="admin")
    click.echo(f"Created the admin account {user.email} (id {user.id}).")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
def set_role(email, role):
    """Give the account of EMAIL another ROLE (the last active admin cannot lose theirs)."""
    user = account_or_fail(email)
    with refusals_as_errors():
        service.change_user(user.id, role=role)
    click.echo(f"{user.email} is now {role}.")


@users_cli.command("purge-tokens")
def purge_tokens():
    """Delete expired refresh tokens and expired sign-out records."""
    refresh, revoked = tokens.purge_expired()
    click.echo(f"Purged {refresh} expired refresh tokens and {revoked} expired sign-out records.")

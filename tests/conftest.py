import os
import uuid

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from hypothesis import settings
from sqlalchemy import text

if not os.environ.get("TEST_DATABASE_URL"):
    pytest.exit("TEST_DATABASE_URL is not set: run the suite with `make test`.", returncode=2)

from bookapi import create_app, reads  # noqa: E402
from bookapi.accounts import tokens  # noqa: E402
from bookapi.config import TestingConfig  # noqa: E402
from bookapi.extensions import db  # noqa: E402
from tests.factories import UserFactory  # noqa: E402
from tests.tcpproxy import TcpProxy  # noqa: E402

# The fuzz test (tests/test_openapi.py) tries the same cases in every run, so that a green run is repeatable;
# `make fuzz` passes --hypothesis-profile=explore for many more cases, fresh each run.
settings.register_profile("repeatable", max_examples=40, derandomize=True, database=None)
settings.register_profile("explore", max_examples=1_000, print_blob=True)
settings.load_profile("repeatable")


def make_config(**overrides):
    """A TestingConfig subclass with some settings changed, for an app of a test's own."""
    return type("OverriddenConfig", (TestingConfig,), overrides)


class RequestScopedClient(FlaskClient):
    """Runs each request in an app context of its own, as a server does, so no session outlives a request."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def bearer(user):
    """An Authorization header with a fresh access token for ``user`` (in an app context)."""
    return {"Authorization": f"Bearer {tokens.access_token(user, uuid.uuid4())}"}


def sign_in(client, user):
    """``client``, sending an access token of ``user`` with every request."""
    with client.application.app_context():
        client.environ_base["HTTP_AUTHORIZATION"] = bearer(user)["Authorization"]
    return client


@pytest.fixture(scope="session")
def app():
    app = create_app(TestingConfig)
    app.test_client_class = RequestScopedClient
    with app.app_context():
        # The schema comes from the migrations, as in production, on a database emptied first.
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
        upgrade()
    return app


@pytest.fixture(autouse=True)
def app_context(app):
    with app.app_context():
        yield
        db.session.rollback()
        db.session.execute(
            text("TRUNCATE books, authors, categories, users, refresh_tokens, revoked_access_tokens, idempotency_keys, "
                 "catalogue_stats RESTART IDENTITY CASCADE")
        )
        db.session.commit()


@pytest.fixture
def admin():
    return UserFactory(role="admin")


@pytest.fixture
def client(app, admin):
    """A client signed in as an admin, who may do anything; `anonymous` and `client_as` for the others."""
    return sign_in(app.test_client(), admin)


@pytest.fixture
def anonymous(app):
    return app.test_client()


@pytest.fixture
def client_as(app):
    """``client_as("editor")``: a client signed in as a new account with that role."""
    return lambda role: sign_in(app.test_client(), UserFactory(role=role))


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def proxy():
    """A TCP proxy in front of the test database, to stage outages (see tests/tcpproxy.py)."""
    proxy = TcpProxy(os.environ["TEST_DATABASE_URL"])
    yield proxy
    proxy.shutdown()


@pytest.fixture
def proxied_client(proxy, admin):
    """An admin's client of an app that reaches the database through ``proxy``."""
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=proxy.url_for(os.environ["TEST_DATABASE_URL"])))
    yield sign_in(app.test_client(), admin)
    with app.app_context():
        db.engine.dispose()
        app.extensions[reads.EXTENSION].dispose()

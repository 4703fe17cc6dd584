import os

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from hypothesis import settings
from sqlalchemy import text

if not os.environ.get("TEST_DATABASE_URL"):
    pytest.exit("TEST_DATABASE_URL is not set: run the suite with `make test`.", returncode=2)

from bookapi import create_app  # noqa: E402
from bookapi.config import TestingConfig  # noqa: E402
from bookapi.extensions import db  # noqa: E402

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
        db.session.execute(text("TRUNCATE books RESTART IDENTITY"))
        db.session.commit()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()

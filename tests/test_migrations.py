"""The migrations own the schema: they match the models and run both ways."""
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from bookapi.extensions import db


def test_models_match_migrations(runner):
    result = runner.invoke(args=["db", "check"])

    assert result.exit_code == 0, result.output


def test_migrations_downgrade_and_upgrade_again():
    downgrade(revision="base")
    assert "books" not in inspect(db.engine).get_table_names()

    upgrade()

    assert "books" in inspect(db.engine).get_table_names()

"""bookapi: a REST service for a book catalogue."""
from pathlib import Path

from bookapi.application import BookApi
from bookapi.config import from_environment, use_generated_secret_key

__version__ = "1.0.0"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config_class=None):
    from bookapi import (
        access,
        accounts,
        authors,
        books,
        categories,
        commands,
        conflicts,
        docs,
        errors,
        favorites,
        health,
        limits,
        logs,
        metrics,
        reads,
        reviews,
        security,
        statement_hooks,
        stats,
        tracing,
        users,
    )
    from bookapi.accounts.cli import users_cli
    from bookapi.extensions import db, migrate
    from bookapi.jsonprovider import OrjsonProvider
    from bookapi.stateless import NoSessions

    config_class = config_class or from_environment()
    config_class.check()
    app = BookApi(__name__)
    app.config.from_object(config_class)
    app.json = OrjsonProvider(app)
    app.session_interface = NoSessions()

    logs.init_app(app)
    use_generated_secret_key(app)
    access.init_app(app)
    db.init_app(app)
    reads.init_app(app)
    statement_hooks.init_app(app)

    with app.app_context():
        metrics.init_app(app, db.engine, app.extensions[reads.EXTENSION])
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    security.init_app(app)

    for resource in (health, books, authors, categories, reviews, favorites, stats, accounts, users):
        resource.init_app(app)
    conflicts.init_app(app)
    errors.register_error_handlers(app)
    app.cli.add_command(commands.seed_command)
    app.cli.add_command(commands.purge_command)
    app.cli.add_command(commands.books_cli)
    app.cli.add_command(users_cli)
    docs.init_app(app)
    limits.init_app(app)
    tracing.init_app(app)
    return app

"""Alembic environment for Flask-Migrate: the app's engine and metadata drive every migration."""
import logging
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import text

config = context.config
# Keep the app's loggers alive when migrations run inside it (the test suite does).
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")
# The advisory lock that `flask db upgrade` holds while it migrates: any constant that no other code locks on.
MIGRATION_LOCK = 0x626F6F6B617069  # "bookapi"

target_db = current_app.extensions["migrate"].db
config.set_main_option("sqlalchemy.url", target_db.engine.url.render_as_string(hide_password=False).replace("%", "%%"))


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_db.metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def skip_empty_autogenerate(context, revision, directives):
    """Write no revision file when autogenerate finds nothing to change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


@contextmanager
def migration_lock(connection):
    """Hold the migration lock for the block: two containers that boot at once both run `flask db upgrade`, and the
    second then waits, reads the version the first left and applies nothing twice.

    Session-level (it outlives the transactions within), and given back with the session's settings, as the
    connection returns to a pool that a process running migrations in-process (the test suite) uses again."""
    # Waiting for another container's migrations may take longer than any request's statement_timeout.
    connection.exec_driver_sql("SET statement_timeout = 0")
    connection.execute(text("SELECT pg_advisory_lock(:lock)"), {"lock": MIGRATION_LOCK})
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:lock)"), {"lock": MIGRATION_LOCK})
        connection.exec_driver_sql("RESET statement_timeout")
        connection.commit()


def run_migrations_online():
    configure_args = current_app.extensions["migrate"].configure_args
    configure_args.setdefault("process_revision_directives", skip_empty_autogenerate)
    with target_db.engine.connect() as connection, migration_lock(connection):
        context.configure(connection=connection, target_metadata=target_db.metadata, **configure_args)
        with context.begin_transaction():
            # The app's timeouts bound requests; a migration may rewrite a table of millions of rows, and may spend
            # a while in Python between two statements.
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            connection.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 0")
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

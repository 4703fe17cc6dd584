"""Migrations run once, from the boot step: two `flask db upgrade` at once (two containers booting) both succeed
and apply each migration once, the second finding nothing to do as a re-run does; the served app never migrates."""
import subprocess  # nosec B404  # the test runs the commands a container runs
import tempfile

import psycopg2
from alembic.script import ScriptDirectory

from tests.reliability.harness import BIN, ROOT, Service, wait_for

SCRIPTS = ScriptDirectory(str(ROOT / "migrations"))
HEAD = SCRIPTS.get_current_head()
MIGRATIONS = list(SCRIPTS.walk_revisions())


def upgrade(service):
    return subprocess.Popen(  # nosec B603
        [str(BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=service.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )


def sessions_waiting_on_locks(postgres):
    return int(postgres.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bookapi'"
                             " AND wait_event_type = 'Lock'", "fresh")[0])


def empty_database(postgres):
    postgres.psql("CREATE DATABASE fresh")
    return postgres.url("fresh")


def test_two_upgrades_at_once_both_succeed_and_migrate_once(postgres):
    service = Service(tempfile.mkdtemp(), empty_database(postgres))
    # Both upgrades are held at their first read of the version table, so that they surely overlap: without a lock
    # of their own both would then apply every migration, and one would fail.
    holder = psycopg2.connect(service.env["DATABASE_URL"])
    holder.cursor().execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
    holder.commit()
    holder.cursor().execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
    first, second = upgrade(service), upgrade(service)
    wait_for(lambda: sessions_waiting_on_locks(postgres) == 2, 120, what="both upgrades waiting")
    holder.commit()
    holder.close()
    outputs = [process.communicate(timeout=120)[0] for process in (first, second)]

    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert postgres.psql("SELECT version_num FROM alembic_version", "fresh") == [HEAD]
    # The one that waited ran as a re-run does, once the other had finished: it found nothing to do.
    assert sorted(output.count("Running upgrade") for output in outputs) == [0, len(MIGRATIONS)]


def test_served_app_never_migrates(postgres):
    service = Service(tempfile.mkdtemp(), empty_database(postgres))
    service.start()
    try:
        statuses = [service.status(path) for path in ("/health/ready", "/api/v1/books", "/health/ready")]
    finally:
        service.stop()

    assert statuses[0] == 200
    assert postgres.psql("SELECT to_regclass('alembic_version') IS NULL, to_regclass('books') IS NULL",
                         "fresh") == ["t|t"]

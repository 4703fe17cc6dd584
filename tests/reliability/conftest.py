"""Fixtures that start real servers a test owns and may break; each is stopped and removed after its test."""
import os
import secrets
from contextlib import contextmanager

import psycopg2
import pytest

from tests.reliability.harness import Nginx, Postgres, Redis, Service, database_server_url


@pytest.fixture(scope="session")
def prepared_cluster(tmp_path_factory):
    """A stopped cluster whose ``bookapi`` database is migrated and holds the admin account; each test's cluster is
    a copy, which saves it initdb, the migrations and an import of the app."""
    cluster = Postgres()
    cluster.start()
    cluster.psql("CREATE DATABASE bookapi")
    Service(tmp_path_factory.mktemp("template"), cluster.url()).prepare()
    cluster.stop()
    yield cluster
    cluster.cleanup()


@pytest.fixture
def postgres(prepared_cluster):
    """A cluster of the test's own whose ``bookapi`` database is ready to serve (``serve`` prepares nothing)."""
    cluster = Postgres(template=prepared_cluster)
    cluster.start()
    yield cluster
    cluster.cleanup()


@pytest.fixture
def redis_server(tmp_path_factory):
    server = Redis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def serve(tmp_path_factory):
    """``serve(database_url, workers=2, prepare=True, **settings)``: bookapi migrated (unless ``prepare`` is
    false: the ``database`` fixture's is already) and served by gunicorn, stopped after the test."""
    started = []

    def start(database_url, workers=2, prepare=True, **settings):
        service = Service(tmp_path_factory.mktemp("service"), database_url, workers, **settings)
        if prepare:
            service.prepare()
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def prepared_template(tmp_path_factory):
    """A database on the shared PostgreSQL (TEST_DATABASE_URL's server), migrated, with the admin account and
    200 seeded books, made once per run for ``database`` to copy."""
    base = os.environ["TEST_DATABASE_URL"]
    name = f"bookapi_rel_template_{secrets.token_hex(4)}"
    with admin_connection(base) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    template = Service(tmp_path_factory.mktemp("template"), database_server_url(base, name))
    template.prepare()
    template.flask("seed", "--count", "200", "--seed", "1")
    yield name
    with admin_connection(base) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def database(prepared_template):
    """A fresh copy of the prepared database (serve it with ``prepare=False``), for tests that break gunicorn
    or nginx rather than PostgreSQL; dropped after the test."""
    with copied_database(prepared_template) as url:
        yield url


@contextmanager
def copied_database(template):
    base = os.environ["TEST_DATABASE_URL"]
    name = f"bookapi_rel_{secrets.token_hex(4)}"
    with admin_connection(base) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield database_server_url(base, name)
    finally:
        with admin_connection(base) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@contextmanager
def admin_connection(database_url):
    connection = psycopg2.connect(database_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


@pytest.fixture
def nginx():
    """``nginx(upstream_ports)``: deploy/nginx.conf run by the Debian package's nginx in front of those ports,
    stopped after the test."""
    started = []

    def start(upstream_ports):
        proxy = Nginx(upstream_ports)
        started.append(proxy)
        proxy.start()
        return proxy

    yield start
    for proxy in started:
        proxy.stop()

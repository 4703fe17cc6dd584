"""Fixtures that start real servers a test owns and may break; each is stopped and removed after its test."""
import pytest

from tests.reliability.harness import Postgres, Redis, Service


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
    """``serve(database_url, workers=2, **settings)``: bookapi migrated and served by gunicorn, stopped after the
    test."""
    started = []

    def start(database_url, workers=2, **settings):
        service = Service(tmp_path_factory.mktemp("service"), database_url, workers, **settings)
        service.prepare()
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()

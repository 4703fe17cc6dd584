"""The harness itself: a service on a cluster of the test's own answers, and the load records what it sees."""
from tests.factories import BookPayload
from tests.reliability.harness import Load, request


def test_service_on_its_own_cluster_stores_a_book(postgres, serve):
    service = serve(postgres.url())
    token = service.sign_in()

    created = request("POST", service.port, "/api/v1/books", BookPayload(),
                      {"Authorization": f"Bearer {token}"})

    assert created.status == 201, created.body
    assert postgres.psql("SELECT count(*) FROM books", "bookapi") == ["1"]


def test_load_records_every_outcome(postgres, serve):
    service = serve(postgres.url())

    with Load(service.port, lambda client, n: ("GET", "/health", None, {}), clients=2) as load:
        load.stopping.wait(1)

    assert set(load.statuses()) == {200}
    assert sum(load.statuses().values()) >= 2

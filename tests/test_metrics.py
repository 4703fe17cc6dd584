"""The metrics the app records, read from prometheus_client's registry of this process (no multiprocess directory
here; tests/test_metrics_served.py runs them under gunicorn and a real Prometheus)."""
import gc
import logging
from contextlib import contextmanager

import pytest
from prometheus_client import REGISTRY

from bookapi import __version__, metrics
from bookapi.config import TestingConfig
from tests.accounts import login, own_app, refresh, tokens_of
from tests.factories import BookFactory, BookPayload, UserFactory
from tests.test_deployment import free_port

LOOKUP = "/api/v1/books/<int:book_id>"


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


@contextmanager
def counted(name, **labels):
    """How much the sample ``name{labels}`` grew within the block: ``grew()`` once it is done."""
    before = sample(name, **labels)
    grown = []
    yield lambda: grown[0]
    grown.append(sample(name, **labels) - before)


def requests_of(route, method="GET", status_class="2xx"):
    return counted("bookapi_http_request_duration_seconds_count", route=route, method=method, status_class=status_class)


def test_lookup_is_counted_under_its_route_template_and_status_class(client):
    book = BookFactory()
    with requests_of(LOOKUP) as found, requests_of(LOOKUP, status_class="4xx") as missing:
        assert client.get(f"/api/v1/books/{book.id}").status_code == 200
        assert client.get(f"/api/v1/books/{book.id}").status_code == 200
        assert client.get("/api/v1/books/999999").status_code == 404

    assert (found(), missing()) == (2, 1)


def test_request_latency_is_observed_in_the_histogram_of_its_labels(client):
    book = BookFactory()
    labels = {"route": LOOKUP, "method": "GET", "status_class": "2xx"}
    with counted("bookapi_http_request_duration_seconds_count", **labels) as observed, \
            counted("bookapi_http_request_duration_seconds_bucket", le="10.0", **labels) as within_10s, \
            counted("bookapi_http_request_duration_seconds_sum", **labels) as seconds:
        client.get(f"/api/v1/books/{book.id}")

    assert observed() == within_10s() == 1
    assert 0 < seconds() < 10


def test_unmatched_path_is_counted_under_one_label_not_its_path(client):
    with requests_of("(unmatched)", status_class="4xx") as unmatched:
        assert client.get("/no/such/path/8f1e").status_code == 404

    assert unmatched() == 1
    assert not any(sample.labels.get("route") == "/no/such/path/8f1e"
                   for metric in REGISTRY.collect() for sample in metric.samples)


def test_unknown_method_is_counted_as_other(client):
    with requests_of("(unmatched)", method="other", status_class="4xx") as other:
        assert client.open("/api/v1/books", method="BREW").status_code == 405

    assert other() == 1


def test_created_book_is_counted_as_post_2xx(client):
    with requests_of("/api/v1/books", method="POST") as created:
        assert client.post("/api/v1/books", json=BookPayload()).status_code == 201

    assert created() == 1


def test_request_refused_before_its_view_is_counted_under_its_route(anonymous):
    with requests_of("/api/v1/books", method="POST", status_class="4xx") as refused:
        assert anonymous.post("/api/v1/books", json=BookPayload()).status_code == 401

    assert refused() == 1


def test_nothing_is_in_flight_once_requests_are_answered(client):
    client.get("/api/v1/books")
    client.get("/no/such/path")

    assert sample("bookapi_http_requests_in_flight") == 0


def test_request_in_flight_is_counted_while_the_app_holds_it():
    seen = []

    def app(environ, start_response):
        seen.append(sample("bookapi_http_requests_in_flight"))
        start_response("200 OK", [])
        return [b""]

    metrics.RequestMetrics(app)({"REQUEST_METHOD": "GET"}, lambda status, headers, exc_info=None: None)

    assert seen == [sample("bookapi_http_requests_in_flight") + 1]


def test_request_the_app_raised_out_of_is_counted_as_a_5xx():
    def app(environ, start_response):
        raise RuntimeError("the app failed before answering")

    with requests_of("(unmatched)", status_class="5xx") as failed, pytest.raises(RuntimeError):
        metrics.RequestMetrics(app)({"REQUEST_METHOD": "GET"}, None)

    assert failed() == 1
    assert sample("bookapi_http_requests_in_flight") == 0


def test_reads_are_timed_and_their_connection_kept_for_the_next_request(client):
    book = BookFactory()
    client.get(f"/api/v1/books/{book.id}")
    kept = sample("bookapi_db_pool_checked_out", pool="reads")
    with counted("bookapi_db_query_duration_seconds_count", pool="reads") as queries:
        client.get(f"/api/v1/books/{book.id}")

    assert queries() == 1
    # The app kept the first request's connection and the second read on it: none more left the pool.
    assert sample("bookapi_db_pool_checked_out", pool="reads") == kept


def test_write_statements_are_timed_under_the_orm_pool(client):
    with counted("bookapi_db_query_duration_seconds_count", pool="orm") as queries:
        client.post("/api/v1/books", json=BookPayload())

    assert queries() >= 1
    assert sample("bookapi_db_pool_checked_out", pool="orm") == 0


def test_a_checkout_that_failed_in_an_outage_leaves_the_gauge_as_it_was(proxied_client, proxy):
    assert proxied_client.post("/api/v1/books", json=BookPayload()).status_code == 201
    before = sample("bookapi_db_pool_checked_out", pool="orm")
    proxy.cut()
    # The pooled connection fails its ping, and a new one cannot be made: SQLAlchemy checks the entry back in.
    assert proxied_client.post("/api/v1/books", json=BookPayload()).status_code == 503
    proxy.restore()

    assert sample("bookapi_db_pool_checked_out", pool="orm") == before


def test_connections_held_count_as_checked_out_and_overflow_past_the_pool_size():
    options = {**TestingConfig.SQLALCHEMY_ENGINE_OPTIONS, "pool_size": 1, "max_overflow": 2}
    # The gauge is the process's, over every app the suite made: the connections of an earlier test's app that is
    # garbage by now are checked in when the collector gets to it, which must not happen between the two readings.
    gc.collect()
    with own_app(SQLALCHEMY_ENGINE_OPTIONS=options) as app, app.app_context():
        engine = app.extensions["bookapi.reads"].engine
        base = sample("bookapi_db_pool_checked_out", pool="reads")
        first, second = engine.connect(), engine.connect()
        held = sample("bookapi_db_pool_checked_out", pool="reads") - base
        overflow = sample("bookapi_db_pool_overflow", pool="reads")
        first.close()
        second.close()

    assert (held, overflow) == (2, 1)
    assert sample("bookapi_db_pool_capacity", pool="reads") == 3
    assert sample("bookapi_db_pool_checked_out", pool="reads") == base


def test_rate_limit_rejection_is_counted_by_its_limit():
    with own_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2/minute") as app:
        client, user = app.test_client(), UserFactory()
        with counted("bookapi_rate_limit_rejections_total", limit="login") as rejected:
            statuses = [login(client, user.email, "a wrong guess").status_code for _ in range(4)]

    assert statuses == [401, 401, 429, 429]
    assert rejected() == 2


def test_refresh_token_reuse_is_counted(anonymous):
    stolen = tokens_of(anonymous, UserFactory())
    with counted("bookapi_refresh_token_reuse_detections_total") as detected:
        assert refresh(anonymous, stolen["refresh_token"]).status_code == 200
        assert refresh(anonymous, stolen["refresh_token"]).status_code == 401

    assert detected() == 1


def test_idempotent_replay_is_counted_and_first_answer_is_not(client_as):
    editor, body, key = client_as("editor"), BookPayload(), {"Idempotency-Key": "metrics-replay-1"}
    with counted("bookapi_idempotent_replays_total") as first:
        assert editor.post("/api/v1/books", json=body, headers=key).status_code == 201
    with counted("bookapi_idempotent_replays_total") as again:
        assert editor.post("/api/v1/books", json=body, headers=key).headers["Idempotent-Replayed"] == "true"

    assert (first(), again()) == (0, 1)


@pytest.fixture
def unreachable_redis_app():
    with own_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0") as app:
        yield app


def test_redis_failure_of_the_limits_is_counted_once_they_fall_back(unreachable_redis_app):
    client, user = unreachable_redis_app.test_client(), UserFactory()
    with counted("bookapi_redis_errors_total", operation="rate_limit") as errors:
        statuses = [login(client, user.email, "a wrong guess").status_code for _ in range(3)]

    assert statuses == [401] * 3
    assert errors() == 1  # the fall-back to memory; later requests do not try Redis on each call


def test_redis_failure_is_counted_when_logs_show_errors_only(unreachable_redis_app, caplog):
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with counted("bookapi_redis_errors_total", operation="rate_limit") as errors:
            login(unreachable_redis_app.test_client(), UserFactory().email, "a wrong guess")
    finally:
        logging.getLogger().setLevel(logging.INFO)

    assert errors() == 1
    assert [record for record in caplog.records if record.name == "flask-limiter"] == []


def test_readiness_with_redis_away_counts_a_redis_error(unreachable_redis_app):
    with counted("bookapi_redis_errors_total", operation="readiness") as errors:
        response = unreachable_redis_app.test_client().get("/health/ready")

    assert response.get_json()["checks"]["redis"] == "degraded"
    assert errors() == 1


def test_build_info_names_the_version_and_the_revision(monkeypatch):
    monkeypatch.setenv("GIT_REVISION", "0123abcd4567")
    metrics.git_revision.cache_clear()
    try:
        with own_app():
            value = sample("bookapi_build_info", version=__version__, revision="0123abcd4567")
    finally:
        metrics.git_revision.cache_clear()

    assert value == 1


def test_revision_of_a_checkout_without_git_revision_is_its_head(monkeypatch):
    monkeypatch.delenv("GIT_REVISION", raising=False)
    metrics.git_revision.cache_clear()
    try:
        revision = metrics.git_revision()
    finally:
        metrics.git_revision.cache_clear()

    assert len(revision) == 12 and int(revision, 16) >= 0


def test_public_app_serves_no_metrics(client):
    assert client.get("/metrics").status_code == 404


def test_metrics_disabled_leaves_requests_uncounted():
    book = BookFactory()
    with own_app(METRICS_ENABLED=False) as app, requests_of(LOOKUP) as counted_lookups:
        assert app.test_client().get(f"/api/v1/books/{book.id}").status_code == 200

    assert counted_lookups() == 0
    assert not isinstance(app.wsgi_app, metrics.RequestMetrics)

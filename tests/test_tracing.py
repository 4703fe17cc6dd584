"""OpenTelemetry traces: a server span per request named by its route, a child span per SQL statement and Redis
command, the caller's traceparent honoured, the trace id in the logs and in traceresponse; off and free unless
the OTEL_* variables ask for it."""
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from flask import request
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id, get_current_span

from bookapi import logs, reads, tracing
from bookapi.access import public
from bookapi.config import traces_wanted
from bookapi.extensions import db
from tests.accounts import login
from tests.conftest import bearer
from tests.factories import BookFactory, UserFactory
from tests.test_access_log import logged_events, own_app

ROOT = Path(__file__).resolve().parent.parent
REDIS = "redis://127.0.0.1:6379/0"
TRACE_ID, PARENT_ID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def traced():
    """An app traced into an in-memory exporter, its rate limits kept in Redis; ``(app, spans)``, where ``spans()``
    returns the spans ended since the last call."""
    key_prefix = f"bookapi-tracing-{uuid.uuid4().hex}"
    app = own_app(LOG_FORMAT="json", RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=REDIS,
                  RATELIMIT_STORAGE_OPTIONS={"key_prefix": key_prefix})
    exporter = InMemorySpanExporter()
    provider = tracing.setup(app, exporter)

    def spans():
        provider.force_flush()
        ended = exporter.get_finished_spans()
        exporter.clear()
        return ended

    yield app, spans
    SQLAlchemyInstrumentor().uninstrument()
    RedisInstrumentor().uninstrument()
    provider.shutdown()
    logs.current_trace_id = None
    connection = redis.Redis.from_url(REDIS)
    for key in connection.scan_iter(f"{key_prefix}*"):
        connection.delete(key)
    with app.app_context():
        db.engine.dispose()
        app.extensions[reads.EXTENSION].dispose()


@pytest.fixture
def traced_app(traced):
    app, spans = traced
    spans()
    return app


@pytest.fixture
def spans(traced):
    return traced[1]


def server_span(ended):
    (span,) = [span for span in ended if span.kind == SpanKind.SERVER]
    return span


def test_request_has_a_server_span_named_by_its_route_with_its_status(traced_app, spans):
    book = BookFactory()

    assert traced_app.test_client().get(f"/api/v1/books/{book.id}").status_code == 200

    span = server_span(spans())
    assert span.name == "GET /api/v1/books/<int:book_id>"
    assert span.attributes["http.route"] == "/api/v1/books/<int:book_id>"
    assert span.attributes["http.status_code"] == 200


def test_each_sql_statement_has_a_child_span(traced_app, spans):
    book = BookFactory()

    assert traced_app.test_client().get(f"/api/v1/books/{book.id}/reviews").status_code == 200

    ended = spans()
    server = server_span(ended)
    statements = [span for span in ended if "db.statement" in span.attributes]
    assert len(statements) >= 2
    assert {span.parent.span_id for span in statements} == {server.context.span_id}
    assert {span.context.trace_id for span in statements} == {server.context.trace_id}


def test_redis_commands_have_child_spans(traced_app, spans):
    user = UserFactory()

    assert login(traced_app.test_client(), user.email).status_code == 200

    ended = spans()
    server = server_span(ended)
    commands = [span for span in ended if span.attributes.get("db.system") == "redis"]
    assert commands
    assert {span.parent.span_id for span in commands} == {server.context.span_id}


def test_incoming_traceparent_becomes_the_parent(traced_app, spans):
    response = traced_app.test_client().get("/health", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})

    assert response.status_code == 200
    span = server_span(spans())
    assert format_trace_id(span.context.trace_id) == TRACE_ID
    assert format_span_id(span.parent.span_id) == PARENT_ID
    assert span.parent.is_remote


def test_answer_names_its_span_in_traceresponse(traced_app, spans):
    response = traced_app.test_client().get("/health")

    span = server_span(spans())
    context = span.context
    assert response.headers["traceresponse"] == (
        f"00-{format_trace_id(context.trace_id)}-{format_span_id(context.span_id)}-{context.trace_flags:02x}")


def test_log_events_of_a_request_carry_its_trace_id(traced_app, spans, capsys):
    traceparent = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    response = traced_app.test_client().get("/api/v1/books/999", headers=traceparent)

    assert response.status_code == 404
    (event,) = [event for event in logged_events(capsys) if event["logger"] == "bookapi.access"]
    assert event["trace_id"] == TRACE_ID


def test_the_account_read_of_a_signed_in_request_is_a_child_of_its_server_span(traced_app, spans):
    user = UserFactory()
    with traced_app.app_context():
        headers = bearer(user)

    assert traced_app.test_client().get("/api/v1/auth/me", headers=headers).status_code == 200

    ended = spans()
    server = server_span(ended)
    statements = [span for span in ended if "db.statement" in span.attributes]
    assert any("FROM users" in span.attributes["db.statement"] for span in statements)
    assert {span.parent.span_id for span in statements} == {server.context.span_id}


@pytest.fixture
def own_spans(monkeypatch):
    """``make(sampler=None, **environ)``: an app with server spans alone, ended into an in-memory exporter through
    a provider of its own (``sampler``), the OTEL_* ``environ`` set while it is made; ``(app, exporter)``. Its
    route ``/fails`` raises, and one of its teardown functions raises for a request of ``/fails-to-tear-down``."""
    made = []

    def make(sampler=None, **environ):
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        app = own_app()

        @app.get("/fails")
        @public
        def fails():
            raise RuntimeError("this route fails")

        @app.teardown_request
        def fail_to_tear_down(exception=None):
            if request.path == "/fails-to-tear-down":
                raise RuntimeError("this teardown fails")

        exporter = InMemorySpanExporter()
        provider = TracerProvider(**({"sampler": sampler} if sampler else {}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracing.server_spans(app, provider.get_tracer("tests"))
        made.append(app)
        return app, exporter

    yield make
    for app in made:
        with app.app_context():
            db.engine.dispose()
            app.extensions[reads.EXTENSION].dispose()


def test_a_sampled_out_request_ends_no_span_and_its_answer_says_so(own_spans):
    app, exporter = own_spans(sampler=ALWAYS_OFF)

    response = app.test_client().get("/health", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})

    assert response.status_code == 200
    assert exporter.get_finished_spans() == ()
    assert response.headers["traceresponse"].startswith(f"00-{TRACE_ID}-")
    assert response.headers["traceresponse"].endswith("-00")


def test_excluded_urls_get_no_span(own_spans):
    app, exporter = own_spans(OTEL_PYTHON_FLASK_EXCLUDED_URLS="health,metrics")

    assert app.test_client().get("/health").status_code == 200
    assert app.test_client().get("/api/v1/books/999").status_code == 404

    assert [span.name for span in exporter.get_finished_spans()] == ["GET /api/v1/books/<int:book_id>"]


def test_a_request_that_raises_ends_its_span_as_an_error(own_spans):
    app, exporter = own_spans()

    assert app.test_client().get("/fails").status_code == 500

    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /fails"
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["http.status_code"] == 500


def test_headers_the_operator_names_are_recorded_on_the_span(own_spans):
    app, exporter = own_spans(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST="X-Client-Version",
                              OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE="Content-Type")

    assert app.test_client().get("/health", headers={"X-Client-Version": "7.1"}).status_code == 200

    (span,) = exporter.get_finished_spans()
    assert span.attributes["http.request.header.x_client_version"] == ("7.1",)
    assert span.attributes["http.response.header.content_type"] == ("application/json",)


def test_a_method_http_does_not_define_names_no_span_of_its_own(own_spans):
    app, exporter = own_spans()

    assert app.test_client().open("/health", method="FROBNICATE").status_code == 405

    assert [span.name for span in exporter.get_finished_spans()] == ["HTTP"]


def test_a_teardown_that_raises_still_ends_the_span_and_leaves_no_context_behind(own_spans):
    app, exporter = own_spans()

    with pytest.raises(RuntimeError, match="this teardown fails"):
        app.test_client().get("/fails-to-tear-down")

    assert [span.name for span in exporter.get_finished_spans()] == ["GET"]
    assert not get_current_span().get_span_context().is_valid


def run_python(code, **environ):
    """``code`` run by a fresh interpreter in the project, with the test database and ``environ``; its output."""
    env = {**os.environ, "APP_ENV": "testing", **environ}
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "SERVER_SOFTWARE"):
        if name not in environ:
            env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("imported: ")]
    return line.removeprefix("imported: ")


IMPORTED_AFTER_A_REQUEST = """
import sys
from wsgi import app
assert app.test_client().get("/health").status_code == 200
print("imported:", sorted({name.split(".")[1] for name in sys.modules if name.startswith("opentelemetry.")}))
"""


def test_tracing_off_imports_nothing_of_opentelemetry():
    assert run_python(IMPORTED_AFTER_A_REQUEST) == "[]"


def test_tracing_on_is_set_up_by_create_app_outside_gunicorn():
    imported = run_python(IMPORTED_AFTER_A_REQUEST, OTEL_TRACES_EXPORTER="console", OTEL_BSP_SCHEDULE_DELAY="60000")

    assert "sdk" in imported and "instrumentation" in imported


def test_tracing_is_left_to_the_workers_under_gunicorn():
    imported = run_python(IMPORTED_AFTER_A_REQUEST, OTEL_TRACES_EXPORTER="console", SERVER_SOFTWARE="gunicorn/27.0.1")

    assert imported == "[]"


@pytest.mark.parametrize("environ, wanted", [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
])
def test_traces_are_wanted_when_the_otel_variables_ask(monkeypatch, environ, wanted):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER",
                 "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    assert traces_wanted() is wanted

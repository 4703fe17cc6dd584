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
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from bookapi import logs, reads, tracing
from bookapi.config import traces_wanted
from bookapi.extensions import db
from tests.accounts import login
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
    FlaskInstrumentor.uninstrument_app(app)
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

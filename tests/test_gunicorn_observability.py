"""Logs and traces of the service as deployed: gunicorn with gunicorn.conf.py, two preloaded workers, JSON logs,
gunicorn's own access log on, and traces exported over OTLP/HTTP to a collector stand-in of the test's own."""
import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.served import OtlpCollector, gunicorn_serving

TRACE_ID, PARENT_ID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


@pytest.fixture(scope="module")
def collector():
    with OtlpCollector() as server:
        yield server


@pytest.fixture(scope="module")
def served(app, collector, tmp_path_factory):
    """``(port, master pid, stdout path, stderr path)`` of a gunicorn serving on TEST_DATABASE_URL."""
    logs = tmp_path_factory.mktemp("gunicorn")
    out, err = logs / "stdout.log", logs / "stderr.log"
    settings = {"APP_ENV": "testing", "WEB_CONCURRENCY": "2", "LOG_FORMAT": "json", "GUNICORN_ACCESS_LOG": "-",
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    with gunicorn_serving(settings, out, err) as (port, process):
        yield port, process.pid, out, err


def get(port, path, headers=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers)


def lines_of(*paths):
    return [line for path in paths for line in path.read_text().splitlines() if line.strip()]


def eventually(find, seconds=15):
    deadline = time.monotonic() + seconds
    while not (found := find()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_every_line_gunicorn_and_the_app_write_is_a_json_event(served):
    port, _, out, err = served

    assert get(port, "/api/v1/books?size=1", {"X-Request-ID": "req-gunicorn"})[0] == 200
    loggers = eventually(lambda: {json.loads(line)["logger"] for line in lines_of(out, err)
                                  if "req-gunicorn" in line or "GET /api/v1/books?size=1 " in line} >= {
                                      "bookapi.access", "gunicorn.access"})

    assert loggers
    every = [json.loads(line) for line in lines_of(out, err)]
    assert {"level", "time", "event", "logger"} <= set.intersection(*(set(event) for event in every))
    booted = [event for event in every if event["logger"] == "gunicorn.error" and "Booting worker" in event["event"]]
    assert len(booted) >= 2


def test_a_request_is_traced_in_a_worker_and_exported_over_otlp(served, collector):
    port, _, out, _ = served

    status, headers = get(port, "/api/v1/books?size=1", {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})

    assert status == 200
    assert headers["traceresponse"].startswith(f"00-{TRACE_ID}-")
    ours = eventually(lambda: [(resource, span) for resource, span in collector.spans
                               if span.trace_id.hex() == TRACE_ID and span.kind == span.SPAN_KIND_CLIENT])
    assert ours, "no SQL span of the request reached the collector"
    server = eventually(lambda: [span for resource, span in collector.spans
                                 if span.trace_id.hex() == TRACE_ID and span.kind == span.SPAN_KIND_SERVER])
    (server,) = server
    assert server.name == "GET /api/v1/books"
    assert server.parent_span_id.hex() == PARENT_ID
    assert {resource["service.name"] for resource, _ in ours} == {"bookapi"}
    assert {span.parent_span_id for _, span in ours} == {server.span_id}
    access = eventually(lambda: [json.loads(line) for line in lines_of(out) if TRACE_ID in line
                                 and '"logger":"bookapi.access"' in line])
    assert [event["trace_id"] for event in access] == [TRACE_ID]


def loads_protobuf(pid):
    """Whether the process has protobuf's extension module mapped: the OTLP exporter imports it, nothing else does."""
    return "/google/_upb/" in Path(f"/proc/{pid}/maps").read_text()


def test_only_the_workers_set_up_tracing(served):
    port, master, _, _ = served
    workers = [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]

    assert len(workers) == 2
    assert [loads_protobuf(worker) for worker in workers] == [True, True]
    assert not loads_protobuf(master)

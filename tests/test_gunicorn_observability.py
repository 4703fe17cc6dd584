"""Logs and traces of the service as deployed: gunicorn with gunicorn.conf.py, two preloaded workers, JSON logs,
gunicorn's own access log on, and traces exported over OTLP/HTTP to a collector stand-in of the test's own."""
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parent.parent
TRACE_ID, PARENT_ID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


class Collector(BaseHTTPRequestHandler):
    """Receives OTLP/HTTP exports, as an OpenTelemetry collector does, and keeps the spans."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            resource = {item.key: item.value.string_value for item in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.server.spans.extend((resource, span) for span in scope_spans.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def collector():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    server.spans = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def served(app, collector, tmp_path_factory):
    """``(port, master pid, stdout path, stderr path)`` of a gunicorn serving on TEST_DATABASE_URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    logs = tmp_path_factory.mktemp("gunicorn")
    out, err = logs / "stdout.log", logs / "stderr.log"
    env = {**os.environ, "APP_ENV": "testing", "WEB_CONCURRENCY": "2", "LOG_FORMAT": "json",
           "GUNICORN_ACCESS_LOG": "-", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
           "OTEL_BSP_SCHEDULE_DELAY": "100"}
    argv = [Path(sys.executable).parent / "gunicorn", "--config", "gunicorn.conf.py",
            "--bind", f"fd://{listener.fileno()}", "wsgi:app"]
    with open(out, "a") as stdout, open(err, "a") as stderr:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, pass_fds=[listener.fileno()], stdout=stdout,
                                   stderr=stderr)
    port = listener.getsockname()[1]
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30).close()
    except OSError:
        process.kill()
        process.wait()
        pytest.fail(f"gunicorn did not serve /health within 30 s:\n{err.read_text()}")
    yield port, process.pid, out, err
    process.terminate()
    process.wait(timeout=30)
    listener.close()


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

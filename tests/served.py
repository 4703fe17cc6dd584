"""gunicorn as deployed (gunicorn.conf.py) in front of the app, for tests of what only the real server shows, and
an OpenTelemetry collector stand-in that its traces can be exported to."""
import gzip
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from contextlib import contextmanager, nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def gunicorn_serving(settings, log_path, stderr_path=None):
    """The port of gunicorn serving ``wsgi:app`` with ``settings`` over this environment, once it answers
    ``/health``; its output goes to ``log_path`` (its standard error to ``stderr_path``, if given). It is stopped
    on the way out.

    It serves on a socket bound here and handed over (fd://), so no other process can take the port meanwhile,
    and a request sent before the worker is up waits in the socket's backlog.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    argv = [Path(sys.executable).parent / "gunicorn", "--config", "gunicorn.conf.py",
            "--bind", f"fd://{listener.fileno()}", "wsgi:app"]
    errors = open(stderr_path, "a") if stderr_path else nullcontext(subprocess.STDOUT)
    with open(log_path, "a") as stdout, errors as stderr:
        process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **settings}, pass_fds=[listener.fileno()],
                                   stdout=stdout, stderr=stderr)
    port = listener.getsockname()[1]
    try:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30).close()
        except OSError:
            process.kill()
            process.wait()
            pytest.fail(f"gunicorn did not serve /health within 30 s:\n{(stderr_path or log_path).read_text()}")
        yield port, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        listener.close()


class ReceiveSpans(BaseHTTPRequestHandler):
    """Takes OTLP/HTTP exports, as an OpenTelemetry collector does, and keeps their spans with their resources."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            self.server.batches += 1
            for resource_spans in export.resource_spans:
                resource = {item.key: item.value.string_value for item in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    self.server.spans.extend((resource, span) for span in scope_spans.spans)
        # An empty 200 is a whole export response (OTLP/HTTP, protobuf).
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class OtlpCollector(ThreadingHTTPServer):
    """An OTLP/HTTP endpoint on loopback (``url``) that keeps every span exported to it (``spans``, as
    ``(resource attributes, span)``) and counts the exports (``batches``); serving while in a ``with`` block."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiveSpans)
        self.url = f"http://127.0.0.1:{self.server_port}"
        self.spans, self.batches, self.lock = [], 0, threading.Lock()

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self.shutdown()
        self.server_close()

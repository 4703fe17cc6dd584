"""gunicorn as deployed (gunicorn.conf.py) in front of the app, for tests of what only the real server shows."""
import os
import socket
import subprocess
import sys
import urllib.request
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest

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

"""Metrics as an operator gets them: bookapi served by gunicorn with 3 workers, scraped by a real Prometheus
(Debian's package) every second, read back through Prometheus' HTTP API."""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from tests.factories import BookFactory
from tests.test_deployment import free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PROMETHEUS = "/usr/bin/prometheus"
WORKERS = 3
DEADLINE = 60
LOOKUP = 'route="/api/v1/books/<int:book_id>"'

pytestmark = pytest.mark.skipif(not os.path.exists(PROMETHEUS), reason="Debian's prometheus is not installed")


def wait_for(probe, what, deadline=DEADLINE):
    """Poll ``probe`` until it returns something truthy, for at most ``deadline`` seconds; that value."""
    give_up, last = time.monotonic() + deadline, None
    while time.monotonic() < give_up:
        try:
            last = probe()
        except OSError as error:
            last = error
        else:
            if last:
                return last
        time.sleep(0.25)
    pytest.fail(f"{what}: not within {deadline}s (last: {last!r})")


def get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("metrics-served")


@pytest.fixture(scope="module")
def server(app, scratch):
    """gunicorn as `make run` starts it (gunicorn.conf.py), on the test database, its ports free ones."""
    port, metrics_port, multiproc = free_port(), free_port(), scratch / "multiproc"
    multiproc.mkdir()
    env = {
        **os.environ, "DATABASE_URL": os.environ["TEST_DATABASE_URL"], "SECRET_KEY": secrets.token_hex(32),
        "APP_ENV": "development", "PORT": str(port), "WEB_CONCURRENCY": str(WORKERS), "METRICS_PORT": str(metrics_port),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc), "RATELIMIT_ENABLED": "false", "ACCESS_LOG": "false",
        # A worker held by a test's unfinished request must not be timed out and replaced behind its back.
        "GUNICORN_TIMEOUT": "300",
    }
    env.pop("METRICS_BIND", None)
    log = open(scratch / "gunicorn.log", "wb")
    process = subprocess.Popen(
        [VENV_BIN / "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: process.poll() is not None or get(f"{base}/health/ready")[0] == 200, "gunicorn serving")
        wait_for(lambda: process.poll() is not None or len(workers_of(process.pid)) == WORKERS, "3 workers")
        assert process.poll() is None, (scratch / "gunicorn.log").read_text()
        yield type("Server", (), {"process": process, "base": base, "metrics_port": metrics_port,
                                  "multiproc": multiproc})
    finally:
        stop(process)
        log.close()


def workers_of(pid):
    found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return {int(line) for line in found.stdout.split()}


@pytest.fixture(scope="module")
def prometheus(server, scratch):
    """A Prometheus of the test's own (port, config, data and the service's rules), scraping every second."""
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "deploy" / "prometheus" / "rules.yml")],
        "scrape_configs": [{"job_name": "bookapi", "static_configs": [
            {"targets": [f"127.0.0.1:{server.metrics_port}"]},
        ]}],
    }
    (scratch / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = open(scratch / "prometheus.log", "wb")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={scratch / 'prometheus.yml'}", f"--storage.tsdb.path={scratch / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        wait_for(lambda: process.poll() is not None or get(f"http://127.0.0.1:{port}/-/ready")[0] == 200,
                 "Prometheus ready")
        assert process.poll() is None, (scratch / "prometheus.log").read_text()

        def query(expression):
            status, body = get(f"{api}/query?{urllib.parse.urlencode({'query': expression})}")
            assert status == 200, body
            return {json.dumps(item["metric"], sort_keys=True): float(item["value"][1])
                    for item in json.loads(body)["data"]["result"]}

        wait_for(lambda: query('up{job="bookapi"}') and list(query('up{job="bookapi"}').values()) == [1.0],
                 "the bookapi target scraped")
        yield query
    finally:
        stop(process)
        log.close()


def scalar(query, expression):
    values = list(query(expression).values())
    return values[0] if len(values) == 1 else None


def requests_at(base, paths):
    """Each path requested once, six at a time, each on a connection of its own: the status codes."""
    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(lambda path: get(base + path)[0], paths))


def test_request_count_and_error_ratio_are_summed_over_workers(server, prometheus):
    books, total = [BookFactory() for _ in range(4)], f"sum(bookapi_http_request_duration_seconds_count{{{LOOKUP}}})"
    before = scalar(prometheus, total) or 0.0
    paths = [f"/api/v1/books/{books[i % 4].id}" for i in range(240)] + ["/api/v1/books/987654321"] * 60

    statuses = requests_at(server.base, paths)

    assert (statuses.count(200), statuses.count(404)) == (240, 60)
    wait_for(lambda: scalar(prometheus, total) == before + 300, "300 more lookups counted")
    by_class = prometheus(f"sum by (status_class) (bookapi_http_request_duration_seconds_count{{{LOOKUP}}})")
    assert by_class == {'{"status_class": "2xx"}': 240.0, '{"status_class": "4xx"}': 60.0}
    assert scalar(prometheus, f'sum(bookapi_http_request_duration_seconds_count{{{LOOKUP},status_class="4xx"}}) '
                              f"/ sum(bookapi_http_request_duration_seconds_count{{{LOOKUP}}})") == pytest.approx(0.2)
    assert scalar(prometheus, f"sum(bookapi_http_request_duration_seconds_bucket{{{LOOKUP},le=\"+Inf\"}})") == 300
    # Served by several workers, whose counts are the sum above.
    served_by = {int(path.stem.rpartition("_")[2]) for path in server.multiproc.glob("counter_*.db")}
    assert len(served_by & workers_of(server.process.pid)) >= 2


def test_pool_and_build_metrics_and_recording_rules_come_from_the_workers(server, prometheus):
    requests_at(server.base, ["/api/v1/books"] * 12)

    saturation = wait_for(lambda: prometheus('instance_pool:bookapi_db_pool:saturation{pool="reads"}'),
                          "the pool saturation rule evaluated")
    assert all(0 <= value <= 1 for value in saturation.values())
    assert scalar(prometheus, 'sum(bookapi_db_pool_capacity{pool="reads"})') % 30 == 0
    assert scalar(prometheus, 'sum(bookapi_db_query_duration_seconds_count{pool="reads"})') >= 12
    assert scalar(prometheus, 'count(bookapi_build_info{version!="",revision!=""})') == 1
    assert scalar(prometheus, 'process_start_time_seconds{job="bookapi"}') > 0


def hold_request(port):
    """A login whose body never arrives in full: a worker holds it, in flight, until the connection closes."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 100\r\n\r\n{")
    return connection


def test_worker_killed_and_replaced_leaves_no_stale_in_flight_gauge(server, prometheus):
    port = int(server.base.rpartition(":")[2])
    in_flight = "sum(bookapi_http_requests_in_flight)"
    held = [hold_request(port) for _ in range(WORKERS)]
    try:
        wait_for(lambda: scalar(prometheus, in_flight) == WORKERS, "one request in flight in each worker")
        victim = min(workers_of(server.process.pid))

        os.kill(victim, signal.SIGKILL)

        wait_for(lambda: victim not in workers_of(server.process.pid)
                 and len(workers_of(server.process.pid)) == WORKERS, "the killed worker replaced")
        wait_for(lambda: scalar(prometheus, in_flight) == WORKERS - 1, "the killed worker's request gone")
        assert not list(server.multiproc.glob(f"gauge_live*_{victim}.db"))
    finally:
        for connection in held:
            connection.close()
    wait_for(lambda: scalar(prometheus, in_flight) == 0, "nothing in flight once the connections close")


def test_metrics_are_not_on_the_public_port(server):
    assert get(f"{server.base}/metrics")[0] == 404


def test_metrics_listener_answers_on_its_bind_address_only(server):
    status, body = get(f"http://127.0.0.1:{server.metrics_port}/metrics")
    assert status == 200 and b"bookapi_build_info{" in body
    with closing(socket.socket()) as probe:
        # Another loopback address of this machine: METRICS_BIND's default, 127.0.0.1, does not listen there.
        assert probe.connect_ex(("127.0.0.2", server.metrics_port)) != 0


GUNICORN_CONFIG_RUN = """
import os, pathlib, runpy, sys
config = runpy.run_path("gunicorn.conf.py")
directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
def listing():
    return sorted(p.name for p in pathlib.Path(directory).iterdir() if not p.name.startswith(".bookapi-master-"))
print(directory, directory is not None and listing())
if directory is not None:
    # A worker's file, then gunicorn reading its config again, as on HUP: the file stays.
    pathlib.Path(directory, "counter_4242.db").write_bytes(b"\\0" * 8)
    runpy.run_path("gunicorn.conf.py")
    print(os.environ["PROMETHEUS_MULTIPROC_DIR"] == directory and listing())
config["on_exit"](None)
print(directory is not None and pathlib.Path(directory).exists() and listing())
"""


def run_gunicorn_config(**settings):
    env = {name: value for name, value in os.environ.items()
           if name not in ("PROMETHEUS_MULTIPROC_DIR", "METRICS_ENABLED")}
    found = subprocess.run([sys.executable, "-c", GUNICORN_CONFIG_RUN], cwd=ROOT, env={**env, **settings},
                           capture_output=True, text=True, timeout=60, check=True)
    return found.stdout.splitlines()


def test_gunicorn_config_makes_a_private_metrics_directory_and_removes_it_on_exit():
    made, reread, removed = run_gunicorn_config()
    directory, _, listing = made.partition(" ")

    assert Path(directory).name.startswith("bookapi-metrics-") and listing == "[]"
    assert reread == "['counter_4242.db']"
    assert removed == "False"
    assert not Path(directory).exists()


def test_gunicorn_config_empties_a_given_metrics_directory_of_an_earlier_runs_files_alone(tmp_path):
    (tmp_path / "gauge_livesum_12345.db").write_bytes(b"\0" * 8)
    (tmp_path / "histogram_12345.db").write_bytes(b"\0" * 8)
    (tmp_path / "README").write_text("not ours")
    (tmp_path / "inventory.db").write_text("not ours either")

    made, reread, kept = run_gunicorn_config(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))

    assert made == f"{tmp_path} ['README', 'inventory.db']"
    assert reread == "['README', 'counter_4242.db', 'inventory.db']"
    assert kept == "['README', 'counter_4242.db', 'inventory.db']"
    assert [path.name for path in tmp_path.glob(".bookapi-master-*")] == []


def test_gunicorn_config_with_metrics_disabled_sets_no_metrics_directory():
    assert run_gunicorn_config(METRICS_ENABLED="false") == ["None False", "False"]

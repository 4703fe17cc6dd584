"""Real processes that a reliability test owns, so that it may break them: a PostgreSQL cluster, a Redis server,
the service under gunicorn, and a bounded load generator that records every outcome.

The service runs as `make run` and the image run it (gunicorn with gunicorn.conf.py, production settings), on
the cluster or Redis of the test, on ports nobody else uses.
"""
import http.client
import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess  # nosec B404  # the test starts the servers it breaks
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
ADMIN_EMAIL = "reliability-admin@example.com"
ADMIN_PASSWORD = "sturdy harbour lighthouse 7781"
PREPARE = """
import sys
from flask_migrate import upgrade
from wsgi import app
with app.app_context():
    upgrade()
    made = app.test_cli_runner().invoke(args=["users", "create-admin", sys.argv[1], "--password-stdin"],
                                        input=sys.stdin.read())
sys.exit(print(made.output, made.exception or "", file=sys.stderr) or made.exit_code)
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout} s")


def children_of(pid):
    """The live processes whose parent is ``pid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name, in parentheses, may hold spaces: the fields after its closing parenthesis are fixed.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


class Postgres:
    """A PostgreSQL cluster of the test's own, made by initdb from the installed server and run by pg_ctl (as the
    ``postgres`` account when the tests run as root, which the server refuses to be)."""

    def __init__(self, template=None, **settings):
        """A new cluster; or, given the ``template`` cluster (stopped), a copy of its files: the databases it holds
        at a fraction of the cost of making them again."""
        # Not under pytest's temporary directories: those only their owner may enter, and the server runs as another.
        self.directory = Path(tempfile.mkdtemp(prefix="bookapi-postgres-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        if template is None:
            self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        else:
            shutil.copytree(template.data, self.data, symlinks=True)
            if os.geteuid() == 0:
                for path in [self.data, *self.data.rglob("*")]:
                    shutil.chown(path, "postgres", "postgres")
        # Appended after a template's own lines, which these then override.
        conf = {
            "listen_addresses": "'127.0.0.1'", "port": self.port, "unix_socket_directories": f"'{self.directory}'",
            "max_connections": 200, "shared_buffers": "'64MB'", "fsync": "on", "logging_collector": "off", **settings,
        }
        with open(self.data / "postgresql.auto.conf", "a") as auto:
            auto.writelines(f"{name} = {value}\n" for name, value in conf.items())

    def run(self, tool, *args):
        argv = [str(PG_BIN / tool), *map(str, args)]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)  # nosec B603

    def start(self):
        self.run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        self.run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def is_running(self):
        return (self.data / "postmaster.pid").exists()

    def url(self, database="bookapi"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql, database="postgres"):
        """One statement's rows as text lines."""
        argv = ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-XAtc", sql]
        result = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60)  # nosec B603
        return result.stdout.splitlines()

    def cleanup(self):
        if self.is_running():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class Redis:
    """A Redis server of the test's own, keeping nothing on disk."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.port = free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--dir", str(self.directory)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # nosec B603
        wait_for(self.answers, 10, what="redis answering")

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Service:
    """bookapi served by gunicorn with the shipped gunicorn.conf.py and production settings."""

    def __init__(self, directory, database_url, workers=2, **settings):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.directory / "service.log"
        self.process = None
        self.env = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("DATABASE_URL", "TEST_DATABASE_URL", "REDIS_URL", "PYTEST", "COV_"))
        }
        self.env.update({
            "APP_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": database_url,
            "PORT": str(self.port), "WEB_CONCURRENCY": str(workers), "FLASK_APP": "wsgi",
        })
        self.env.update({name: str(value) for name, value in settings.items()})

    def flask(self, *args, stdin=None):
        return subprocess.run(  # nosec B603
            [str(BIN / "flask"), *args], cwd=ROOT, env=self.env, input=stdin, capture_output=True, text=True,
            timeout=300, check=True,
        )

    def prepare(self):
        """Migrate the database and open the admin account the load signs in with: `flask db upgrade` and `flask
        users create-admin`, run in one process, as importing the app takes seconds on a busy machine."""
        if self.is_prepared():
            return
        subprocess.run(  # nosec B603
            [str(BIN / "python"), "-c", PREPARE, ADMIN_EMAIL], cwd=ROOT, env=self.env, input=ADMIN_PASSWORD + "\n",
            capture_output=True, text=True, timeout=300, check=True,
        )

    def is_prepared(self):
        """Whether the database already holds the admin account (a copy of a prepared cluster does)."""
        argv = ["psql", self.env["DATABASE_URL"], "-XAtc", f"SELECT count(*) FROM users WHERE email = '{ADMIN_EMAIL}'"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)  # nosec B603
        return result.returncode == 0 and result.stdout.strip() == "1"

    def start(self, ready_timeout=60):
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(  # nosec B603
                [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for(lambda: self.status("/health") == 200, ready_timeout, what="gunicorn serving /health")

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def status(self, path, timeout=5):
        try:
            return request("GET", self.port, path, timeout=timeout).status
        except OSError:
            return None

    def workers(self):
        return children_of(self.process.pid)

    def signal(self, signum):
        os.kill(self.process.pid, signum)

    def stop(self, timeout=30):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def log_text(self):
        return self.log.read_text(errors="replace")

    def events(self, **matching):
        """The JSON log events (production's LOG_FORMAT) whose fields include ``matching``."""
        found = []
        for line in self.log_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and matching.items() <= event.items():
                found.append(event)
        return found

    def sign_in(self):
        """An admin's access token."""
        response = request("POST", self.port, "/api/v1/auth/login",
                           {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert response.status == 200, response.body
        return response.json()["access_token"]


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes
    elapsed: float

    def json(self):
        return json.loads(self.body)


def request(method, port, path, body=None, headers=None, timeout=10, connection=None):
    """One HTTP request; raises OSError (a refused, reset or timed out connection) when no answer came."""
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    payload = None if body is None else json.dumps(body).encode()
    sent_headers = {"Content-Type": "application/json"} if payload is not None else {}
    sent_headers.update(headers or {})
    started = time.perf_counter()
    try:
        connection.request(method, path, body=payload, headers=sent_headers)
        answer = connection.getresponse()
        content = answer.read()
    except http.client.HTTPException as error:
        connection.close()
        raise ConnectionError(str(error)) from error
    except OSError:
        connection.close()
        raise
    finally:
        if own:
            connection.close()
    return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, content,
                    time.perf_counter() - started)


@dataclass
class Outcome:
    started: float
    elapsed: float
    status: int | None
    error: str | None = None
    detail: dict = field(default_factory=dict)
    sent: dict | None = None
    path: str | None = None


class Load:
    """A bounded, closed-loop load: ``clients`` threads each send ``make_request(client, n)``'s request, one after
    another, until stopped; every outcome is kept (status, latency, or the connection error).

    ``make_request`` returns ``(method, path, body, headers)``. A thread keeps one keep-alive connection and opens
    a new one after an error, as an HTTP client library would.
    """

    def __init__(self, port, make_request, clients=4, timeout=10, pause=0.0):
        self.port, self.make_request, self.clients = port, make_request, clients
        self.timeout, self.pause = timeout, pause
        self.outcomes = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []

    def run_client(self, client):
        connection, n = None, 0
        while not self.stopping.is_set():
            method, path, body, headers = self.make_request(client, n)
            n += 1
            connection = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                response = request(method, self.port, path, body, headers, connection=connection)
                outcome = Outcome(started, response.elapsed, response.status, sent=body, path=path,
                                  detail={"headers": response.headers, "body": response.body})
            except OSError as error:
                connection = None
                outcome = Outcome(started, time.perf_counter() - started, None, type(error).__name__, sent=body,
                                  path=path)
            with self.lock:
                self.outcomes.append(outcome)
            if self.pause:
                self.stopping.wait(self.pause)

    def __enter__(self):
        self.threads = [threading.Thread(target=self.run_client, args=(c,), daemon=True) for c in range(self.clients)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(self.timeout + 5)

    def statuses(self):
        with self.lock:
            return Counter(o.status if o.status is not None else o.error for o in self.outcomes)

    def since(self, moment):
        with self.lock:
            return [o for o in self.outcomes if o.started >= moment]


def p99(outcomes):
    latencies = sorted(o.elapsed for o in outcomes)
    return latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None


def database_server_url(database_url, database):
    """``database_url`` pointing at another database of the same server. The URL may name a unix socket directory
    in its query (``?host=/path``), as the embedded PostgreSQL's does, so it is parsed rather than cut at a slash."""
    return make_url(database_url).set(database=database).render_as_string(hide_password=False)


class TableLock:
    """A transaction of the test's own holding ``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE``: every statement of the
    service that touches the table waits in PostgreSQL, as behind a long migration, until ``release``."""

    def __init__(self, database_url, table):
        self.database_url = database_url
        self.connection = psycopg2.connect(database_url)
        with self.connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")

    def waiting(self):
        """How many of the service's statements wait for a lock."""
        with psycopg2.connect(self.database_url) as observer, observer.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bookapi' "
                           "AND wait_event_type = 'Lock'")
            count = cursor.fetchone()[0]
        observer.close()
        return count

    def release(self):
        if not self.connection.closed:
            self.connection.rollback()
            self.connection.close()


NGINX_CONFIG = ROOT / "deploy" / "nginx.conf"
NGINX_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def render_nginx_config(text, port, upstream_ports, directory):
    """deploy/nginx.conf with the test's listen port, upstream servers (each with the shipped server's
    parameters) and temporary directories in place of the container's; nothing else changes."""
    def once(pattern, replacement, text):
        rendered, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count == 1, f"deploy/nginx.conf should have exactly one line matching {pattern!r}"
        return rendered

    text = once(r"^(\s*)listen 8080;$", rf"\g<1>listen 127.0.0.1:{port};", text)
    text = once(r"^(\s*)server api:8000( [^;]*)?;$",
                lambda m: "\n".join(f"{m[1]}server 127.0.0.1:{p}{m[2] or ''};" for p in upstream_ports), text)
    paths = "".join(f"\n    {kind}_temp_path {directory / kind};" for kind in NGINX_TEMP_PATHS)
    return once(r"^http \{$", "http {" + paths, text)


class Nginx:
    """The Debian package's nginx running deploy/nginx.conf in front of ``upstream_ports``, on a port, prefix,
    pid file and temporary directories of its own, in the foreground (never the system's nginx)."""

    def __init__(self, upstream_ports):
        self.binary = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
        assert self.binary, "nginx is not installed (apt-get install nginx; .ci/run does)"
        # Not under pytest's temporary directories: nginx's workers run as another account when the tests are root.
        self.directory = Path(tempfile.mkdtemp(prefix="bookapi-nginx-"))
        self.directory.chmod(0o755)
        self.port = free_port()
        self.config = self.directory / "nginx.conf"
        self.config.write_text(render_nginx_config(NGINX_CONFIG.read_text(), self.port, upstream_ports,
                                                   self.directory))
        self.log = self.directory / "nginx.log"
        self.process = None

    def argv(self, *args):
        return [self.binary, "-p", str(self.directory), "-c", str(self.config), "-e", "stderr",
                "-g", f"daemon off; pid {self.directory / 'nginx.pid'};", *args]

    def check(self):
        """``nginx -t`` on the rendered file: its exit status and what it said."""
        result = subprocess.run(self.argv("-t"), capture_output=True, text=True, timeout=30)  # nosec B603
        return result.returncode, result.stderr

    def start(self):
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT)  # nosec B603
        wait_for(lambda: request_status(self.port, "/health") == 200, 20, what="nginx passing /health through")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_text(self):
        return self.log.read_text(errors="replace")


def request_status(port, path, timeout=5):
    try:
        return request("GET", port, path, timeout=timeout).status
    except OSError:
        return None


class SlowClients:
    """``count`` connections that each send one request a byte a second, from one thread; ``open()`` tells how
    many the server has not closed yet."""

    REQUEST = b"GET /api/v1/books?size=5 HTTP/1.1\r\nHost: bookapi\r\nUser-Agent: slow-client\r\n\r\n"

    def __init__(self, port, count):
        self.port, self.count = port, count
        self.sockets = []
        self.closed = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.trickle, daemon=True)

    def trickle(self):
        sent = 0
        while not self.stopping.wait(1) and sent < len(self.REQUEST):
            for index, connection in enumerate(self.sockets):
                if index in self.closed:
                    continue
                try:
                    connection.sendall(self.REQUEST[sent:sent + 1])
                except OSError:
                    self.closed.add(index)
            sent += 1

    def open(self):
        return len(self.sockets) - len(self.closed)

    def __enter__(self):
        for _ in range(self.count):
            self.sockets.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(5)
        for connection in self.sockets:
            connection.close()


# Sent this long after it was due, a request went out in a burst: an OpenLoad had fallen behind.
SENT_LATE = 0.05


class OpenLoad:
    """An open-loop load: ``rate`` requests a second for ``seconds``, each started when it is due whatever the
    earlier ones did, by a pool of ``max_outstanding`` threads. A request due while every thread waits for an
    answer is counted in ``unsent``, never queued, so the generator stays bounded and never turns into a closed
    loop. A request's latency counts from when it was due; how late the generator sent it is its ``detail["late"]``
    (seconds), so that a burst the generator made while it could not keep up can be told from the service's doing."""

    def __init__(self, port, make_request, rate, seconds, max_outstanding=200, timeout=30):
        self.port, self.make_request = port, make_request
        self.rate, self.seconds, self.max_outstanding, self.timeout = rate, seconds, max_outstanding, timeout
        self.outcomes = []
        self.unsent = 0
        self.lock = threading.Lock()

    def run(self):
        jobs = queue.SimpleQueue()
        free = threading.Semaphore(self.max_outstanding)
        threads = [threading.Thread(target=self.send, args=(jobs, free), daemon=True)
                   for _ in range(self.max_outstanding)]
        for thread in threads:
            thread.start()
        start = time.perf_counter()
        for n in range(int(self.rate * self.seconds)):
            due = start + n / self.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if free.acquire(blocking=False):
                jobs.put((due, n))
            else:
                self.unsent += 1
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join(self.timeout + 5)
        return self

    def send(self, jobs, free):
        connection = None
        while (job := jobs.get()) is not None:
            due, n = job
            method, path, body, headers = self.make_request(0, n)
            connection = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            late = {"late": time.perf_counter() - due}
            try:
                response = request(method, self.port, path, body, headers, connection=connection)
                outcome = Outcome(due, time.perf_counter() - due, response.status, detail=late)
            except OSError as error:
                connection = None
                outcome = Outcome(due, time.perf_counter() - due, None, type(error).__name__, detail=late)
            with self.lock:
                self.outcomes.append(outcome)
            free.release()

    def statuses(self):
        return Counter(o.status if o.status is not None else o.error for o in self.outcomes)

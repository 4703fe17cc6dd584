"""`make bench` (``python -m benchmarks.run``): the service against a raw-WSGI ceiling, at 10,000 and 1,000,000 books.

Fills (or reuses) two databases, serves each with the service as `make run` ships it and with benchmarks/ceiling.py,
drives both with wrk, and writes benchmarks/RESULTS.md. See benchmarks/README.md for what is measured. Every process
it starts is stopped on the way out, whatever the way out is.
"""
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import psycopg2

from tests.served import OtlpCollector

from . import ceiling, dataset
from .processes import BenchmarkError, Load, Server, free_port, http_get, pids_cpu_seconds
from .results import Run, render, runs_table, targets, targets_table
from .scenarios import CONSOLE_LOGS, ROUNDED_SCENARIOS, SCENARIOS, TRACED, UNMETERED, NotAvailable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
RESULTS = HERE / "RESULTS.md"
SERVICE_APPLICATION_NAME = "bookapi"
INSTALL_WRK = "wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)."
# Every setting the service and gunicorn.conf.py read is listed in .env.example (a test keeps it so).
SETTING = re.compile(r"^# ([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# The ceiling is the least work that can answer: no access log, gunicorn logging warnings only.
CEILING_SETTINGS = {"GUNICORN_ACCESS_LOG": "", "LOG_LEVEL": "warning", "GUNICORN_GRACEFUL_TIMEOUT": "5"}


@dataclass(frozen=True)
class Catalogue:
    url: str
    books: int
    fill_seconds: float | None
    author: str


def env_int(name, default):
    return int(os.environ.get(name) or default)


def database_url(variable, database):
    """The URL in ``variable``, else a database of the embedded PostgreSQL (started if need be)."""
    if os.environ.get(variable):
        return os.environ[variable]
    made = subprocess.run([sys.executable, str(ROOT / "scripts" / "devdb.py"), database], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    if made.returncode != 0:
        raise BenchmarkError(f"scripts/devdb.py {database} failed:\n{made.stderr[-2000:]}")
    return made.stdout.strip().splitlines()[-1]


def libpq_url(url):
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


def prepare(url, books):
    """Migrate the database, fill it unless it already holds exactly books 1..N, and learn what probes need."""
    migrated = subprocess.run([str(BIN / "flask"), "db", "upgrade"], cwd=ROOT, capture_output=True, text=True,
                              timeout=1800, env={**os.environ, "FLASK_APP": "wsgi", "DATABASE_URL": url})
    if migrated.returncode != 0:
        hint = ("\nThe database was migrated by another migration history: drop it and rerun."
                if "Can't locate revision" in migrated.stderr else "")
        last_lines = "\n".join(migrated.stderr.strip().splitlines()[-12:])
        raise BenchmarkError(f"flask db upgrade failed on {url}:\n{last_lines}{hint}")
    connection = psycopg2.connect(libpq_url(url), connect_timeout=10)
    connection.autocommit = True
    try:
        seconds = None
        if not dataset.is_filled(connection, books):
            print(f"  filling {books:,} books (once; later runs reuse them) ...", flush=True)
            seconds = dataset.fill(connection, books)
            print(f"  filled in {seconds:.0f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT author FROM books WHERE id = 1")
            (author,) = cursor.fetchone()
    finally:
        connection.close()
    return Catalogue(url, books, seconds, author)


def shipped_environment(settings):
    """This process's environment without any of the service's settings, then ``settings``: the service sees
    exactly what `make run` would give it, whatever the shell running the benchmark exports."""
    documented = set(SETTING.findall((ROOT / ".env.example").read_text()))
    return {**{k: v for k, v in os.environ.items() if k not in documented}, **settings}


def servers(catalogue, workers, variants=None):
    """The service started as `make run` starts it (on a port of its own; DATABASE_URL, PORT and WEB_CONCURRENCY set,
    nothing else), the ceiling with its lean settings, on loopback, and the service once more for each of
    ``variants`` ({app name: settings}), with those settings changed from what it ships."""
    ceiling_port = free_port()
    lean = shipped_environment({"DATABASE_URL": catalogue.url, "WEB_CONCURRENCY": str(workers), **CEILING_SETTINGS})
    gunicorn = [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py"]
    started = {}
    for app, settings in {"service": {}, **(variants or {})}.items():
        port = free_port()
        environment = shipped_environment({"DATABASE_URL": catalogue.url, "PORT": str(port),
                                           "WEB_CONCURRENCY": str(workers), **settings})
        log_name = re.sub(r"[^a-z0-9]+", "-", app).strip("-")
        started[app] = Server(app, [*gunicorn, "wsgi:app"], environment, port, "/health/ready",
                              HERE / f"{log_name}-{catalogue.books}.log", ROOT)
    started["ceiling"] = Server("ceiling", [*gunicorn, "--bind", f"127.0.0.1:{ceiling_port}", "benchmarks.ceiling:app"],
                                lean, ceiling_port, "/books/1", HERE / f"ceiling-{catalogue.books}.log", ROOT)
    return started


def same_shape(service, ceiling):
    """A note on whether both apps answer book 1 and the first page alike (they should: same fields, same values)."""
    _, service_book = http_get(service.base_url + "/api/v1/books/1")
    _, ceiling_book = http_get(ceiling.base_url + "/books/1")
    _, service_page = http_get(service.base_url + "/api/v1/books?size=20")
    _, ceiling_page = http_get(ceiling.base_url + "/books?size=20")
    if service_book != ceiling_book:
        return f"book 1 differs: service {service_book}, ceiling {ceiling_book}"
    if (service_page or {}).get("items") != (ceiling_page or {}).get("items"):
        return "the first page's books differ between service and ceiling"
    keys = sorted(set(service_page) ^ set(ceiling_page))
    return "identical books; page keys " + (f"differ: {', '.join(keys)}" if keys else "identical")


class BackendCpu:
    """CPU used so far by the PostgreSQL backends of one app (found by application_name), when they run on this
    machine. Backends that exit keep their last reading, so the count never goes backwards."""

    def __init__(self, connection, application_name):
        self.connection, self.application_name, self.seen = connection, application_name, {}

    def __call__(self):
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                           "AND application_name = %s", (self.application_name,))
            self.seen.update(pids_cpu_seconds([pid for (pid,) in cursor.fetchall()]))
        return sum(self.seen.values())


@dataclass
class Deployment:
    """Both apps serving one catalogue, with meters on their workers and on their database backends."""

    catalogue: Catalogue
    servers: dict
    backends: dict

    @classmethod
    def start(cls, catalogue, workers, stack, variants=None):
        monitor = psycopg2.connect(libpq_url(catalogue.url), connect_timeout=10, application_name="bookapi-bench")
        monitor.autocommit = True
        stack.callback(monitor.close)
        started = servers(catalogue, workers, variants)
        for server in started.values():
            stack.callback(server.stop)
            server.start()
        # The variants' backends share the service's application_name: an idle backend adds no CPU to the count.
        backends = {app: BackendCpu(monitor, SERVICE_APPLICATION_NAME) for app in started}
        backends["ceiling"] = BackendCpu(monitor, ceiling.APPLICATION_NAME)
        return cls(catalogue, started, backends)

    def measure(self, scenario, load, wrk_log, round_number=1):
        server, backend = self.servers[scenario.app], self.backends[scenario.app]
        run = Run(scenario.name, scenario.app, self.catalogue.books, scenario.kind, scales=scenario.scales,
                  round=round_number)
        label = f"  {scenario.name:<20} {scenario.app:<8} {self.catalogue.books:>9,} r{round_number}"
        try:
            path, run.note = scenario.resolve(server.base_url, self.catalogue)
        except NotAvailable as reason:
            run.note = str(reason)
            print(f"{label}  skipped: {reason}", flush=True)
            return run
        if scenario.connections:
            load = replace(load, threads=min(load.threads, scenario.connections), connections=scenario.connections)
        run.figures = load.run(server.base_url, path, self.catalogue.books, wrk_log,
                               meter=lambda: {"app": server.cpu_seconds(), "db": backend()})
        f = run.figures
        print(f"{label} {f['rps']:7,.0f} req/s  p50 {f['p50_ms']:6.1f} ms  p99 {f['p99_ms']:6.1f} ms  "
              f"non-2xx {f['non_2xx']}  CPU/req app {f['app_cpu_ms']:.2f} ms, db {f['db_cpu_ms']:.2f} ms", flush=True)
        return run


def settled(servers, within=60, idle_share=0.05):
    """Wait until freshly started servers go quiet: a server answers as soon as one worker has imported the app,
    and the others' imports would otherwise land in the first measurements."""
    deadline = time.monotonic() + within
    used = sum(server.cpu_seconds() for server in servers)
    while time.monotonic() < deadline:
        time.sleep(1)
        used, before = sum(server.cpu_seconds() for server in servers), used
        if used - before < idle_share:
            return True
    print(f"  (the servers were still busy after {within} s; measuring anyway)", flush=True)
    return False


def measure(catalogues, workers, load, wrk_log, rounds):
    """Every scenario, with the runs a ratio compares (service and ceiling, small and large) back to back, so that
    the machine's other work drifts as little as possible between them. Every other scenario (and round) runs them
    in reverse order, so that going first or last does not always favour the same side. ROUNDED_SCENARIOS run
    ``rounds`` times: on a shared machine one pair of runs can land on a busy moment of one side, and the targets
    are held to the median of the rounds' ratios."""
    runs, notes = [], []
    with ExitStack() as stack:
        # Where the traced service sends its spans: what a traced service pays is its own work (sampling, spans,
        # the exporter's encoding and POSTs), not a collector's.
        sink = stack.enter_context(OtlpCollector())
        # What tracing and metrics cost is measured on the small catalogue alone.
        variants = {TRACED: {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_TRACES_SAMPLER": "traceidratio",
                             "OTEL_TRACES_SAMPLER_ARG": "0.1"},
                    UNMETERED: {"METRICS_ENABLED": "false"}, CONSOLE_LOGS: {"LOG_FORMAT": "console"}}
        deployments = [Deployment.start(catalogue, workers, stack, variants if i == 0 else None)
                       for i, catalogue in enumerate(catalogues)]
        settled([server for deployment in deployments for server in deployment.servers.values()])
        for deployment in deployments:
            notes.append(f"{deployment.catalogue.books:,} books, JSON of service and ceiling: "
                         + same_shape(deployment.servers["service"], deployment.servers["ceiling"]))
        turn = 0
        for name in dict.fromkeys(scenario.name for scenario in SCENARIOS):
            pairs = [(d, s) for d in deployments for s in SCENARIOS if s.name == name and s.app in d.servers]
            for round_number in range(1, (rounds if name in ROUNDED_SCENARIOS else 1) + 1):
                order = range(len(pairs)) if turn % 2 == 0 else reversed(range(len(pairs)))
                measured = {i: pairs[i][0].measure(pairs[i][1], load, wrk_log, round_number) for i in order}
                runs += [measured[i] for i in range(len(pairs))]
                turn += 1
        notes.append(f"{TRACED}: {len(sink.spans):,} spans in {sink.batches:,} batches reached the OTLP collector")
    return runs, notes


def serialization():
    done = subprocess.run([sys.executable, "-m", "benchmarks.serialize", "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise BenchmarkError(f"benchmarks/serialize.py failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def search_database_times(catalogue):
    """benchmarks/dbtime.py on ``catalogue``: p50 and p95 database time of each search, run one at a time."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.dbtime", "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "DATABASE_URL": catalogue.url, "LOG_LEVEL": "warning"})
    if done.returncode != 0:
        raise BenchmarkError(f"benchmarks/dbtime.py failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_only_git(*args):
    try:
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    commit = read_only_git("rev-parse", "--short", "HEAD") or "unknown"
    if read_only_git("status", "--porcelain", "--untracked-files=no"):
        commit += " with uncommitted changes"
    return {"cores": len(os.sched_getaffinity(0)), "cpu": cpu, "python": platform.python_version(), "commit": commit}


def postgres_version(url):
    connection = psycopg2.connect(libpq_url(url), connect_timeout=10)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def stop_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main():
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    if shutil.which("wrk") is None:
        sys.exit(INSTALL_WRK)
    sizes = (env_int("BENCH_SMALL_BOOKS", 10_000), env_int("BENCH_LARGE_BOOKS", 1_000_000))
    workers = env_int("BENCH_WORKERS", 4)
    rounds = env_int("BENCH_ROUNDS", 3)
    load = Load(threads=env_int("BENCH_THREADS", 2), connections=env_int("BENCH_CONNECTIONS", 16),
                duration=env_int("BENCH_DURATION", 10), warmup=env_int("BENCH_WARMUP", 5))
    urls = (database_url("BENCH_DATABASE_URL", "bookapi_bench"),
            database_url("BENCH_LARGE_DATABASE_URL", "bookapi_bench_large"))

    catalogues = []
    for url, books in zip(urls, sizes):
        print(f"catalogue of {books:,} books: migrating ...", flush=True)
        catalogues.append(prepare(url, books))
    print("serialization micro-benchmark ...", flush=True)
    micro = serialization()
    context = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "machine": machine(),
               "postgres": postgres_version(urls[0]), "load": load, "sizes": sizes, "workers": workers,
               "catalogues": catalogues, "dotenv": (ROOT / ".env").exists(), "load_before": "%.1f" % os.getloadavg()[0]}
    print(f"serving each catalogue with both apps, {workers} workers each; "
          f"{load.warmup} s warm-up + {load.duration} s per run ...", flush=True)
    with open(HERE / "wrk.log", "w") as wrk_log:
        runs, notes = measure(catalogues, workers, load, wrk_log, rounds)
    context["load_after"] = "%.1f" % os.getloadavg()[0]
    print(f"database time of searches on {sizes[1]:,} books, one request at a time ...", flush=True)
    db_times = search_database_times(catalogues[1])
    report = render(context, runs, notes, micro, db_times)
    RESULTS.write_text(report)
    print("\n" + runs_table(runs) + "\n\n" + targets_table(targets(runs, sizes, db_times)))
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    started = time.monotonic()
    try:
        main()
    except BenchmarkError as error:
        sys.exit(f"bench: {error}")
    print(f"make bench took {time.monotonic() - started:.0f} s")

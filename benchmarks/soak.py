"""`make soak` (``python -m benchmarks.soak``): the service as shipped, behind deploy/nginx.conf, on a PostgreSQL
cluster and a Redis of its own, at half its measured capacity for SOAK_MINUTES (30), with a fault every tenth of
the run: a worker killed with -9, a HUP, a fast restart of PostgreSQL, a restart of Redis, in turn.

It writes benchmarks/SOAK.md (memory per worker, p99 and errors over time, connections, the faults) and
benchmarks/soak.png, and prints the markdown. Not part of CI: it runs for half an hour.
"""
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from tests.factories import BookPayload
from tests.reliability.harness import SENT_LATE, Load, Nginx, OpenLoad, Postgres, Redis, Service, p99, wait_for

HERE = Path(__file__).resolve().parent
REPORT = HERE / "SOAK.md"
PLOT = HERE / "soak.png"
WORKERS = 2
BOOKS = 1_000
CAPACITY_SECONDS = 10
FAULTS = ("worker -9", "HUP", "PostgreSQL fast restart", "Redis restart")


class Traffic:
    """The mix sent: 6 in 10 a page of 20 books, 3 in 10 one book, 1 in 10 a new book by the admin."""

    def __init__(self, token):
        self.headers = {"Authorization": f"Bearer {token}"}
        self.random = random.Random(7)  # nosec B311  # which book to read: nothing secret

    def __call__(self, client, n):
        if n % 10 == 0:
            return "POST", "/api/v1/books", BookPayload(), self.headers
        if n % 10 < 4:
            return "GET", f"/api/v1/books/{self.random.randint(1, BOOKS)}", None, {}
        return "GET", f"/api/v1/books?size=20&page={self.random.randint(1, 20)}", None, {}


def rss_mib(pid):
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def established(port):
    """TCP connections established to ``port`` on this machine (the service's side of nginx's connections)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count


class Sampler(threading.Thread):
    """Every ``interval`` seconds: each worker's and the master's RSS, the service's PostgreSQL sessions (all, and
    idle in transaction) and its established connections."""

    def __init__(self, service, postgres, interval, origin):
        super().__init__(daemon=True)
        self.service, self.postgres, self.interval, self.origin = service, postgres, interval, origin
        self.samples = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(self.interval):
            self.samples.append(self.sample())

    def sample(self):
        try:
            sessions = self.postgres.psql(
                "SELECT count(*), count(*) FILTER (WHERE state = 'idle in transaction') FROM pg_stat_activity "
                "WHERE application_name = 'bookapi'")[0].split("|")
            sessions = tuple(map(int, sessions))
        except Exception:  # noqa: BLE001  # the cluster is being restarted: no figure for this sample
            sessions = (None, None)
        return {
            "t": time.perf_counter() - self.origin,
            "workers": {pid: rss_mib(pid) for pid in self.service.workers()},
            "master": rss_mib(self.service.process.pid),
            "sessions": sessions[0], "idle_in_transaction": sessions[1],
            "established": established(self.service.port),
        }


def inject(fault, service, postgres, redis):
    """Do ``fault``; what happened, in a few words."""
    started = time.monotonic()
    if fault == "worker -9":
        victim = service.workers()[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(service.workers()) == WORKERS and victim not in service.workers(), 60,
                 what="a worker in place of the killed one")
        return f"worker {victim} killed, replaced in {time.monotonic() - started:.1f} s"
    if fault == "HUP":
        old = set(service.workers())
        service.signal(signal.SIGHUP)
        wait_for(lambda: len(service.workers()) == WORKERS and not set(service.workers()) & old, 60,
                 what="workers replaced after HUP")
        return f"workers {sorted(old)} replaced in {time.monotonic() - started:.1f} s"
    if fault == "PostgreSQL fast restart":
        postgres.stop("fast")
        postgres.start()
        return f"cluster down and up again in {time.monotonic() - started:.1f} s"
    redis.stop()
    redis.start()
    return f"redis killed and started again in {time.monotonic() - started:.1f} s"


def measure_capacity(port, traffic):
    with Load(port, traffic, clients=8) as warm_up:
        warm_up.stopping.wait(2)
    with Load(port, traffic, clients=8) as closed:
        closed.stopping.wait(CAPACITY_SECONDS)
    return sum(succeeded(o) for o in closed.outcomes) / CAPACITY_SECONDS


def succeeded(outcome):
    return outcome.status is not None and outcome.status < 300


def kind(outcome):
    return str(outcome.status or outcome.error)


def sent_late(outcome):
    return outcome.detail.get("late", 0.0) > SENT_LATE


def windows(outcomes, width, end):
    """Per ``width`` seconds: answered requests, their p99, what failed, by kind, and how many requests the
    generator sent late (in a burst of its own making), failed ones among them."""
    rows = []
    start = 0.0
    while start < end:
        inside = [o for o in outcomes if start <= o.started < start + width]
        good = [o for o in inside if succeeded(o)]
        errors = Counter(kind(o) for o in inside if not succeeded(o))
        late = [o for o in inside if sent_late(o)]
        rows.append({"start": start, "count": len(inside), "p99": p99(good), "errors": errors, "late": len(late),
                     "late_failed": sum(not succeeded(o) for o in late)})
        start += width
    return rows


def worker_memory(samples):
    """Each worker's first and last RSS, and when it was seen."""
    seen = {}
    for sample in samples:
        for pid, rss in sample["workers"].items():
            if rss is None:
                continue
            first = seen.setdefault(pid, {"from": sample["t"], "first": rss})
            first.update({"to": sample["t"], "last": rss})
    return seen


def render(run):
    lines = [
        "# Soak run",
        "",
        f"{run['date']}, {run['minutes']:g} minutes (`SOAK_MINUTES`), {WORKERS} gunicorn workers behind "
        f"deploy/nginx.conf, PostgreSQL and Redis of its own, {BOOKS:,} books. Capacity measured first "
        f"(closed loop, 8 clients, {CAPACITY_SECONDS} s): **{run['capacity']:.0f} requests/s**; then open loop at "
        f"half of it, **{run['rate']:.0f} requests/s** (6/10 pages of 20, 3/10 one book, 1/10 a new book), "
        f"with a fault every {run['fault_every']:.0f} s. Plot: [soak.png](soak.png).",
        "",
        f"Requests: {run['total']:,}; answered 2xx: {run['good']:,}; not sent (generator at its cap): "
        f"{run['unsent']}; p99 of the 2xx over the whole run: {run['p99'] * 1000:.0f} ms.",
        "",
        "## Faults",
        "",
        "| at (s) | fault | what happened | failed in the next window |",
        "|---:|---|---|---|",
    ]
    for fault in run["faults"]:
        lines.append(f"| {fault['t']:.0f} | {fault['name']} | {fault['result']} | {fault['errors'] or '-'} |")
    lines += ["", "## Errors by kind", "", "| kind | count |", "|---|---:|"]
    lines += [f"| {name} | {count} |" for name, count in run["errors"].most_common()] or ["| none | 0 |"]
    lines += ["", "## Over time", "",
              f"Sent late: requests the generator sent more than {SENT_LATE * 1000:.0f} ms after they were due, "
              "in a burst of its own making (failed ones among them in brackets).", "",
              "| from (s) | requests | p99 2xx (ms) | errors | sent late | workers' RSS (MiB) | PostgreSQL sessions "
              "(idle in transaction) | connections to gunicorn |",
              "|---:|---:|---:|---|---:|---|---|---:|"]
    for row in run["windows"]:
        sample = row["sample"] or {}
        rss = ", ".join(f"{rss:.0f}" for rss in sample.get("workers", {}).values() if rss is not None)
        p99_ms = f"{row['p99'] * 1000:.0f}" if row["p99"] is not None else "-"
        errors = ", ".join(f"{name} ×{count}" for name, count in row["errors"].most_common()) or "-"
        lines.append(f"| {row['start']:.0f} | {row['count']} | {p99_ms} | {errors} | "
                     f"{row['late']} ({row['late_failed']}) | {rss or '-'} | "
                     f"{sample.get('sessions', '-')} ({sample.get('idle_in_transaction', '-')}) | "
                     f"{sample.get('established', '-')} |")
    lines += ["", "## Memory per worker", "",
              "Workers are replaced by the faults (-9, HUP), so each is followed for as long as it lived.", "",
              "| worker | seen from (s) | to (s) | first RSS (MiB) | last RSS (MiB) | drift (MiB) |",
              "|---:|---:|---:|---:|---:|---:|"]
    for pid, memory in run["memory"].items():
        lines.append(f"| {pid} | {memory['from']:.0f} | {memory['to']:.0f} | {memory['first']:.1f} | "
                     f"{memory['last']:.1f} | {memory['last'] - memory['first']:+.1f} |")
    master = [s["master"] for s in run["samples"] if s["master"] is not None]
    if master:
        lines.append(f"\nMaster: {master[0]:.1f} → {master[-1]:.1f} MiB.")
    return "\n".join(lines) + "\n"


def plot(run):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (latency, memory, sessions) = pyplot.subplots(3, 1, figsize=(10, 9), sharex=True)
    rows = [row for row in run["windows"] if row["p99"] is not None]
    latency.plot([r["start"] for r in rows], [r["p99"] * 1000 for r in rows], marker="o", label="p99 of 2xx")
    latency.bar([r["start"] for r in run["windows"]], [sum(r["errors"].values()) for r in run["windows"]],
                width=run["window"] * 0.8, align="edge", color="tab:red", alpha=0.4, label="failed requests")
    latency.set_ylabel("ms / requests")
    latency.legend(loc="upper right")
    for pid in run["memory"]:
        points = [(s["t"], s["workers"][pid]) for s in run["samples"] if s["workers"].get(pid) is not None]
        memory.plot([t for t, _ in points], [rss for _, rss in points], label=f"worker {pid}")
    memory.set_ylabel("RSS (MiB)")
    memory.legend(loc="upper left", fontsize="small", ncol=4)
    times = [s["t"] for s in run["samples"]]
    sessions.plot(times, [s["sessions"] for s in run["samples"]], label="PostgreSQL sessions")
    sessions.plot(times, [s["established"] for s in run["samples"]], label="connections to gunicorn")
    sessions.set_ylabel("count")
    sessions.set_xlabel("seconds")
    sessions.legend(loc="upper left")
    for axes in (latency, memory, sessions):
        for fault in run["faults"]:
            axes.axvline(fault["t"], color="grey", linestyle=":")
    latency.set_title(f"Soak: {run['rate']:.0f} requests/s (half of {run['capacity']:.0f}), faults dotted")
    figure.tight_layout()
    figure.savefig(PLOT, dpi=80)


def soak(minutes, stack):
    duration = minutes * 60
    fault_every = float(os.environ.get("SOAK_FAULT_SECONDS") or duration / 10)
    window = max(5.0, duration / 36)
    scratch = Path(tempfile.mkdtemp(prefix="bookapi-soak-"))
    postgres = Postgres()
    stack.callback(postgres.cleanup)
    postgres.start()
    postgres.psql("CREATE DATABASE bookapi")
    redis = Redis(scratch)
    stack.callback(redis.stop)
    redis.start()
    # One admin account sends every write, standing in for many users: at half capacity that is more than
    # RATELIMIT_WRITES lets one account do (the 2026-12-01 run got 2,037 429s from it), so its limit is raised.
    service = Service(scratch / "service", postgres.url(), WORKERS, REDIS_URL=redis.url, JWT_ACCESS_TTL=4 * 3600,
                      TRUSTED_PROXY_COUNT=1, RATELIMIT_WRITES="100000/minute")
    service.prepare()
    service.flask("seed", "--count", str(BOOKS), "--seed", "1")
    stack.callback(service.stop)
    service.start()
    wait_for(lambda: len(service.workers()) == WORKERS, 60, what="every worker")
    proxy = Nginx([service.port])
    stack.callback(proxy.stop)
    proxy.start()
    traffic = Traffic(service.sign_in())

    capacity = measure_capacity(proxy.port, traffic)
    rate = capacity / 2
    print(f"capacity {capacity:.0f} requests/s; soaking at {rate:.0f}/s for {minutes:g} min", flush=True)
    load = OpenLoad(proxy.port, traffic, rate=rate, seconds=duration, max_outstanding=64)
    origin = time.perf_counter()
    runner = threading.Thread(target=load.run, daemon=True)
    sampler = Sampler(service, postgres, window, origin)
    runner.start()
    sampler.start()
    faults = []
    for n in range(int(duration // fault_every)):
        if n and n * fault_every >= duration - window:
            break
        time.sleep(max(0.0, origin + (n + 0.5) * fault_every - time.perf_counter()))
        name = FAULTS[n % len(FAULTS)]
        at = time.perf_counter() - origin
        result = inject(name, service, postgres, redis)
        print(f"{at:6.0f} s  {name}: {result}", flush=True)
        faults.append({"t": at, "name": name, "result": result})
    runner.join()
    sampler.stopping.set()
    sampler.join()

    for outcome in load.outcomes:
        outcome.started -= origin
    rows = windows(load.outcomes, window, duration)
    for row in rows:
        row["sample"] = next((s for s in sampler.samples if s["t"] >= row["start"] + window), None)
    for fault in faults:
        after = [o for o in load.outcomes if fault["t"] <= o.started < fault["t"] + window]
        failed = Counter(kind(o) for o in after if not succeeded(o))
        fault["errors"] = ", ".join(f"{k} ×{c}" for k, c in failed.most_common())
    good = [o for o in load.outcomes if succeeded(o)]
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "minutes": minutes,
        "capacity": capacity, "rate": rate, "fault_every": fault_every, "window": window,
        "total": len(load.outcomes), "good": len(good), "unsent": load.unsent, "p99": p99(good) or 0,
        "errors": Counter(kind(o) for o in load.outcomes if not succeeded(o)),
        "faults": faults, "windows": rows, "samples": sampler.samples, "memory": worker_memory(sampler.samples),
    }


def main():
    minutes = float(os.environ.get("SOAK_MINUTES", "30"))
    with ExitStack() as stack:
        run = soak(minutes, stack)
    report = render(run)
    REPORT.write_text(report)
    plot(run)
    print(report)
    print(f"wrote {REPORT.relative_to(HERE.parent)} and {PLOT.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

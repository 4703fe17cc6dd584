"""The processes a benchmark run starts: gunicorn servers and wrk. Every wait is bounded."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
RESULT_PREFIX = "WRK_RESULT "
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


class BenchmarkError(RuntimeError):
    """Something the run cannot go on without; the message says what and where to look."""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url, timeout=10):
    """``(status, parsed JSON body or None)``; never raises for an HTTP status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def process_stats():
    """``{pid: fields of /proc/<pid>/stat from the state on}``, so that ``fields[3]`` is the session id."""
    stats = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stats[int(path.parent.name)] = path.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
    return stats


def cpu_seconds(fields, reaped_children=False):
    """User + system CPU of one process (utime, stime), and of the children it has waited for when asked."""
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped_children else 0)
    return ticks / TICKS_PER_SECOND


def session_cpu_seconds(session_id):
    """CPU used by every process of a session, counting the workers gunicorn has already replaced and reaped."""
    return sum(cpu_seconds(fields, reaped_children=pid == session_id)
               for pid, fields in process_stats().items() if int(fields[3]) == session_id)


def pids_cpu_seconds(pids):
    stats = process_stats()
    return {pid: cpu_seconds(stats[pid]) for pid in pids if pid in stats}


@dataclass
class Server:
    """A gunicorn server in its own session, so that it and all its workers stop together."""

    name: str
    argv: list
    env: dict
    port: int
    ready_path: str
    log_path: Path
    cwd: Path
    process: subprocess.Popen = field(default=None, repr=False)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within=60):
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if http_get(self.base_url + self.ready_path, timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise BenchmarkError(f"{self.name} did not answer {self.ready_path} within {ready_within}s:\n{self.log_tail()}")

    def cpu_seconds(self):
        return session_cpu_seconds(self.process.pid)

    def stop(self, within=15):
        if self.process is None or self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, within), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass(frozen=True)
class Load:
    """How wrk drives a server: closed loop, ``connections`` always busy."""

    threads: int
    connections: int
    duration: int
    warmup: int
    timeout: int = 5

    def argv(self, base_url, path, max_id, seconds):
        return ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s", f"--timeout={self.timeout}s",
                "--latency", "-s", str(WRK_SCRIPT), base_url, "--", path, str(max_id)]

    def run(self, base_url, path, max_id, log, meter):
        """Warm up, then measure: wrk's figures (see wrk.lua), plus the CPU milliseconds per request that ``meter``
        (a callable returning ``{name: CPU seconds so far}``) saw spent during the measured run."""
        if self.warmup > 0:
            self.wrk(base_url, path, max_id, self.warmup, log)
        before = meter()
        figures = self.wrk(base_url, path, max_id, self.duration, log)
        after = meter()
        for name, seconds in after.items():
            figures[f"{name}_cpu_ms"] = (seconds - before.get(name, 0)) * 1000 / max(figures["requests"], 1)
        return figures

    def wrk(self, base_url, path, max_id, seconds, log):
        argv = self.argv(base_url, path, max_id, seconds)
        try:
            finished = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            raise BenchmarkError(f"wrk did not finish within {seconds + 60}s: {' '.join(argv)}") from None
        log.write(f"$ {' '.join(argv)}\n{finished.stdout}{finished.stderr}\n")
        log.flush()
        for line in finished.stdout.splitlines():
            if line.startswith(RESULT_PREFIX):
                return json.loads(line.removeprefix(RESULT_PREFIX))
        raise BenchmarkError(f"wrk exited with {finished.returncode} and no result:\n{finished.stderr[-2000:]}")

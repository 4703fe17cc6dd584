"""What the metrics cost a request, in process: `python -m benchmarks.metrics_cost` (DATABASE_URL set).

One book is looked up (GET /api/v1/books/{id}) through Flask's test client, by two apps in this one process that
differ only in METRICS_ENABLED, in interleaved rounds, so that the machine's load falls on both alike. The metrics
are written as under gunicorn: to files in a PROMETHEUS_MULTIPROC_DIR of the run's own. What is timed is this
process's CPU time (the metrics' work is all here), not the wall clock, which waits on PostgreSQL and on whatever
else the machine runs. Prints the median microseconds per request of each and their difference.
"""
import os
import statistics
import sys
import tempfile
import time

ROUNDS = int(os.environ.get("METRICS_COST_ROUNDS", "20"))
PER_ROUND = int(os.environ.get("METRICS_COST_REQUESTS", "250"))


def make_app(metrics_enabled):
    from bookapi import create_app
    from bookapi.config import Config

    settings = {"METRICS_ENABLED": metrics_enabled, "ACCESS_LOG": False, "SECRET_KEY": "metrics-cost-not-a-secret",
                "LOG_LEVEL": "WARNING"}
    return create_app(type("MetricsCostConfig", (Config,), settings))


def time_round(client, path, count):
    started = time.process_time()
    for _ in range(count):
        response = client.get(path)
        assert response.status_code == 200, response.status_code
    return (time.process_time() - started) / count * 1e6


def main():
    if not os.environ.get("DATABASE_URL"):
        sys.exit("DATABASE_URL is not set")
    with tempfile.TemporaryDirectory(prefix="bookapi-metrics-cost-") as directory:
        # Before prometheus_client is imported: it picks file-backed values then.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        from sqlalchemy import text

        from bookapi.extensions import db

        on, off = make_app(True), make_app(False)
        with on.app_context():
            book_id = db.session.execute(text("SELECT id FROM books ORDER BY id LIMIT 1")).scalar()
        if book_id is None:
            sys.exit("the database holds no book: `flask seed` first")
        path = f"/api/v1/books/{book_id}"
        clients = {"on": on.test_client(), "off": off.test_client()}
        for client in clients.values():
            time_round(client, path, 200)  # warm-up: connections, the route's label children
        timings = {"on": [], "off": []}
        for round_ in range(ROUNDS):
            for name in (("on", "off") if round_ % 2 == 0 else ("off", "on")):
                timings[name].append(time_round(clients[name], path, PER_ROUND))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    differences = [a - b for a, b in zip(timings["on"], timings["off"])]
    low, _, high = statistics.quantiles(differences, n=4)
    print(f"{ROUNDS} interleaved rounds of {PER_ROUND} lookups each ({ROUNDS * PER_ROUND} per setting)")
    print(f"metrics off: {medians['off']:.1f} µs/request CPU (median of rounds)")
    print(f"metrics on:  {medians['on']:.1f} µs/request CPU (median of rounds)")
    print(f"cost: {statistics.median(differences):.1f} µs/request (median of per-round differences; "
          f"quartiles {low:.1f} to {high:.1f})")


if __name__ == "__main__":
    main()

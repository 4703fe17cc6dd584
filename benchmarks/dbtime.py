"""Database time of a search request: every statement the service runs for it, timed from the app's side.

    DATABASE_URL=... .venv/bin/python -m benchmarks.dbtime          # a table
    DATABASE_URL=... .venv/bin/python -m benchmarks.dbtime --json   # the same figures, for benchmarks/run.py

Each search runs ``RUNS`` times one after another through the service's own ``find_books``, on its read
connection; the time from sending each statement to having its rows is summed per request (the spelling check
and the page with its count), which is the database time an APM tool would show for the request.
"""
import json
import sys
from statistics import quantiles

from flask import current_app

from bookapi import create_app, reads
from bookapi.books.queries import find_books
from bookapi.books.schemas import book_list_args_schema

from . import dataset

RUNS = 200
SEARCHES = {
    "selective search": dataset.SELECTIVE_WORD,
    "selective search, misspelt": dataset.SELECTIVE_WORD[:3] + dataset.SELECTIVE_WORD[4:],
    "broad search": dataset.RARE_WORD,
}


class StatementClock:
    """Seconds spent in the reads' statements (bookapi.reads) since the last ``reset``."""

    def __init__(self, reader):
        self.spent, self.statements = 0.0, 0
        reader.observers.append(self.count)

    def count(self, seconds):
        self.spent += seconds
        self.statements += 1

    def reset(self):
        self.spent, self.statements = 0.0, 0


def search_times(q, clock, runs=RUNS):
    """``{p50_ms, p95_ms, statements, total}`` over ``runs`` requests for ``q``."""
    args = book_list_args_schema.load({"q": q, "size": "20"})
    count_cap = current_app.config["LIST_COUNT_CAP"]
    spent, statements, total = [], 0, 0
    for _ in range(runs):
        clock.reset()
        with current_app.test_request_context():
            # The rows come back as they do for a request; fetching them is part of the database's answer.
            total = find_books(args, count_cap).total
            reads.release()
        spent.append(clock.spent * 1000)
        statements = clock.statements
    cuts = quantiles(spent, n=100)
    return {"p50_ms": cuts[49], "p95_ms": cuts[94], "statements": statements, "total": total}


def measure():
    app = create_app()
    with app.app_context():
        clock = StatementClock(app.extensions[reads.EXTENSION])
        search_times(dataset.SELECTIVE_WORD, clock, runs=20)  # connect, fill the caches
        return {name: {"q": q, **search_times(q, clock)} for name, q in SEARCHES.items()}


def main():
    figures = measure()
    if "--json" in sys.argv:
        print(json.dumps(figures))
        return
    for name, f in figures.items():
        print(f"{f['p50_ms']:7.2f} ms p50 {f['p95_ms']:7.2f} ms p95  {f['statements']} statements  "
              f"{name} (q={f['q']}, {f['total']:,} books)")


if __name__ == "__main__":
    main()

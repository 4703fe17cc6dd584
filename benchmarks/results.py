"""From measured runs to ratios, targets, tables and benchmarks/RESULTS.md itself."""
from dataclasses import dataclass
from statistics import median

from .scenarios import CONSOLE_LOGS, TRACED, UNMETERED

LOOKUP_RATIO_TARGET = 0.5
PAGE_RATIO_TARGET = 0.4
P99_TARGET_MS = {"lookup": 20, "page": 30}
SCALING_TARGET = 1.3
SEARCH_DB_P95_TARGET_MS = 30
# The stats at the large size, one client at a time (issue: "at 1,000,000 books it answers in a few milliseconds").
STATS_P50_TARGET_MS = 5
STATS_ONE_CLIENT = "stats, one client"
# Tracing at a 10 % sample ratio keeps this share of the throughput without it.
TRACING_TARGET = 0.8
# The service with one setting changed, and the share of the shipped throughput it must keep (None: only shown).
VARIANTS = {TRACED: TRACING_TARGET, UNMETERED: None, CONSOLE_LOGS: None}


@dataclass
class Run:
    """One scenario on one app at one catalogue size: wrk's figures, or why it was not measured."""

    scenario: str
    app: str
    books: int
    kind: str
    figures: dict | None = None
    note: str = ""
    scales: bool = True
    # ROUNDED_SCENARIOS run several rounds (BENCH_ROUNDS); the others, one.
    round: int = 1

    @property
    def measured(self):
        return self.figures is not None


def worst_p99(runs, books):
    """The highest p99 of ``runs`` at ``books`` (over rounds); None if there is none."""
    return max((run.figures["p99_ms"] for run in runs if run.books == books), default=None)


@dataclass
class Ratio:
    """A figure of one set of runs over the same figure of another, taken round by round (the runs of a round ran
    back to back), and the median of the rounds' ratios: what a target is held to."""

    rounds: list

    @property
    def value(self):
        return median(self.rounds)

    def shown(self, digits=2):
        value = f"{self.value:.{digits}f}×"
        if len(self.rounds) < 2:
            return value
        return f"{value} (median of {len(self.rounds)} rounds: " + ", ".join(
            f"{r:.{digits}f}" for r in self.rounds) + ")"


def ratio(runs, over, under, key="rps"):
    """``over``'s ``key`` over ``under``'s, each a (scenario, app, books); None when either was not measured."""
    mine = {run.round: run for run in runs if (run.scenario, run.app, run.books) == over and run.measured}
    theirs = {run.round: run for run in runs if (run.scenario, run.app, run.books) == under and run.measured}
    rounds = [mine[n].figures[key] / max(theirs[n].figures[key], 1e-9) for n in sorted(mine) if n in theirs]
    return Ratio(rounds) if rounds else None


def markdown_table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    return "\n".join("| " + " | ".join(str(cell) for cell in row) + " |" for row in [header, rule, *rows])


def books_label(books):
    return f"{books // 1_000_000}M" if books >= 1_000_000 and books % 1_000_000 == 0 else f"{books // 1000}k"


def runs_table(runs):
    rows = []
    for run in runs:
        if run.measured:
            f = run.figures
            errors = f["socket_errors"] + f["timeouts"]
            rows.append([run.scenario, run.app, books_label(run.books), run.round, f"{f['requests']:,}",
                         f"{f['rps']:,.0f}",
                         f"{f['p50_ms']:.1f}", f"{f['p99_ms']:.1f}", f"{f['non_2xx']:,}", f"{errors:,}",
                         f"{f['app_cpu_ms']:.2f}", f"{f['db_cpu_ms']:.2f}"])
        else:
            rows.append([run.scenario, run.app, books_label(run.books), run.round, *["—"] * 5, "skipped", "—", "—"])
    header = ["scenario", "app", "books", "round", "requests", "req/s", "p50 ms", "p99 ms", "non-2xx",
              "socket errors", "app CPU ms/req", "db CPU ms/req"]
    return markdown_table(header, rows, ["l", "l"] + ["r"] * 10)


def ratio_rows(runs, sizes):
    """Service/ceiling throughput at each size, and large/small latency for every service scenario."""
    small, large = sizes
    rows = []
    for scenario in dict.fromkeys(r.scenario for r in runs if r.app == "ceiling"):
        for books in sizes:
            service, ceiling = (scenario, "service", books), (scenario, "ceiling", books)
            throughput, cpu = ratio(runs, service, ceiling), ratio(runs, service, ceiling, "app_cpu_ms")
            if throughput and cpu:
                rows.append([f"{scenario}, {books_label(books)}", "service / ceiling req/s", throughput.shown()])
                rows.append([f"{scenario}, {books_label(books)}", "service / ceiling app CPU per request",
                             cpu.shown(1)])
    for scenario in dict.fromkeys(r.scenario for r in runs if r.app == "service"):
        before, after = (scenario, "service", small), (scenario, "service", large)
        p50, p99 = ratio(runs, after, before, "p50_ms"), ratio(runs, after, before, "p99_ms")
        if p50 and p99:
            rows.append([scenario, f"{books_label(large)} / {books_label(small)} latency",
                         f"p50 {p50.value:.2f}×, p99 {p99.value:.2f}×"])
            db = ratio(runs, after, before, "db_cpu_ms")
            if db and all(r.figures["db_cpu_ms"] > 0 for r in runs if (r.scenario, r.app, r.books) == before
                          and r.measured):
                rows.append([scenario, f"{books_label(large)} / {books_label(small)} db CPU per request",
                             f"{db.value:.2f}×"])
    return markdown_table(["scenario", "ratio", "value"], rows, ["l", "l", "r"])


def verdict(ok):
    return "met" if ok else "**not met**"


def targets(runs, sizes, db_times):
    """``(target, measured, verdict)`` rows; targets on scenarios that were skipped read n/a."""
    small, large = sizes
    rows = []
    for scenario, minimum in (("lookup", LOOKUP_RATIO_TARGET), ("page", PAGE_RATIO_TARGET)):
        for books in sizes:
            throughput = ratio(runs, (scenario, "service", books), (scenario, "ceiling", books))
            target = f"{scenario} req/s ≥ {minimum}× ceiling, {books_label(books)}"
            if throughput:
                rows.append([target, throughput.shown(), verdict(throughput.value >= minimum)])
            else:
                rows.append([target, "not measured", "n/a"])
    rows += variant_rows(runs, small)
    service_runs = [r for r in runs if r.app == "service"]
    for scenario in dict.fromkeys(r.scenario for r in service_runs):
        kind = next(r.kind for r in service_runs if r.scenario == scenario)
        measured = [r for r in service_runs if r.scenario == scenario and r.measured]
        target = f"{scenario}: p99 ≤ {P99_TARGET_MS[kind]} ms"
        if measured:
            # The worst round at each size.
            sizes_measured = dict.fromkeys(r.books for r in measured)
            worst = {books: worst_p99(measured, books) for books in sizes_measured}
            shown = ", ".join(f"{books_label(books)} {p99:.1f} ms" for books, p99 in worst.items())
            ceilings = [worst_p99([r for r in runs if (r.scenario, r.app) == (scenario, "ceiling") and r.measured],
                                  books) for books in sizes_measured]
            if all(ceilings):
                shown += " (ceiling " + ", ".join(f"{p99:.1f}" for p99 in ceilings) + " ms)"
            rows.append([target, shown, verdict(max(worst.values()) <= P99_TARGET_MS[kind])])
        else:
            rows.append([target, "not available yet", "n/a"])
    for scenario in dict.fromkeys(r.scenario for r in service_runs if r.scales):
        p50 = ratio(runs, (scenario, "service", large), (scenario, "service", small), "p50_ms")
        target = f"{scenario}: {books_label(large)} p50 ≤ {SCALING_TARGET}× {books_label(small)} p50"
        if p50:
            rows.append([target, p50.shown(), verdict(p50.value <= SCALING_TARGET)])
        else:
            rows.append([target, "not available yet", "n/a"])
    stats = [r for r in service_runs if r.scenario == STATS_ONE_CLIENT and r.books == large and r.measured]
    target = f"{STATS_ONE_CLIENT}: p50 ≤ {STATS_P50_TARGET_MS} ms, {books_label(large)}"
    if stats:
        rows.append([target, f"{stats[0].figures['p50_ms']:.2f} ms",
                     verdict(stats[0].figures["p50_ms"] <= STATS_P50_TARGET_MS)])
    else:
        rows.append([target, "not measured", "n/a"])
    worst = max(f["p95_ms"] for f in db_times.values())
    rows.append([f"search: p95 database time ≤ {SEARCH_DB_P95_TARGET_MS} ms, {books_label(large)}",
                 ", ".join(f"{name} {f['p95_ms']:.2f} ms" for name, f in db_times.items()),
                 verdict(worst <= SEARCH_DB_P95_TARGET_MS)])
    measured = [r for r in runs if r.measured]
    non_2xx = sum(r.figures["non_2xx"] for r in measured)
    errors = sum(r.figures["socket_errors"] + r.figures["timeouts"] for r in measured)
    requests = sum(r.figures["requests"] for r in measured)
    rows.append(["zero non-2xx responses (every run, both apps)",
                 f"{non_2xx:,} non-2xx, {errors:,} socket errors or timeouts in {requests:,} requests",
                 verdict(non_2xx == 0)])
    return rows


def variant_rows(runs, books):
    """The service with tracing on, with metrics off, and with console log lines, against the service as shipped."""
    rows = []
    for app, minimum in VARIANTS.items():
        for scenario in ("lookup", "page"):
            throughput = ratio(runs, (scenario, app, books), (scenario, "service", books))
            setting = app.partition(", ")[2]
            target = (f"{scenario} with {setting}: req/s ≥ {minimum}× as shipped" if minimum
                      else f"{scenario} with {setting}: req/s / as shipped (what they cost)")
            target += f", {books_label(books)}"
            if throughput:
                rows.append([target, throughput.shown(),
                             verdict(throughput.value >= minimum) if minimum else "shown"])
            else:
                rows.append([target, "not measured", "n/a"])
    return rows


def targets_table(rows):
    return markdown_table(["target", "measured", "verdict"], rows, ["l", "l", "l"])


def db_times_table(db_times):
    rows = [[name, f"`q={f['q']}`", f"{f['total']:,}", f["statements"], f"{f['p50_ms']:.2f}", f"{f['p95_ms']:.2f}"]
            for name, f in db_times.items()]
    return markdown_table(["search", "query", "matches", "statements", "p50 ms", "p95 ms"], rows,
                          ["l", "l", "r", "r", "r", "r"])


def render(context, runs, notes, micro, db_times):
    load, sizes = context["load"], context["sizes"]
    host = context["machine"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (benchmarks/run.py); how to read it: [README.md](README.md).",
        "",
        f"- Date: {context['date']} (UTC); commit {host['commit']}",
        f"- Machine: {host['cores']} cores (`nproc`), {host['cpu']}; load average {context['load_before']} before, "
        f"{context['load_after']} after; Python {host['python']}, PostgreSQL {context['postgres']}",
        f"- Service: as `make run` ships it, `gunicorn --config gunicorn.conf.py wsgi:app` with every setting at its "
        f"default but `DATABASE_URL`, `PORT` and `WEB_CONCURRENCY={context['workers']}` (sync workers, access line "
        "on, `LOG_LEVEL` info, `APP_ENV` unset, rate limits on, no `REDIS_URL`)"
        + ("; a `.env` file was present and the service read it too" if context["dotenv"] else ""),
        f"- Ceiling: benchmarks/ceiling.py under the same `gunicorn.conf.py` and {context['workers']} sync workers, "
        "its access log off and gunicorn's `LOG_LEVEL` warning, bound to 127.0.0.1",
        f"- Load: wrk, {load.threads} threads, {load.connections} connections, {load.warmup} s warm-up then "
        f"{load.duration} s measured per run, `--latency`, `--timeout {load.timeout}s`; lookups draw a random id "
        "in 1..N per request",
        "- Catalogues: " + "; ".join(
            f"{c.books:,} books ({'reused' if c.fill_seconds is None else f'filled in {c.fill_seconds:.0f} s'})"
            for c in context["catalogues"]),
        "",
        "## Runs",
        "",
        runs_table(runs),
        "",
        "## Ratios",
        "",
        ratio_rows(runs, sizes),
        "",
        "## Targets",
        "",
        targets_table(targets(runs, sizes, db_times)),
        "",
        "## Notes",
        "",
        *[f"- {note}" for note in notes],
        *[f"- {r.scenario}, {r.books:,} books: {r.note}" for r in runs if r.note],
        "- The deep cursor page is the second page of `sort=-id`, the end of the table: with keyset pagination "
        "(`WHERE id < :last ORDER BY id DESC`) that costs what a page at depth ~N from the start costs.",
        "- p99 targets: under wrk's closed loop, latency ≈ connections ÷ req/s, so they are throughput targets too; "
        "the ceiling's own p99 on this machine is shown next to the service's.",
        "",
        f"## Database time per search, {books_label(sizes[1])} books (benchmarks/dbtime.py)",
        "",
        "Every statement of a search request (spelling check, then the page with its count), timed from the "
        "app's side and summed per request; one request at a time, after the HTTP runs.",
        "",
        db_times_table(db_times),
        "",
        "## Serialization (benchmarks/serialize.py)",
        "",
        "Best of 7 batches, µs per call, in one process (no HTTP, no database).",
        "",
        serialization_table(micro),
        "",
    ]
    return "\n".join(lines)


def serialization_table(micro):
    rows = [
        ["`book_schema.dump`, one book", f"{micro['book_dump_us']:.1f}"],
        ["`book_schema.load`, one book (a create payload)", f"{micro['book_load_us']:.1f}"],
        ["`book_page_schema.dump`, a page of 20", f"{micro['page_dump_us']:.1f}"],
        ["`book_page_schema.dump`, per book on the page", f"{micro['page_dump_per_book_us']:.1f}"],
        ["`orjson.dumps` of one dumped book", f"{micro['book_orjson_us']:.1f}"],
        ["`orjson.dumps` of a dumped page of 20", f"{micro['page_orjson_us']:.1f}"],
        ["ceiling's way for a page of 20: `dict(zip())` per row + `orjson.dumps`", f"{micro['page_raw_us']:.1f}"],
    ]
    return "\n".join(["| what | µs |", "|---|---:|", *(f"| {what} | {us} |" for what, us in rows)])

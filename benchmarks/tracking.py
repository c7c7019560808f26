"""
Tracking-events benchmark: prints figures, asserts nothing.

* ``send()`` cost per event (p50/p99/max, µs) while the sender thread runs;
* live path event -> queryable latency (p50/p95/max) at a steady event rate;
* ``load_tracking_log`` throughput (events/s, MB/s) on a generated realistic log of ``--size-mb``;
* parsing cost per event in one process, de-identified (``ASPECTS_ENABLE_PII`` off, the default)
  next to as sent (on);
* next to each, the raw ClickHouse insert rate of the same rows (already parsed, one insert per
  batch through the plugin's client) measured in the same run: the ceiling the pipeline works under.

Start a local ClickHouse first, then run::

    python -m devstack.local_clickhouse start --data-dir var/bench-clickhouse
    .venv/bin/python benchmarks/tracking.py --size-mb 1024

The URL defaults to the server of ``var/bench-clickhouse``; the database ``bench_tracking`` is
created (migrated) and emptied at the start of every run.
"""

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")
django.setup()

# pylint: disable=wrong-import-position  (the plugin's modules need Django set up first)
from django.conf import settings  # noqa: E402

from benchmarks.stats import percentile  # noqa: E402
from platform_plugin_aspects.clickhouse import get_clickhouse, reset_connections  # noqa: E402
from platform_plugin_aspects.clickhouse.migrate import MigrationRunner  # noqa: E402
from platform_plugin_aspects.tracking.backend import ClickHouseTrackingBackend  # noqa: E402
from platform_plugin_aspects.tracking.events import EVENT_COLUMNS, json_part, row_from_json, serialize  # noqa: E402
from platform_plugin_aspects.tracking.loader import LogLoader  # noqa: E402
from platform_plugin_aspects.tracking.store import EVENT_INSERT_SETTINGS  # noqa: E402
from tests.tracking_factory import activity, log_line, make_event  # noqa: E402


def setup(url, database):
    """Point the plugin at ``url``/``database``, migrate it and empty the tracking tables."""

    settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG = dict(
        settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG, url=url, database=database, username="default", password="")
    settings.EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED = True
    reset_connections()
    clickhouse = get_clickhouse()
    MigrationRunner(clickhouse).run()
    clickhouse.forget_schema()
    for table in ("tracking_events", "tracking_rejects", "tracking_load_checkpoints"):
        clickhouse.command(f"TRUNCATE TABLE {database}.{table}")
    clickhouse.command(f"CREATE TABLE IF NOT EXISTS {database}.bench_raw_insert AS {database}.tracking_events")
    return clickhouse


def raw_insert_rate(clickhouse, texts, batch_size):
    """Events/s and MB/s of inserting the already-parsed rows of ``texts``, one insert per batch."""

    rows = [row_from_json(t, "bench") for t in texts]
    size = sum(len(t) for t in texts)
    clickhouse.command(f"TRUNCATE TABLE {clickhouse.database}.bench_raw_insert")
    started = time.perf_counter()
    for i in range(0, len(rows), batch_size):
        clickhouse.insert("bench_raw_insert", rows[i:i + batch_size], EVENT_COLUMNS, EVENT_INSERT_SETTINGS)
    elapsed = time.perf_counter() - started
    return len(rows) / elapsed, size / elapsed / 1e6


def bench_send_cost(events, spool_dir):
    """Per-call cost of ``backend.send()`` with the background thread delivering at the same time."""

    backend = ClickHouseTrackingBackend(spool_dir=spool_dir)
    clock = time.perf_counter_ns
    costs = []
    for event in events:
        started = clock()
        backend.send(event)
        costs.append(clock() - started)
    backend.flush(60)
    backend.close()
    micro = [c / 1000 for c in costs]
    return percentile(micro, 0.5), percentile(micro, 0.99), max(micro)


def bench_latency(clickhouse, rate, seconds, spool_dir):
    """Send ``rate`` events/s for ``seconds``; poll ClickHouse to see when each becomes queryable."""

    clickhouse.command(f"TRUNCATE TABLE {clickhouse.database}.tracking_events")
    backend = ClickHouseTrackingBackend(spool_dir=spool_dir)
    total = int(rate * seconds)
    seen, latencies = set(), []
    done = threading.Event()

    def poll():
        while len(seen) < total and not done.is_set():
            rows = clickhouse.query(
                "SELECT user_id, time FROM tracking_events WHERE loaded_from = 'live' "
                "AND course_key = 'course-v1:Bench+Latency+2026'")  # (not the username: de-identified by default)
            now = datetime.now(timezone.utc)
            for user_id, sent in rows:
                if user_id not in seen:
                    seen.add(user_id)
                    latencies.append((now - sent.replace(tzinfo=timezone.utc)).total_seconds())
            done.wait(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    started = time.monotonic()
    for i in range(total):
        target = started + i / rate
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        backend.send(make_event("play_video", user_id=i, username="latency", course_key="course-v1:Bench+Latency+2026",
                                time=datetime.now(timezone.utc)))
    poller.join(30 + seconds)
    done.set()
    backend.close()
    return percentile(latencies, 0.5), percentile(latencies, 0.95), max(latencies), len(latencies), total


def generate_log(path, size_mb):
    """A realistic tracking.log of about ``size_mb`` MB (kept between runs when big enough)."""
    target = size_mb * 1024 * 1024
    if path.exists() and abs(path.stat().st_size - target) < target * 0.02:
        return
    course_keys = [f"course-v1:Org{o}+C{c}+2026" for o in range(5) for c in range(20)]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    written, seed = 0, 0
    with open(path, "w", encoding="utf-8") as out:
        while written < target:
            seed += 1
            course = course_keys[seed % len(course_keys)]
            learners = [(seed * 50 + i, f"learner{seed * 50 + i}") for i in range(50)]
            chunk = "".join(
                log_line(e, prefixed=bool(j % 2))
                for j, e in enumerate(activity(course, learners, start=start + timedelta(hours=seed), seed=seed)))
            out.write(chunk)
            written += len(chunk.encode("utf-8"))


def cpu_seconds(server_pid=None):
    """CPU time of this process, its reaped children and (when known) the ClickHouse server."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    if server_pid:
        try:
            fields = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def bench_loader(clickhouse, path, batch_size, workers, server_pid=None):
    """Load the file; returns the result, the rows counted with FINAL and the CPU seconds spent."""

    loader = LogLoader(clickhouse, batch_size=batch_size, restart=True, show_progress=True, workers=workers)
    cpu_before = cpu_seconds(server_pid)
    result = loader.load([str(path)])
    cpu = cpu_seconds(server_pid) - cpu_before
    stored = clickhouse.query("SELECT count() FROM tracking_events FINAL")[0][0]
    return result, stored, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="ClickHouse URL (default: the server of var/bench-clickhouse)")
    parser.add_argument("--database", default="bench_tracking")
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the generated log (default 1024)")
    parser.add_argument("--log-dir", default=str(ROOT / "var" / "bench-tracking"))
    parser.add_argument("--send-events", type=int, default=100_000)
    parser.add_argument("--latency-rate", type=int, default=2000, help="events/s for the latency run")
    parser.add_argument("--latency-seconds", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=20_000, help="loader lines per insert")
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 4), help="loader processes")
    parser.add_argument("--skip-live", action="store_true", help="only the loader figures")
    args = parser.parse_args()
    url = args.url or f"http://127.0.0.1:{(ROOT / 'var' / 'bench-clickhouse' / 'http_port').read_text().strip()}"
    clickhouse = setup(url, args.database)

    print(f"ClickHouse {url} database {args.database}; {os.cpu_count()} CPUs (shared with other work)")
    spool = tempfile.mkdtemp(prefix="bench-spool-")

    if not args.skip_live:
        bench_live(clickhouse, args, spool)
    bench_load(clickhouse, args)


def bench_live(clickhouse, args, spool):
    """send() cost and event->queryable latency, each next to the raw insert rate of the same rows."""

    events = activity("course-v1:Bench+Send+2026", [(i, f"u{i}") for i in range(args.send_events // 20)])
    p50, p99, worst = bench_send_cost(events, spool)
    texts = [serialize(e) for e in events[:50_000]]
    raw_rate, _ = raw_insert_rate(clickhouse, texts, 10_000)
    print(f"send() cost per event: p50 {p50:.1f} µs  p99 {p99:.1f} µs  max {worst:.0f} µs  "
          f"({len(events)} events)   [raw insert of the same rows: {raw_rate:,.0f} events/s]")

    lat50, lat95, lat_max, seen, total = bench_latency(
        clickhouse, args.latency_rate, args.latency_seconds, spool)
    print(f"live event->queryable latency: p50 {lat50 * 1000:.0f} ms  p95 {lat95 * 1000:.0f} ms  "
          f"max {lat_max * 1000:.0f} ms  ({seen}/{total} events at {args.latency_rate}/s, 20 ms polling)   "
          f"[raw insert of the same rows: {raw_rate:,.0f} events/s]")


def bench_load(clickhouse, args):
    """Loader throughput on a generated log, next to the raw insert rate of the same rows."""

    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"tracking-{args.size_mb}mb.log"
    started = time.monotonic()
    generate_log(path, args.size_mb)
    print(f"log: {path} {path.stat().st_size / 1e6:.0f} MB (ready in {time.monotonic() - started:.0f} s)")
    clickhouse.command(f"TRUNCATE TABLE {args.database}.tracking_events")
    pid_file = ROOT / "var" / "bench-clickhouse" / "server.pid"
    server_pid = None if args.url or not pid_file.exists() else int(pid_file.read_text())
    result, stored, cpu = bench_loader(clickhouse, path, args.batch_size, args.workers, server_pid)
    with open(path, encoding="utf-8") as log:
        sample = [json_part(line.rstrip("\n")) for _, line in zip(range(200_000), log)]
    raw_rate, raw_mb = raw_insert_rate(clickhouse, sample, args.batch_size)
    print(f"loader: {result.events:,} events ({result.rejects} rejected) in {result.seconds:.1f} s = "
          f"{result.events / result.seconds:,.0f} events/s, {result.bytes_read / 1e6 / result.seconds:.1f} MB/s; "
          f"{stored:,} rows with FINAL, {args.workers} workers   "
          f"[raw insert of the same rows: {raw_rate:,.0f} events/s, "
          f"{raw_mb:.1f} MB/s]")
    print(f"loader CPU: {cpu:.1f} core-seconds (loader processes{' + ClickHouse server' if server_pid else ''}) = "
          f"{result.events / cpu:,.0f} events per core-second; load average now {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(parse_cost(sample[:50_000]))


def parse_cost(texts):
    """Parsing into rows in this process, de-identified (ASPECTS_ENABLE_PII off) next to as sent (on)."""

    from platform_plugin_aspects.tracking import privacy  # pylint: disable=import-outside-toplevel

    figures = {}
    for pii in (True, False, True, False):  # alternated: the shared machine's noise hits both alike
        settings.ASPECTS_ENABLE_PII = pii
        privacy._current.clear()  # pylint: disable=protected-access  (the setting was set directly)
        started = time.perf_counter()
        for text in texts:
            row_from_json(text, "bench")
        figures[pii] = min(figures.get(pii, 1e9), (time.perf_counter() - started) / len(texts) * 1e6)
    settings.ASPECTS_ENABLE_PII = False
    privacy._current.clear()  # pylint: disable=protected-access
    return (f"parse into rows, one core: {figures[False]:.1f} µs/event de-identified (ASPECTS_ENABLE_PII off) = "
            f"{1e6 / figures[False]:,.0f} events/s   [as sent (PII on): {figures[True]:.1f} µs/event = "
            f"{1e6 / figures[True]:,.0f} events/s]")


if __name__ == "__main__":
    main()

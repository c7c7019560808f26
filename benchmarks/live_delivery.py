"""
Live delivery benchmark: N profile changes through receivers → outbox → a REAL Celery worker
(Redis broker) → the local ClickHouse, measured end to end.

Prints:
* commit → queryable latency p50/p95/p99 (a poller sees each change's row, or a newer version of
  the same object, in ClickHouse);
* inserts per table per second: the gaps between inserts, from the time each was sent
  (``time_last_dumped``, one per ``dump_id``), and the shortest gap;
* where each flush's time went (claim, build, catch-up, wait for the slot, insert, ack), read
  from the worker's log;
* receiver overhead per change: the same ``profile.save()`` (in a transaction, as in a request)
  timed with the plugin's receivers connected and disconnected, in the same run;
* changes per second sustained (first commit → last change queryable).

Usage (MariaDB on ASPECTS_DB_HOST:ASPECTS_DB_PORT, default 127.0.0.1:3306; `make db` starts one)::

    python benchmarks/live_delivery.py [--changes 20000] [--users 2000] [--producers 2] [--rate 0] [--interval S]

On a 2-core machine the unpaced producers, MariaDB, ClickHouse and the worker all share the same
cores; ``--rate`` paces the producers to show latency at a given load.

Targets (issue #3): p95 ≤ 1 s, ≤ 1 insert per table per second, receiver overhead ≤ 1 ms p99,
≥ 2,000 changes/s on one worker.
"""

import argparse
import contextlib
import datetime
import os
import re
import statistics
import sys
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")
os.environ.setdefault("ASPECTS_DB_NAME", "aspects_bench_live")

from benchmarks.stats import percentile  # noqa: E402  (the repository root is on sys.path now)


def flush_phases(worker_log):
    """``{phase: [value per flush]}`` from the worker's "Outbox flush:" log lines."""
    phases = defaultdict(list)
    for line in worker_log.splitlines():
        if "INFO/" not in line or "Outbox flush:" not in line:  # Celery's copy of each line
            continue
        rounds = re.search(r"(\d+) catch-up rounds", line)
        phases["catch-up rounds"].append(int(rounds.group(1)))
        for phase, millis in re.findall(r"(\w+) ([\d.]+) ms", line):
            phases[phase].append(float(millis))
    return phases


def main():  # pylint: disable=too-many-locals,too-many-statements
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=20000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--producers", type=int, default=2, help="processes committing changes concurrently")
    parser.add_argument("--overhead-samples", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=0,
                        help="total changes/s the producers aim for (0: as fast as they can)")
    parser.add_argument("--interval", type=float, default=None,
                        help="ASPECTS_MIN_FLUSH_INTERVAL_SECS for the worker (default: the plugin's default)")
    parser.add_argument("--worker-processes", type=int, default=1,
                        help="Celery prefork processes (default 1: the solo pool); more than one share a Redis "
                             "cache, as LMS workers share theirs, so they keep one insert schedule")
    args = parser.parse_args()
    if args.interval is not None:
        os.environ["ASPECTS_MIN_FLUSH_INTERVAL_SECS"] = str(args.interval)

    from devstack.local_clickhouse import LocalClickHouse  # noqa: E402

    server = LocalClickHouse(ROOT / "var" / "bench-clickhouse")
    url = server.start()
    os.environ["CLICKHOUSE_URL"], os.environ["CLICKHOUSE_DATABASE"] = url, "bench_live"
    subprocess_env_db = os.environ["ASPECTS_DB_NAME"]

    import django

    from tests.lms import createdb  # noqa: F401  (creates the MySQL database if needed)

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models.signals import post_save
    from waffle.models import Flag

    from platform_plugin_aspects.clickhouse import get_clickhouse
    from platform_plugin_aspects.models import OutboxEntry
    from tests.celery_worker import real_worker, shared_cache
    from tests.lms.student.models import UserProfile

    call_command("migrate", verbosity=0)
    call_command("migrate_clickhouse", stdout=open(os.devnull, "w"))
    clickhouse = get_clickhouse()
    clickhouse.command("TRUNCATE TABLE user_profile")
    OutboxEntry.objects.all().delete()
    Flag.objects.filter(name__startswith="event_sink_clickhouse.").delete()
    settings.EVENT_SINK_CLICKHOUSE_USER_PROFILE_ENABLED = False

    print(f"database {connection.vendor} {subprocess_env_db}, ClickHouse {url}; preparing {args.users} users...")
    if User.objects.count() < args.users:
        users = [User(username=f"bench{i}", email=f"bench{i}@example.com") for i in range(User.objects.count(),
                                                                                         args.users)]
        User.objects.bulk_create(users, batch_size=1000)
    profiles_missing = User.objects.filter(profile__isnull=True)
    UserProfile.objects.bulk_create([UserProfile(user=u, name="start") for u in profiles_missing], batch_size=1000)
    profiles = list(UserProfile.objects.order_by("id")[: args.users])

    # -- receiver overhead: same save, plugin receivers disconnected vs connected -------------
    def time_saves(samples):
        costs = []
        for i in range(samples):
            profile = profiles[i % len(profiles)]
            profile.name = f"overhead-{i}"
            started = time.perf_counter_ns()
            with transaction.atomic():  # as in a request (ATOMIC_REQUESTS): one commit per change
                profile.save()
            costs.append((time.perf_counter_ns() - started) / 1e6)
        return costs

    receivers = [r for r in post_save._live_receivers(UserProfile)[0]]  # pylint: disable=protected-access
    assert receivers, "plugin receivers are not connected"
    Flag.objects.create(name="event_sink_clickhouse.user_profile.enabled", everyone=True)
    from platform_plugin_aspects.delivery import outbox

    # Measure the receiver as in production: tasks go to the broker (not run inline), flags cached.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ASPECTS_SWITCH_CACHE_SECS = 5
    outbox._next_flush_at = float("inf")  # and not the one broker round trip of the first schedule
    from platform_plugin_aspects.signals import _on_save

    # Alternate blocks with and without the receiver, so a drift of the database (its background
    # flushing, other work on the machine) weighs on both sides alike.
    without, with_plugin, block = [], [], 100
    time_saves(200)  # warm-up
    for _ in range(max(1, args.overhead_samples // block)):
        post_save.disconnect(dispatch_uid="aspects.save.user_profile", sender=UserProfile)
        without += time_saves(block)
        post_save.connect(_on_save("user_profile"), sender=UserProfile, weak=False,
                          dispatch_uid="aspects.save.user_profile")
        with_plugin += time_saves(block)
    OutboxEntry.objects.all().delete()
    outbox._next_flush_at = 0.0
    connection.close()

    # -- live run with a real worker ------------------------------------------------------
    pending = defaultdict(deque)  # profile id → deque of (seq, commit time)
    latencies, lock, inserts_seen = [], threading.Lock(), {}  # dump_id → time_last_dumped (insert sent)
    visible_after = []  # seconds from an insert being sent to the poller seeing it
    done = threading.Event()
    per_producer = args.changes // args.producers
    total = per_producer * args.producers

    def producer(index, channel):
        """A separate process, like one LMS web worker: commits changes, reports (profile, seq, time)."""
        from django.db import connection as child_connection

        child_connection.close()  # never share the parent's socket
        own = profiles[index::args.producers]  # one writer per profile: commit order = seq order
        pace = args.producers / args.rate if args.rate else 0.0  # seconds between this process's commits
        first = time.monotonic()
        for n in range(per_producer):
            if pace:
                time.sleep(max(0.0, first + n * pace - time.monotonic()))
            seq = index * per_producer + n
            profile = own[n % len(own)]
            profile.name = f"bench-{seq}"
            channel.put((profile.id, seq, time.monotonic()))  # before the save: delivery can beat save()
            with transaction.atomic():
                profile.save()
        channel.put(None)
        child_connection.close()

    def collect(channel):
        """Move what producers reported into ``pending`` (parent process)."""
        finished = 0
        while True:
            item = channel.get()
            if item is None:
                finished += 1
                if finished == args.producers:
                    return
                continue
            with lock:
                pending[item[0]].append((item[1], item[2]))

    def poller(start_version):
        """
        Note when each insert becomes visible: a cheap poll for new dump_ids (one per insert), then
        that insert's rows once. The time of a change is the moment its insert was first seen.
        """
        poll_clickhouse = get_clickhouse()
        last, seen, unmatched, resolved = start_version, set(), [], {}
        overlap = 3 * 10**9  # versions are flush start times; a flush's rows can land after a newer one's
        while not done.is_set():
            dumps = poll_clickhouse.query(
                "SELECT dump_id, max(version), any(time_last_dumped) FROM user_profile WHERE version > {v:UInt64} "
                "GROUP BY dump_id",
                {"v": max(start_version, last - overlap)})
            now, wall_now = time.monotonic(), time.time()
            fresh = [str(dump_id) for dump_id, _, _ in dumps if dump_id not in inserts_seen]
            rows = [(*row, now) for row in poll_clickhouse.query(
                "SELECT id, name FROM user_profile WHERE dump_id IN {d:Array(UUID)}", {"d": fresh})] if fresh else []
            with lock:
                for dump_id, version, sent_at in dumps:
                    last = max(last, version)
                    if dump_id not in inserts_seen:  # one dump_id per flush's insert: when it was sent and seen
                        inserts_seen[dump_id] = sent_at
                        visible_after.append(wall_now - datetime.datetime.fromisoformat(sent_at).timestamp())
                early = []  # rows whose commit the collector has not passed on yet: retried next poll
                for profile_id, name, seen_at in unmatched + rows:
                    if (profile_id, name) in seen:
                        continue
                    seq = int(name.split("-")[1]) if name.startswith("bench-") else -1
                    # The row shows the state after commit `seq`: that commit and every earlier
                    # commit of the same profile (in commit order) are now queryable.
                    queue = pending[profile_id]
                    if not any(entry[0] == seq for entry in queue):
                        if seq > resolved.get(profile_id, -1):
                            early.append((profile_id, name, seen_at))
                        continue
                    seen.add((profile_id, name))
                    resolved[profile_id] = seq
                    while queue:
                        entry = queue.popleft()
                        latencies.append(seen_at - entry[1])
                        if entry[0] == seq:
                            break
                unmatched[:] = early
                if len(latencies) >= total:
                    done.set()
            time.sleep(0.01)

    start_version = time.time_ns()
    os.environ["ASPECTS_LOG_LEVEL"] = "INFO"  # the worker logs where each flush's time went
    worker_log = ROOT / "var" / "bench-worker.log"
    cleanup = contextlib.ExitStack()  # (the shared cache's keys go when the run ends)
    worker = {"processes": args.worker_processes,
              "env": cleanup.enter_context(shared_cache()) if args.worker_processes > 1 else None}
    with real_worker(open(worker_log, "w"), **worker):
        poll_thread = threading.Thread(target=poller, args=(start_version,), daemon=True)
        poll_thread.start()
        import multiprocessing

        channel = multiprocessing.get_context("fork").Queue()
        collector = threading.Thread(target=collect, args=(channel,), daemon=True)
        collector.start()
        started = time.monotonic()
        processes = [multiprocessing.get_context("fork").Process(target=producer, args=(i, channel))
                     for i in range(args.producers)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        produced = time.monotonic() - started
        collector.join(timeout=30)
        done.wait(timeout=120)
        finished = time.monotonic() - started
    inserts = len(inserts_seen)
    sent_at = sorted(datetime.datetime.fromisoformat(text).timestamp() for text in inserts_seen.values())
    gaps = [later - earlier for earlier, later in zip(sent_at, sent_at[1:])]
    phases = flush_phases(worker_log.read_text())
    rows_written = clickhouse.query("SELECT count() FROM user_profile WHERE version > {v:UInt64}",
                                    {"v": start_version})[0][0]

    # -- worker capacity: a backlog (built while no worker runs) drained by one worker -----------
    settings.CELERY_TASK_ALWAYS_EAGER = False
    outbox._next_flush_at = float("inf")  # no tasks now; the worker below gets one kick
    backlog_started = time.time_ns()
    for n in range(args.changes):
        profile = profiles[n % len(profiles)]
        profile.name = f"backlog-{n}"
        with transaction.atomic():
            profile.save()
    backlog = OutboxEntry.objects.count()
    with real_worker(open(worker_log, "a"), **worker):
        drain_started = time.monotonic()
        outbox._next_flush_at = 0.0
        outbox.schedule_flush()
        while OutboxEntry.objects.exists() and time.monotonic() - drain_started < 300:
            time.sleep(0.02)
        drained_in = time.monotonic() - drain_started
    backlog_inserts = clickhouse.query("SELECT uniqExact(dump_id) FROM user_profile WHERE version > {v:UInt64}",
                                       {"v": backlog_started})[0][0]  # at least: merges may drop old rows

    cleanup.close()

    unresolved = [(pid, q[0][0]) for pid, q in pending.items() if q]
    if unresolved and os.environ.get("BENCH_DEBUG"):
        pid, seq = unresolved[0]
        print("unresolved", len(unresolved), "e.g. profile", pid, "seq", seq, list(pending[pid]))
        print(clickhouse.query("SELECT name, version, _part FROM user_profile WHERE id = {i:Int32} ORDER BY version",
                               {"i": pid}))

    def ms(value):
        return f"{value * 1000:.0f} ms"

    overhead = [a - b for a, b in zip(sorted(with_plugin), sorted(without))]
    pacing = f"paced at {args.rate:,.0f}/s" if args.rate else "unpaced"
    print(f"\n== live delivery: {total} profile changes, {args.producers} producer processes ({pacing}), "
          f"1 Celery worker ({args.worker_processes} process{'es' if args.worker_processes > 1 else ''}), "
          f"flush cadence {settings.ASPECTS_MIN_FLUSH_INTERVAL_SECS} s ==")
    print(f"changes seen in ClickHouse      {len(latencies)}/{total}")
    print(f"commit → queryable latency      p50 {ms(percentile(latencies, 0.5))}  p95 {ms(percentile(latencies, 0.95))}"
          f"  p99 {ms(percentile(latencies, 0.99))}   (target p95 ≤ 1000 ms)")
    print(f"sustained                       {total / finished:,.0f} changes/s (producers alone: "
          f"{total / produced:,.0f} commits/s)   (target ≥ 2,000/s)")
    print(f"inserts into user_profile       {inserts} in {finished:.1f}s, {rows_written} rows now (coalesced from "
          f"{total} changes); between inserts: mean {statistics.mean(gaps):.3f}s = {1 / statistics.mean(gaps):.2f} "
          f"inserts/s, shortest {min(gaps):.3f}s   (target ≤ 1/s)")
    print(f"  insert sent → seen by poller   p50 {ms(percentile(visible_after, 0.5))}  p95 "
          f"{ms(percentile(visible_after, 0.95))}")
    for phase, values in phases.items():
        print(f"  flush phase {phase:<16} p50 {percentile(values, 0.5):6.1f}  p95 {percentile(values, 0.95):6.1f}  "
              f"max {max(values):6.1f}" + (" rounds" if phase == "catch-up rounds" else " ms"))
    print(f"one worker draining a backlog  {backlog:,} changes in {drained_in:.2f}s = {backlog / drained_in:,.0f} "
          f"changes/s, {backlog_inserts} inserts   (target ≥ 2,000/s)")
    print(f"profile.save() without plugin   p50 {statistics.median(without):.3f} ms  p99 "
          f"{percentile(without, 0.99):.3f} ms")
    print(f"profile.save() with plugin      p50 {statistics.median(with_plugin):.3f} ms  p99 "
          f"{percentile(with_plugin, 0.99):.3f} ms")
    print(f"receiver overhead per change    p50 {statistics.median(overhead):.3f} ms  p99 "
          f"{percentile(overhead, 0.99):.3f} ms"
          f"   (target p99 ≤ 1 ms)")


if __name__ == "__main__":
    main()

"""
Retirement benchmark: what it costs to retire a batch of learners on a large ``tracking_events``.

Prints figures, asserts nothing. A table of ``--events`` events (default 10,000,000, one year,
``--learners`` learners, written as with ``ASPECTS_ENABLE_PII`` on: usernames, IPs, session ids and
e-mails in the columns and inside the JSON — the worst case) is generated once in ClickHouse
itself. Each strategy then runs on its own copy of it (partitions attached by hard link, so every
copy starts from the same parts) and retires the same ``--retire`` learners:

* ``heavyweight``: ``ALTER TABLE ... UPDATE`` (the baseline: ClickHouse rewrites the updated
  columns of every part holding one of the learners' rows);
* ``lightweight``: what ``retire_users`` does by default, a lightweight ``UPDATE ... SET`` (a patch
  part holding only the changed rows);
* ``lightweight+apply``: the same, then ``ALTER TABLE ... APPLY PATCHES`` to force the old bytes off
  the disk at once instead of at the next merge.

``--strategies`` also takes ``delete-lightweight``/``delete-heavyweight`` (``DELETE FROM`` against
``ALTER TABLE ... DELETE``, what tables of personal rows get) and ``heavyweight-by-partition`` (the
mutation scoped with ``IN PARTITION``, one statement per partition holding the learners' rows).

For each: seconds, bytes written to the table's directory (files created by the operation,
hard links not counted, read from the local server's data directory), and a check that no
personal value of the retired learners is left while their event counts are unchanged.

Start a local ClickHouse first, then run::

    python -m platform_plugin_aspects.clickhouse.local_server start --data-dir var/bench-clickhouse
    .venv/bin/python benchmarks/retirement.py                       # 10M events, retire 100
    .venv/bin/python benchmarks/retirement.py --events 1000000      # a smaller run
    .venv/bin/python benchmarks/retirement.py --reuse --data pii-off \
        --strategies delete-lightweight,delete-heavyweight,heavyweight-by-partition
"""

import argparse
import os
import sys
import time
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")
django.setup()

# pylint: disable=wrong-import-position  (the plugin's modules need Django set up first)
from django.conf import settings  # noqa: E402

from platform_plugin_aspects.clickhouse import get_clickhouse, reset_connections  # noqa: E402
from platform_plugin_aspects.clickhouse.migrate import MigrationRunner  # noqa: E402
from platform_plugin_aspects.sinks.retirement import retire_users  # noqa: E402

TABLE = "tracking_events"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
STRATEGIES = ("heavyweight", "lightweight", "lightweight+apply")
_IDS = "user_id IN {ids:Array(Int64)}"
_BLANK = "username = '', ip = '', session = '', agent = ''"


def _by_partition(trial, user_ids):
    """ALTER TABLE ... UPDATE scoped to each partition holding the learners' rows (one statement each)."""
    partitions = [p for (p,) in trial.query(f"SELECT DISTINCT _partition_id FROM {trial.qualified(TABLE)} "
                                            f"WHERE {_IDS}", {"ids": user_ids})]
    for partition in partitions:
        trial.command(f"ALTER TABLE {trial.qualified(TABLE)} UPDATE {_BLANK} IN PARTITION ID '{partition}' "
                      f"WHERE {_IDS}", {"ids": user_ids}, settings={"mutations_sync": 2})


# Other ways ClickHouse offers, for comparison (--strategies): row deletes (what PII tables get) and
# a partition-scoped mutation (the blanking of the de-identified case, one statement per partition).
OTHER_OPTIONS = {
    "delete-lightweight": lambda trial, ids: trial.command(
        f"DELETE FROM {trial.qualified(TABLE)} WHERE {_IDS}", {"ids": ids}),
    "delete-heavyweight": lambda trial, ids: trial.command(
        f"ALTER TABLE {trial.qualified(TABLE)} DELETE WHERE {_IDS}", {"ids": ids}, settings={"mutations_sync": 2}),
    "heavyweight-by-partition": _by_partition,
}


def connect(url, database):
    settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG = dict(
        settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG, url=url, database=database, username="default", password="",
        timeout_secs=600)
    reset_connections()
    return get_clickhouse()


def generate(clickhouse, events, learners, pii=True):
    """
    ``events`` rows over 2026 (12 monthly partitions), as the pipeline writes them with
    ASPECTS_ENABLE_PII on (names in the columns and the JSON) or off (de-identified: no name, no IP,
    hashed session, agent family).
    """
    table = clickhouse.qualified(TABLE)
    clickhouse.command(f"TRUNCATE TABLE {table}")
    person = ("username, ip, session, {agent:String}, "
              "concat('{\"user_id\": ', toString(user_id), ', \"username\": \"', username, '\", \"course_id\": \"', "
              "course, '\", \"org_id\": \"', org, '\", \"path\": \"/event\", \"ip\": \"', ip, '\"}'), "
              "concat('{\"id\": \"', block, '\", \"code\": \"html5\", \"currentTime\": ', toString(number % 600), "
              "', \"email\": \"', username, '@example.org\"}')") if pii else (
        "'', '', substring(hex(SHA256(session)), 1, 32), 'Chrome on Linux', "
        "concat('{\"user_id\":', toString(user_id), ',\"course_id\":\"', course, '\",\"org_id\":\"', org, "
        "'\",\"path\":\"/event\"}'), "
        "concat('{\"id\":\"', block, '\",\"code\":\"html5\",\"currentTime\":', toString(number % 600), '}')")
    clickhouse.command(
        f"INSERT INTO {table} (event_id, time, name, event_type, event_source, user_id, course_key, org, "
        "block_id, page, referer, username, ip, session, agent, context, event, host, loaded_from) "
        f"SELECT generateUUIDv4(number), time, name, name, 'browser', user_id, course, org, block, page, page, "
        f"{person}, "
        "'lms.example.com', 'bench' "
        "FROM (SELECT number, toDateTime64('2026-01-01 00:00:00', 6, 'UTC') "
        "+ toIntervalSecond(intDiv(number * 31535000, {events:UInt64})) AS time, "
        "(cityHash64(number) % {learners:UInt64}) + 1 AS user_id, "
        # Names that are not prefixes of one another, as on a real site (learner1 vs learner10...
        # made every row a candidate mention: see docs/concepts/privacy.rst for that worst case).
        "concat('learner_', lower(hex(cityHash64(user_id, 7)))) AS username, "
        "concat('Org', toString(user_id % 5)) AS org, "
        "concat('course-v1:', org, '+C', toString(cityHash64(number, 1) % 20), '+2026') AS course, "
        "concat('block-v1:', substring(course, 11), '+type@video+block@v', toString(number % 7)) AS block, "
        "['play_video', 'pause_video', 'problem_check', 'edx.ui.lms.sequence.next_selected'][number % 4 + 1] AS name,"
        " hex(cityHash64(user_id, intDiv(number, 50))) AS session, "
        "concat('10.', toString(user_id % 250), '.', toString(intDiv(user_id, 250) % 250), '.7') AS ip, "
        "concat('https://lms.example.com/courses/', course, '/courseware/week1/') AS page "
        "FROM numbers({events:UInt64}))",
        {"agent": AGENT, "events": events, "learners": learners},
        settings={"max_insert_threads": 2, "max_block_size": 1_000_000, "min_insert_block_size_rows": 1_000_000})


def data_dir(clickhouse, server_dir):
    """The table's directory on disk (the local server's paths are relative to its data directory)."""
    path = clickhouse.query(
        "SELECT data_paths[1] FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        {"db": clickhouse.database, "t": TABLE})[0][0]
    return Path(path) if Path(path).is_absolute() else server_dir / path


def written_since(directory, since):
    """Bytes of the files under ``directory`` modified since ``since`` (each inode once: hard links are free)."""
    total, seen = 0, set()
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                stat = os.stat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            if stat.st_mtime >= since and stat.st_ino not in seen:
                seen.add(stat.st_ino)
                total += stat.st_size
    return total


def table_bytes(clickhouse):
    return clickhouse.query("SELECT sum(bytes_on_disk), count() FROM system.parts WHERE database = {db:String} "
                            "AND table = {t:String} AND active", {"db": clickhouse.database, "t": TABLE})[0]


def copy_of(base, trial):
    """A fresh copy of the base table in the ``trial`` database, partitions attached by hard link."""
    trial.command(f"DROP TABLE IF EXISTS {trial.qualified(TABLE)} SYNC")
    trial.command(f"CREATE TABLE {trial.qualified(TABLE)} AS {base.qualified(TABLE)}")
    partitions = [p for (p,) in base.query(
        "SELECT DISTINCT partition_id FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active",
        {"db": base.database, "t": TABLE})]
    for partition in partitions:
        trial.command(f"ALTER TABLE {trial.qualified(TABLE)} ATTACH PARTITION ID '{partition}' FROM "
                      f"{base.qualified(TABLE)}")


def check(clickhouse, user_ids, expected_counts):
    """(rows still naming a retired learner, whether every learner's event count is unchanged)."""
    left = clickhouse.query(
        f"SELECT count() FROM {clickhouse.qualified(TABLE)} WHERE user_id IN {{ids:Array(Int64)}} AND ("
        "username != '' OR ip != '' OR session != '' OR agent != '' "
        "OR position(context, '\"username\": \"learner') > 0 "
        "OR position(event, '@example.org') > 0 OR position(context, '\"ip\": \"1') > 0)", {"ids": user_ids})[0][0]
    counts = dict(clickhouse.query(f"SELECT user_id, count() FROM {clickhouse.qualified(TABLE)} "
                                   "WHERE user_id IN {ids:Array(Int64)} GROUP BY user_id", {"ids": user_ids}))
    return left, counts == expected_counts if counts else "rows deleted"


def run(strategy, base, trial, server_dir, user_ids, expected):
    copy_of(base, trial)
    directory = data_dir(trial, server_dir)
    before_bytes, _ = table_bytes(trial)
    settings.ASPECTS_RETIREMENT_MUTATIONS = "heavyweight" if strategy == "heavyweight" else "lightweight"
    since = time.time() - 0.01
    started = time.perf_counter()
    if strategy in OTHER_OPTIONS:
        OTHER_OPTIONS[strategy](trial, user_ids)
    else:
        retire_users(user_ids, trial)
    retired = time.perf_counter() - started
    applied = 0.0
    if strategy == "lightweight+apply":
        started = time.perf_counter()
        trial.command(f"ALTER TABLE {trial.qualified(TABLE)} APPLY PATCHES", settings={"mutations_sync": 2})
        applied = time.perf_counter() - started
    written = written_since(directory, since)
    left, counts_kept = check(trial, user_ids, expected)
    return retired, applied, written, before_bytes, left, counts_kept


def main():  # pylint: disable=too-many-locals
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="ClickHouse URL (default: the server of var/bench-clickhouse)")
    parser.add_argument("--server-dir", default=str(ROOT / "var" / "bench-clickhouse"),
                        help="the local server's data directory (to measure bytes written)")
    parser.add_argument("--database", default="bench_retirement")
    parser.add_argument("--events", type=int, default=10_000_000, help="rows in tracking_events (default 10M)")
    parser.add_argument("--learners", type=int, default=100_000, help="distinct learners (default 100k)")
    parser.add_argument("--retire", type=int, default=100, help="learners retired in one batch (default 100)")
    parser.add_argument("--reuse", action="store_true", help="keep a generated table that has --events rows")
    parser.add_argument("--data", choices=("pii-on", "pii-off", "both"), default="both",
                        help="events as written with ASPECTS_ENABLE_PII on, off, or both (default)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help=f"comma-separated, of {STRATEGIES + tuple(OTHER_OPTIONS)}")
    args = parser.parse_args()
    url = args.url or f"http://127.0.0.1:{(Path(args.server_dir) / 'http_port').read_text().strip()}"
    print(f"ClickHouse {url}; {os.cpu_count()} CPUs shared with other work (figures are noisy)")
    for data in (("pii-on", "pii-off") if args.data == "both" else (args.data,)):
        database = args.database + ("" if data == "pii-on" else "_nopii")
        bench(url, database, data, args)


def bench(url, database, data, args):
    """Generate (or reuse) one base table, then run every strategy on a copy of it."""
    base = connect(url, database)
    MigrationRunner(base).run()
    base.forget_schema()
    if not (args.reuse and base.query(f"SELECT count() FROM {base.qualified(TABLE)}")[0][0] == args.events):
        started = time.perf_counter()
        generate(base, args.events, args.learners, pii=data == "pii-on")
        print(f"generated {args.events:,} events ({data}) in {time.perf_counter() - started:.1f} s")
    size, parts = table_bytes(base)
    user_ids = list(range(1, args.retire + 1))
    expected = dict(base.query(f"SELECT user_id, count() FROM {base.qualified(TABLE)} "
                               "WHERE user_id IN {ids:Array(Int64)} GROUP BY user_id", {"ids": user_ids}))
    print(f"{database}.{TABLE}: {args.events:,} events written with ASPECTS_ENABLE_PII {data[4:]}, "
          f"{size / 1e6:,.0f} MB on disk in {parts} parts; retiring {len(user_ids)} learners "
          f"({sum(expected.values()):,} of their events) in one batch:")
    base.command(f"CREATE DATABASE IF NOT EXISTS {database}_trial")
    trial = connect(url, f"{database}_trial")
    results = {}
    for strategy in args.strategies.split(","):
        retired, applied, written, before, left, kept = run(strategy, base, trial, Path(args.server_dir),
                                                            user_ids, expected)
        results[strategy] = retired + applied
        extra = f" + APPLY PATCHES {applied:.2f} s" if applied else ""
        print(f"  {strategy:18s} {retired:7.2f} s{extra}; {written / 1e6:9.1f} MB written "
              f"({100 * written / max(before, 1):.1f}% of the table); rows still naming them: {left}; "
              f"event counts kept: {kept}")
    if "heavyweight" in results:
        for strategy, seconds in results.items():
            if strategy != "heavyweight":
                print(f"  {strategy}: {results['heavyweight'] / max(seconds, 1e-6):.1f}x faster than heavyweight")
    base.command(f"DROP DATABASE IF EXISTS {trial.database} SYNC")


if __name__ == "__main__":
    main()

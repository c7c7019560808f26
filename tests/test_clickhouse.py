"""The ClickHouse layer against a real server: schema, round trips, bad rows, outages, bad config."""

import dataclasses
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from platform_plugin_aspects.clickhouse import (
    ClickHouse,
    ClickHouseConfigError,
    ClickHouseDataError,
    ClickHouseUnavailable,
)
from platform_plugin_aspects.clickhouse.client import ConnectionConfig
from platform_plugin_aspects.clickhouse.migrate import LEDGER_TABLE, MigrationRunner, load_migrations

from .clickhouse_server import start_local_server

# Columns (and types) the Aspects dbt models and dashboards read (reference/anchors.md §2).
ASPECTS_COLUMNS = {
    "course_overviews": {
        "org": "String", "course_key": "String", "display_name": "String", "course_start": "String",
        "course_end": "String", "enrollment_start": "String", "enrollment_end": "String", "self_paced": "Bool",
        "course_data_json": "String", "created": "String", "modified": "String", "dump_id": "UUID",
        "time_last_dumped": "String",
    },
    "course_blocks": {
        "org": "String", "course_key": "String", "location": "String", "display_name": "String",
        "xblock_data_json": "String", "order": "Int32", "edited_on": "String", "dump_id": "UUID",
        "time_last_dumped": "String",
    },
    "course_enrollment": {
        "id": "Int32", "course_key": "String", "created": "String", "is_active": "Bool",
        "mode": "LowCardinality(String)", "username": "String", "user_id": "Int32", "dump_id": "UUID",
        "time_last_dumped": "String",
    },
    "user_profile": {
        name: "String" for name in (
            "name", "username", "email", "meta", "courseware", "language", "location", "year_of_birth", "gender",
            "level_of_education", "mailing_address", "city", "country", "state", "goals", "bio",
            "profile_image_uploaded_at", "phone_number", "time_last_dumped",
        )
    } | {"id": "Int32", "user_id": "Int32", "dump_id": "UUID"},
    "external_id": {
        "external_user_id": "UUID", "external_id_type": "String", "username": "String", "user_id": "Int32",
        "dump_id": "UUID", "time_last_dumped": "String",
    },
    "tag": {"id": "Int32", "value": "String", "external_id": "String", "lineage": "String"},
    "taxonomy": {"id": "Int32", "name": "String", "dump_id": "UUID", "time_last_dumped": "String"},
    "object_tag": {"id": "Int32", "object_id": "String", "_value": "String", "_export_id": "String",
                   "lineage": "String"},
}


def test_migrations_create_aspects_compatible_tables(clickhouse):
    for table, expected in ASPECTS_COLUMNS.items():
        clickhouse.forget_schema()
        actual = clickhouse.column_types(table)
        for column, column_type in expected.items():
            assert actual.get(column) == column_type, f"{table}.{column}: {actual.get(column)} != {column_type}"
    # Nullable foreign keys, readable wherever Aspects reads Int32.
    assert clickhouse.column_types("tag")["parent"] == "Nullable(Int32)"


def test_migrations_are_recorded_and_second_run_is_a_noop(clickhouse):
    runner = MigrationRunner(clickhouse)
    assert runner.pending() == []
    assert runner.run() == []
    recorded = clickhouse.query(f"SELECT name FROM {clickhouse.database}.{LEDGER_TABLE} FINAL ORDER BY name")
    assert [name for (name,) in recorded] == [m.name for m in load_migrations()]


def test_a_changed_views_only_migration_is_applied_again_and_any_other_is_not(clickhouse, tmp_path):
    """
    An upgrade that edits a ``-- repeatable: views`` file replaces its views on the next run (the
    analytics views live in one file, 0032); an edited table migration is only reported.
    """
    database = "test_repeatable_migrate"
    clickhouse.command(f"DROP DATABASE IF EXISTS {database}")
    target = ClickHouse(dataclasses.replace(clickhouse.config, database=database))
    tables, views = tmp_path / "0001_tables.sql", tmp_path / "0002_views.sql"
    tables.write_text("CREATE TABLE IF NOT EXISTS ${database}.t (n UInt8) ENGINE = MergeTree ORDER BY n;\n")
    views.write_text("-- repeatable: views\nCREATE OR REPLACE VIEW ${database}.v AS SELECT 1 AS answer;\n")
    assert MigrationRunner(target, directory=tmp_path).run() == ["0001_tables", "0002_views"]
    assert MigrationRunner(target, directory=tmp_path).run() == []

    views.write_text("-- repeatable: views\nCREATE OR REPLACE VIEW ${database}.v AS SELECT 2 AS answer;\n")
    tables.write_text(tables.read_text() + "-- an edit\n")
    runner = MigrationRunner(target, directory=tmp_path)
    assert [m.name for m in runner.pending()] == ["0002_views"] and runner.changed() == ["0001_tables"]
    assert runner.run() == ["0002_views"]
    assert target.query(f"SELECT answer FROM {database}.v") == [(2,)]
    assert MigrationRunner(target, directory=tmp_path).run() == []

    views.write_text("-- repeatable: views\nCREATE TABLE ${database}.u (n UInt8) ENGINE = Memory;\n")
    with pytest.raises(ValueError, match="may only CREATE OR REPLACE VIEW"):
        MigrationRunner(target, directory=tmp_path).run()
    clickhouse.command(f"DROP DATABASE {database}")


def test_migrate_command_on_a_fresh_database(clickhouse):
    database = "test_fresh_migrate"
    clickhouse.command(f"DROP DATABASE IF EXISTS {database}")
    out = _call("migrate_clickhouse", database=database)
    assert "applied 0001_event_sink_tables" in out
    assert "up to date" in _call("migrate_clickhouse", database=database)
    tables = {name for (name,) in clickhouse.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", {"db": database})}
    assert set(ASPECTS_COLUMNS) <= tables
    clickhouse.command(f"DROP DATABASE {database}")


def test_dry_run_prints_sql_and_changes_nothing(clickhouse):
    database = "test_dry_run"
    clickhouse.command(f"DROP DATABASE IF EXISTS {database}")
    out = _call("migrate_clickhouse", database=database, dry_run=True, cluster="analytics")
    assert "CREATE TABLE IF NOT EXISTS test_dry_run.course_enrollment ON CLUSTER 'analytics'" in out
    assert "ReplicatedReplacingMergeTree(version, is_deleted)" in out
    assert not clickhouse.query("SELECT count() FROM system.databases WHERE name = {db:String}", {"db": database})[0][0]


def test_every_migration_rendered_for_a_cluster_parses_with_its_cluster_clause(clickhouse):
    """
    No cluster runs in the suite, so the ``ON CLUSTER`` statements never execute here: each one, as
    ``migrate_clickhouse --cluster`` renders it, must at least be SQL this ClickHouse parses, with
    the cluster clause where ClickHouse reads it (a clause in the wrong place fails to parse or
    drops out of the formatted statement, and the DDL would reach one server only).
    """
    statements = [(m.name, s) for m in load_migrations() for s in m.statements("event_sink", "main")]
    assert len(statements) > 100
    for name, statement in statements:
        formatted = clickhouse.query("SELECT formatQuerySingleLine({q:String})", {"q": statement})[0][0]
        assert " ON CLUSTER main" in formatted, (name, formatted[:200])


def test_cluster_name_is_validated(clickhouse):
    with pytest.raises(CommandError, match="Invalid ClickHouse cluster name"):
        _call("migrate_clickhouse", dry_run=True, cluster="x'; DROP TABLE y --")


@pytest.mark.parametrize("value", [
    "O'Reilly \"quoted\" back\\slash",
    "multi\nline\r\nvalue\ttab",
    "ünïcödé — 中文 — emoji 🎓 — RTL עברית",
    "",
    "x" * 100_000,
])
def test_values_round_trip_exactly(clickhouse, value):
    clickhouse.insert("taxonomy", [[7, value, "00000000-0000-0000-0000-000000000001", "t", 1]],
                      ["id", "name", "dump_id", "time_last_dumped", "version"])
    rows = clickhouse.query("SELECT name FROM taxonomy WHERE id = {id:Int32}", {"id": 7})
    assert rows == [(value,)]
    # Server-side parameters: the same value works as a filter, quotes and all.
    assert clickhouse.query("SELECT count() FROM taxonomy WHERE name = {v:String}", {"v": value}) == [(1,)]


def test_bad_row_fails_naming_the_column_and_writes_nothing(clickhouse):
    good = [1, "ok", "00000000-0000-0000-0000-000000000001", "t", 1]
    bad = ["not-a-number", "bad", "00000000-0000-0000-0000-000000000002", "t", 1]
    with pytest.raises(ClickHouseDataError) as caught:
        clickhouse.insert("taxonomy", [good, bad], ["id", "name", "dump_id", "time_last_dumped", "version"])
    assert caught.value.column == "id"
    assert "test_event_sink.taxonomy" in str(caught.value)
    assert "'id' (Int32)" in str(caught.value)
    assert clickhouse.query("SELECT count() FROM taxonomy") == [(0,)]


def test_an_insert_setting_the_server_does_not_know_is_left_out_not_fatal(clickhouse):
    """Insert settings only make an insert cheaper: one this ClickHouse does not have is left out."""
    row = [3, "kept", "00000000-0000-0000-0000-000000000003", "t", 1]
    clickhouse.insert("taxonomy", [row], ["id", "name", "dump_id", "time_last_dumped", "version"],
                      {"no_such_setting_in_any_clickhouse": 1, "optimize_on_insert": 0})
    assert clickhouse.query("SELECT name FROM taxonomy WHERE id = 3") == [("kept",)]


def test_unknown_column_is_refused_before_sending(clickhouse):
    with pytest.raises(Exception, match="no column"):
        clickhouse.insert("taxonomy", [[1, "x"]], ["id", "nme"])


def test_stopped_server_gives_clear_error_then_recovers(tmp_path, clickhouse):
    server, url = start_local_server(tmp_path / "ch")
    try:
        config = dataclasses.replace(clickhouse.config, url=url, database="default", retries=2,
                                     retry_backoff_secs=0.05, timeout_secs=1)
        outage = ClickHouse(config)
        assert outage.query("SELECT 1") == [(1,)]
        port = server.http_port
        server.stop()
        with pytest.raises(ClickHouseUnavailable) as caught:
            outage.query("SELECT 1")
        message = str(caught.value)
        assert "unavailable after 3 attempts" in message and url in message and "\n" not in message
        server.start(port=port)
        assert outage.query("SELECT 1") == [(1,)]
    finally:
        server.stop()


def test_data_survives_restart(tmp_path, clickhouse):
    server, url = start_local_server(tmp_path / "ch")
    try:
        conn = ClickHouse(dataclasses.replace(clickhouse.config, url=url, database="default"))
        conn.command("CREATE TABLE kept (x String) ENGINE = MergeTree ORDER BY x")
        conn.insert("default.kept", [["still here"]], ["x"])
        port = server.http_port
        server.stop()
        server.start(port=port)
        assert conn.query("SELECT x FROM default.kept") == [("still here",)]
    finally:
        server.stop()


@pytest.mark.parametrize("override,expected", [
    ({"password": "wrong"}, "wrong ClickHouse username or password"),
    ({"username": "nobody"}, "wrong ClickHouse username or password"),
    ({"url": "http://127.0.0.1:1"}, "connection refused"),
])
def test_bad_configuration_is_one_clear_line(clickhouse, override, expected):
    with pytest.raises(CommandError) as caught:
        _call("migrate_clickhouse", list=True, **override)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("url,compress,expected", [
    ("http://127.0.0.1:8123", "auto", False),
    ("http://127.1.2.3:8123", None, False),
    ("http://[::1]:8123", "auto", False),
    ("http://localhost:8123", "auto", False),
    ("http://clickhouse:8123", "auto", True),
    ("https://ch.example.org", "auto", True),
    ("http://10.0.0.5:8123", "auto", True),
    ("http://127.0.0.1:8123", "true", True),
    ("http://127.0.0.1:8123", True, True),
    ("http://clickhouse:8123", "off", False),
    ("http://clickhouse:8123", False, False),
    ("http://127.0.0.1:8123", "", False),  # an empty value in lms.yml: the default
])
def test_answers_travel_compressed_unless_clickhouse_is_on_this_machine(settings, url, compress, expected):
    config = {"url": url} if compress is None else {"url": url, "compress": compress}
    settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG = config
    assert ConnectionConfig.from_settings().compresses is expected


def test_a_compress_value_that_is_not_a_choice_is_one_clear_line(settings):
    settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG = {"url": "http://clickhouse:8123", "compress": "zstd"}
    with pytest.raises(ClickHouseConfigError, match='"compress" must be true, false or "auto", not \'zstd\''):
        ConnectionConfig.from_settings()


@pytest.mark.parametrize("compress", [True, False])
def test_rows_round_trip_the_same_compressed_or_not(clickhouse, compress):
    conn = ClickHouse(dataclasses.replace(clickhouse.config, compress=compress))
    assert (conn._get_client().compression is not None) is compress  # pylint: disable=protected-access
    conn.command("DROP TABLE IF EXISTS default.compressed_or_not")
    conn.command("CREATE TABLE default.compressed_or_not (i UInt32, s String) ENGINE = MergeTree ORDER BY i")
    rows = [[i, f"ünïcode {i} " + "x" * (i % 7) * 100_000] for i in range(40)]
    try:
        conn.insert("default.compressed_or_not", rows, ["i", "s"])
        assert [list(r) for r in conn.query("SELECT i, s FROM default.compressed_or_not ORDER BY i")] == rows
    finally:
        conn.command("DROP TABLE default.compressed_or_not")


def test_missing_database_is_one_clear_line(clickhouse):
    bad = ClickHouse(dataclasses.replace(clickhouse.config, database="no_such_db"))
    with pytest.raises(ClickHouseConfigError, match="database does not exist"):
        bad.query("SELECT 1")


def test_cli_prints_no_traceback_for_bad_password(clickhouse):
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate_clickhouse", "--list", "--password", "wrong", "--url",
         clickhouse.config.url],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"CommandError: ClickHouse at {clickhouse.config.where} (user 'ch_cms'): "
        "authentication failed: wrong ClickHouse username or password"
    ]


def _call(*args, **options):
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()

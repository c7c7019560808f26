"""Test helpers around the real local ClickHouse server."""

import os

from django.conf import settings

from devstack.local_clickhouse import LocalClickHouse
from platform_plugin_aspects.analytics.model import stop_refreshes
from platform_plugin_aspects.clickhouse import get_clickhouse, reset_connections
from platform_plugin_aspects.clickhouse.migrate import LEDGER_TABLE, MigrationRunner

TEST_DATABASE = "test_event_sink"


def point_settings_at(url, database=TEST_DATABASE, **extra):
    """
    Send the plugin (and any subprocess, via the environment) to ``url``/``database``.

    The settings dict is updated in place so it holds whatever settings-override layers are active.
    """
    config = settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG
    for key in ("retries", "retry_backoff_secs", "timeout_secs"):
        if key not in extra and key in config and key != "timeout_secs":
            del config[key]
    config.update(url=url, database=database, **extra)
    os.environ["CLICKHOUSE_URL"] = url
    os.environ["CLICKHOUSE_DATABASE"] = database
    reset_connections()


def start_local_server(data_dir, port=None):
    """Start a real ClickHouse in ``data_dir`` and return (server, url)."""
    server = LocalClickHouse(data_dir)
    return server, server.start(port=port)


def migrate():
    """Apply the plugin's migrations to the configured database."""
    clickhouse = get_clickhouse()
    done = MigrationRunner(clickhouse).run()
    clickhouse.forget_schema()
    return done


def truncate_all(clickhouse=None):
    """Empty every plugin table (not the migration ledger) between tests."""
    clickhouse = clickhouse or get_clickhouse()
    # No refresh may append pairings of rows about to be emptied (tests that want one run it: refresh_kept_tables).
    stop_refreshes(clickhouse)
    tables = clickhouse.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree%'",
        {"db": clickhouse.database},
    )
    for (name,) in tables:
        if name != LEDGER_TABLE:
            clickhouse.command(f"TRUNCATE TABLE {clickhouse.database}.{name}")

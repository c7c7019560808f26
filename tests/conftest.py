"""
Shared fixtures. The suite talks to a REAL ClickHouse: the local chdb-core server started once per
session (or the server in ``CLICKHOUSE_URL``), with the plugin's migrations applied to a database
of its own.
"""

import os

import pytest

from platform_plugin_aspects.clickhouse import get_clickhouse, reset_connections

from .clickhouse_server import TEST_DATABASE, migrate, point_settings_at, start_local_server, truncate_all


@pytest.fixture(scope="session", autouse=True)
def clickhouse_server(tmp_path_factory):
    """One ClickHouse for the session: external when CLICKHOUSE_URL is set, else a local one."""
    external = os.environ.get("CLICKHOUSE_URL")
    server = None
    if external:
        url = external
    else:
        server, url = start_local_server(tmp_path_factory.mktemp("clickhouse"))
    point_settings_at(url, TEST_DATABASE)
    migrate()
    yield url
    reset_connections()
    if server:
        server.stop()


@pytest.fixture
def clickhouse(clickhouse_server):
    """The plugin's ClickHouse connection, with every plugin table emptied first."""
    connection = get_clickhouse()
    truncate_all(connection)
    return connection


@pytest.fixture
def huge_tag_ids():
    """For tests that create tags with ids beyond Int32: remove them and rewind the id counter after."""
    yield
    from tests.lms.tagging.models import Tag  # pylint: disable=import-outside-toplevel

    from .factories import rewind_ids  # pylint: disable=import-outside-toplevel

    rewind_ids(Tag)


@pytest.fixture
def own_clickhouse(tmp_path, settings, clickhouse_server):
    """A ClickHouse server of this test's own (migrated, the plugin pointed at it), so stopping it disturbs nobody."""
    server, url = start_local_server(tmp_path / "own-clickhouse")
    original = dict(settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG)
    point_settings_at(url, "outage_sink", retries=1, retry_backoff_secs=0.01)
    migrate()
    yield server
    server.stop()
    point_settings_at(original["url"], original["database"])

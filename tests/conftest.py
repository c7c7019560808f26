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


# --- The LMS database: MariaDB/MySQL, checked before anything runs; SQLite only when asked for ----

def _database_probe():
    """``(ok, line)``: what the stand-in LMS's database is, checked by connecting to it."""
    from django.conf import settings  # pylint: disable=import-outside-toplevel

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3") and os.environ.get("ASPECTS_DB") == "sqlite":
        return True, ("DATABASE: SQLite, because ASPECTS_DB=sqlite. NOT the real database: concurrent writers, "
                      "SKIP LOCKED and MariaDB's types are not exercised")
    if not db["ENGINE"].endswith("mysql"):
        return False, f"the LMS database must be MariaDB/MySQL, not {db['ENGINE']} (SQLite only with ASPECTS_DB=sqlite)"
    import MySQLdb  # pylint: disable=import-outside-toplevel

    where = f"{db['HOST']}:{db['PORT']}"
    try:
        connection = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"], password=db["PASSWORD"],
                                     connect_timeout=5)
    except MySQLdb.Error as exc:
        return False, (f"no MariaDB/MySQL answers on {where} ({exc}). `make test` starts a private one there; "
                       "or run `python -m devstack.local_mariadb ensure` (ASPECTS_DB_HOST/ASPECTS_DB_PORT: where)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@version_comment")
        version, comment = cursor.fetchone()
    connection.close()
    kind = "MariaDB" if "mariadb" in f"{version} {comment}".lower() else "MySQL"
    return True, f"database: {kind} {version} on {where}, test database test_{db['NAME']}"


def pytest_sessionstart(session):
    """Fail the run (never skip) when the LMS database is not a reachable MariaDB/MySQL."""
    ok, line = _database_probe()
    if not ok:
        pytest.exit(f"the tests need the real database: {line}", returncode=pytest.ExitCode.USAGE_ERROR)
    session.config.stash[_DATABASE_LINE] = line


_DATABASE_LINE = pytest.StashKey[str]()


def pytest_report_header(config):
    return config.stash.get(_DATABASE_LINE, None)


def pytest_terminal_summary(terminalreporter, config):
    """Say it last too when the run did not use the real database."""
    line = config.stash.get(_DATABASE_LINE, "")
    if line.startswith("DATABASE: SQLite"):
        terminalreporter.write_sep("!", line, red=True, bold=True)


def pytest_sessionfinish(session, exitstatus):
    """A skipped test fails the run: the suite runs on real parts or says why it cannot."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"{len(skipped)} test(s) skipped: this suite never skips: it runs on real parts "
                            "or says why it cannot", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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

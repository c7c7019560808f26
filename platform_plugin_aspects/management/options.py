"""Options shared by the operator commands, so every command spells them the same way."""

from django.core.management.base import CommandError

from ..clickhouse import ClickHouseError, get_clickhouse


def add_connection_arguments(parser):
    """``--url --username --password --database --timeout_secs``: override the ClickHouse settings."""
    group = parser.add_argument_group(
        "ClickHouse connection (defaults come from EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG)"
    )
    group.add_argument("--url", help="ClickHouse HTTP(S) URL, e.g. http://clickhouse:8123")
    group.add_argument("--username", help="ClickHouse user")
    group.add_argument("--password", help="ClickHouse password")
    group.add_argument("--database", help="database holding the sink tables (default event_sink)")
    group.add_argument("--timeout_secs", type=float, help="connect timeout in seconds")


def connection_overrides(options):
    """The connection options the operator actually gave."""
    keys = ("url", "username", "password", "database", "timeout_secs")
    return {key: options.get(key) for key in keys if options.get(key) is not None}


def clickhouse_for(options):
    """A ClickHouse connection for the command, or a one-line CommandError."""
    try:
        return get_clickhouse(connection_overrides(options))
    except ClickHouseError as exc:
        raise CommandError(str(exc)) from exc

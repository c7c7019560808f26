"""The only code that talks to ClickHouse: client, schema migrations, local server launcher."""

from .client import (  # noqa: F401
    ClickHouse,
    ClickHouseConfigError,
    ClickHouseDataError,
    ClickHouseError,
    ClickHouseQueryError,
    ClickHouseUnavailable,
    ConnectionConfig,
    get_clickhouse,
    reset_connections,
)

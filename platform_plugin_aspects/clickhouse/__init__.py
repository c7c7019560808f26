"""The only code that talks to ClickHouse: client, schema migrations (the dev server: devstack.local_clickhouse)."""

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

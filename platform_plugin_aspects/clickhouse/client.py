"""
The one place that talks to ClickHouse.

Every other module asks :func:`get_clickhouse` for a :class:`ClickHouse` and calls ``insert``,
``query`` or ``command`` on it. This module owns the things that are easy to get wrong:

* one pooled clickhouse-connect HTTP client per process (re-created after a fork, so Celery's
  prefork workers never share sockets);
* server-side parameters for every value (``{name:Type}`` placeholders), never string formatting;
* inserts with an explicit column list and the table's real column types, in the compressed
  Native format, with no ``input_format_allow_errors_*`` (a bad row fails the insert, loudly);
* retries with exponential back-off on connection errors and on server errors ClickHouse itself
  documents as transient;
* errors that say in one line which server, which table, which column and why.
"""

import ipaddress
import logging
import os
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver import exceptions as ch_exc
from django.conf import settings

from ..retry import backoff_secs

log = logging.getLogger(__name__)

# ClickHouse error codes worth another attempt: the server was busy, shutting down, or the
# network dropped; the same request may well succeed a moment later.
RETRYABLE_SERVER_CODES = {
    3,  # UNEXPECTED_END_OF_FILE
    159,  # TIMEOUT_EXCEEDED
    164,  # READONLY (replica temporarily read-only)
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY
    252,  # TOO_MANY_PARTS
    319,  # UNKNOWN_STATUS_OF_INSERT
    425,  # SYSTEM_ERROR
    999,  # KEEPER_EXCEPTION
}
RETRYABLE_HTTP_STATUS = {502, 503, 504}
# Codes that mean "the configuration is wrong": retrying cannot help.
CONFIG_ERROR_CODES = {
    81: "the database does not exist (create it with `manage.py migrate_clickhouse`)",
    192: "unknown ClickHouse user",
    193: "wrong ClickHouse password",
    194: "the ClickHouse user needs a password",
    516: "authentication failed: wrong ClickHouse username or password",
}

# Driver log records our client reports better itself, so they only hide the signal:
# * a full traceback at ERROR for every value it cannot serialise, on each attempt (splitting a
#   refused batch in halves makes a dozen attempts per bad row), then it raises: we raise that as
#   one line naming the table, column and reason (ClickHouseDataError), and whoever keeps the row
#   logs its traceback at DEBUG, once;
# * "Unexpected Http Driver Exception" (with a traceback) for every request to a server that is
#   down: our client logs each retry in one line and raises ClickHouseUnavailable with the reason.
_DRIVER_LOGGERS = ("clickhouse_connect.driver.transform", "clickhouse_connect.driver.rustcodec",
                   "clickhouse_connect.driver._backend.http_sync")


def _not_reported_by_us(record):
    """Logging filter: drop the driver's records listed above; keep everything else."""
    return record.exc_info is None and record.msg != "Unexpected Http Driver Exception"


for _name in _DRIVER_LOGGERS:
    logging.getLogger(_name).addFilter(_not_reported_by_us)

# What the driver raises, outside its own DataError, for a value it cannot encode into its column.
# Not ValueError or TypeError at large: those also mean rows our code built wrong (a bug), which
# must never be blamed on the data.
_VALUE_ERRORS = (UnicodeError, OverflowError, struct.error)

_CODE_RE = re.compile(r"[Cc]ode: (\d+)")
_HTTP_STATUS_RE = re.compile(r"HTTP status (\d+)")
_EXCEPTION_TEXT_RE = re.compile(r"DB::Exception: (.*?)(?: \(version [^)]*\))?(?: \(for url [^)]*\))?$", re.S)
_COLUMN_RE = re.compile(r"column `([^`]+)`")


class ClickHouseError(Exception):
    """Base class: the message is one line an operator can act on."""


class ClickHouseUnavailable(ClickHouseError):
    """The server did not answer (or kept answering with transient errors) after every retry."""


class ClickHouseConfigError(ClickHouseError):
    """The connection settings are wrong: URL, user, password or database."""


class ClickHouseQueryError(ClickHouseError):
    """The server refused a statement (syntax, unknown table, type mismatch...)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class ClickHouseDataError(ClickHouseError):
    """A row could not be converted for its column; nothing of the insert was written."""

    def __init__(self, message, table, column=None, column_type=None, reason=""):
        super().__init__(message)
        self.table = table
        self.column = column
        self.column_type = column_type
        self.reason = reason or message

    def one_line(self):
        """``table T, column C (Type): reason`` on one line, for logs an operator reads."""
        column = f", column {self.column!r} ({self.column_type or '?'})" if self.column else ""
        return f"table {self.table.rsplit('.', 1)[-1]}{column}: {' '.join(str(self.reason).split())[:500]}"


@dataclass(frozen=True)
class ConnectionConfig:
    """Everything needed to reach ClickHouse, built from ``EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG``."""

    url: str
    username: str = "default"
    password: str = field(default="", repr=False)
    database: str = "event_sink"
    timeout_secs: float = 5
    retries: int = 4
    retry_backoff_secs: float = 0.25
    compress: "bool | str" = "auto"  # True, False or "auto": see compresses

    @classmethod
    def from_settings(cls, overrides=None):
        """Read the Django setting, with non-empty ``overrides`` (e.g. CLI flags) on top."""
        conf = dict(getattr(settings, "EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG", {}) or {})
        conf.update({k: v for k, v in (overrides or {}).items() if v is not None})
        if not conf.get("url"):
            raise ClickHouseConfigError("EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG has no 'url'")
        return cls(
            url=str(conf["url"]),
            username=str(conf.get("username") or "default"),
            password=str(conf.get("password") or ""),
            database=str(conf.get("database") or "event_sink"),
            timeout_secs=float(conf.get("timeout_secs") or 5),
            retries=int(conf.get("retries", 4)),
            retry_backoff_secs=float(conf.get("retry_backoff_secs", 0.25)),
            compress=_compress_choice(conf.get("compress", "auto")),
        )

    @property
    def compresses(self):
        """
        Whether inserts and answers travel compressed. ``"auto"``: unless ClickHouse is on this
        machine (a loopback address or ``localhost``), where compressing costs both ends CPU and
        saves no bandwidth (50,000 learner statuses: 6.4 MB, 50 ms more compressed on loopback).
        """
        if self.compress != "auto":
            return self.compress
        host = (urlparse(self.url).hostname or "").lower()
        if host == "localhost" or host.endswith(".localhost"):
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:  # a host name: assume it is another machine
            return True

    @property
    def where(self):
        """Human-readable target for error messages (never includes the password)."""
        parsed = urlparse(self.url)
        return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or (8443 if parsed.scheme == 'https' else 8123)}"


def _compress_choice(value):
    """The ``compress`` key: true, false or "auto" (strings as a YAML or env file gives them; unset: "auto")."""
    text = "" if value is None else str(value).strip().lower()
    if text in ("auto", ""):
        return "auto"
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ClickHouseConfigError(f'EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG "compress" must be true, false or "auto", '
                                f"not {value!r}")


def _changeable(client, settings):
    """
    ``settings`` less those this server does not know or makes readonly for this user (as its
    ``system.settings`` says): the driver or the server would refuse the statement for them.
    """
    if not settings:
        return None
    known = client.server_settings
    return {name: value for name, value in settings.items() if name in known and not known[name].readonly} or None


def _server_code(exc):
    match = _CODE_RE.search(str(exc))
    return int(match.group(1)) if match else None


def _http_status(exc):
    match = _HTTP_STATUS_RE.search(str(exc))
    return int(match.group(1)) if match else None


def _server_text(exc):
    """The server's own explanation, without the driver's URL and version noise."""
    text = str(exc)
    match = _EXCEPTION_TEXT_RE.search(text)
    text = match.group(1) if match else text
    return " ".join(text.split())[:500]


def _is_retryable(exc):
    if isinstance(exc, ch_exc.OperationalError):
        return True
    code = _server_code(exc)
    if code in RETRYABLE_SERVER_CODES:
        return True
    return _http_status(exc) in RETRYABLE_HTTP_STATUS


class ClickHouse:
    """A pooled, retrying connection to one ClickHouse database."""

    def __init__(self, config):
        self.config = config
        self.database = config.database
        self._lock = threading.Lock()
        self._client = None
        self._client_pid = None
        self._column_types = {}
        self._view_queries = {}

    # -- connection -----------------------------------------------------------------------
    def _connect(self):
        parsed = urlparse(self.config.url)
        return clickhouse_connect.get_client(
            host=parsed.hostname,
            port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
            interface=parsed.scheme or "http",
            username=self.config.username,
            password=self.config.password,
            database=self.config.database,
            connect_timeout=self.config.timeout_secs,
            send_receive_timeout=max(self.config.timeout_secs, 30),
            compress=self.config.compresses,
            # One client is shared by the threads of a process; a server session would
            # serialise them (and is not needed: every statement stands alone).
            autogenerate_session_id=False,
        )

    def _get_client(self):
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                self._client = self._connect()
                self._client_pid = os.getpid()
            return self._client

    def close(self):
        """Drop the pooled client (the next call reconnects)."""
        with self._lock:
            if self._client is not None and self._client_pid == os.getpid():
                self._client.close()
            self._client = None

    # -- retry and error translation ---------------------------------------------------------
    def _run(self, what, operation, table=None):
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return operation(self._get_client())
            except ch_exc.DataError as exc:
                raise self._data_error(exc, table) from exc
            except _VALUE_ERRORS as exc:
                if table is None:  # not an insert: a parameter, i.e. our own code
                    raise
                # Raised by the driver while encoding a row (e.g. a lone surrogate in a String):
                # the row's value does not fit, as with DataError.
                raise self._data_error(exc, table) from exc
            except (ch_exc.OperationalError, ch_exc.DatabaseError) as exc:
                if _server_code(exc) in CONFIG_ERROR_CODES:
                    raise self._config_error(exc) from exc
                if not _is_retryable(exc):
                    raise self._query_error(exc, what) from exc
                if attempt == attempts:
                    raise ClickHouseUnavailable(
                        f"ClickHouse at {self.config.where} unavailable after {attempts} attempts ({what}): "
                        f"{self._short_reason(exc)}"
                    ) from exc
                delay = backoff_secs(attempt, first=self.config.retry_backoff_secs)
                log.warning("ClickHouse at %s: %s failed (attempt %d/%d), retrying in %.2fs: %s",
                            self.config.where, what, attempt, attempts, delay, self._short_reason(exc))
                self.close()
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _short_reason(self, exc):
        text = str(exc)
        if "Connection refused" in text:
            return "connection refused"
        if "timed out" in text.lower() or "timeout" in text.lower():
            return "timed out"
        if "Name or service not known" in text or "nodename nor servname" in text:
            return "unknown host"
        return _server_text(exc)

    def _config_error(self, exc):
        code = _server_code(exc)
        target = f"database {self.database!r}" if code == 81 else f"user {self.config.username!r}"
        return ClickHouseConfigError(f"ClickHouse at {self.config.where} ({target}): {CONFIG_ERROR_CODES[code]}")

    def _query_error(self, exc, what):
        return ClickHouseQueryError(f"ClickHouse refused {what}: {_server_text(exc)}", code=_server_code(exc))

    def _data_error(self, exc, table):
        text = str(exc)
        match = _COLUMN_RE.search(text)
        column = match.group(1) if match else None
        types = self._column_types.get(table, {})
        reason = str(exc.__cause__) if exc.__cause__ else text
        col_part = f" column {column!r} ({types.get(column, '?')})" if column else ""
        return ClickHouseDataError(
            f"Bad row for {table}:{col_part}: {reason}; nothing of this insert was written",
            table=table,
            column=column,
            column_type=types.get(column),
            reason=reason,
        )

    # -- public API ----------------------------------------------------------------------------
    def qualified(self, table):
        """``db.table`` for a bare table name (names are our own constants, never user input)."""
        return table if "." in table else f"{self.database}.{table}"

    def _select(self, client, sql, parameters, **options):
        """The driver's result of a SELECT (the one place every query passes through)."""
        return client.query(sql, parameters=parameters or {}, **options)

    def query(self, sql, parameters=None):
        """Rows (as tuples) of a SELECT; values go in ``parameters`` as ``{name:Type}``."""
        return self._run("a query", lambda c: self._select(c, sql, parameters).result_rows)

    def query_dicts(self, sql, parameters=None):
        """Rows of a SELECT as dicts keyed by column name."""
        return self._run("a query", lambda c: list(self._select(c, sql, parameters).named_results()))

    def query_columns(self, sql, parameters=None):
        """
        ``(column names, columns)`` of a SELECT, each column a sequence of its values (the driver's
        own layout: no per-row tuples or dicts, for results of tens of thousands of rows). Unlike
        the other queries, a column typed with a time zone (``DateTime64(6, 'UTC')``) comes back as
        aware datetimes: the driver attaches the zone as it decodes, for free.
        """
        def columns(client):
            result = self._select(client, sql, parameters, tz_mode="schema")
            return list(result.column_names), list(result.result_columns) or [[] for _ in result.column_names]
        return self._run("a query", columns)

    def command(self, sql, parameters=None, settings=None):
        """Run a statement that returns no rows (DDL, lightweight DELETE...)."""
        return self._run("a statement", lambda c: c.command(sql, parameters=parameters or None,
                                                            settings=settings))

    def column_types(self, table):
        """``{column: type}`` of a table, cached for the life of the process."""
        table = self.qualified(table)
        if table not in self._column_types:
            rows = self.query(
                "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} "
                "ORDER BY position",
                {"db": table.split(".", 1)[0], "t": table.split(".", 1)[1]},
            )
            if not rows:
                raise ClickHouseQueryError(
                    f"Table {table} does not exist on {self.config.where}; run `manage.py migrate_clickhouse`"
                )
            self._column_types[table] = dict(rows)
        return self._column_types[table]

    def table_names(self):
        """Names of the tables in the sink database (asked each time: migrations and operators add some)."""
        return {name for (name,) in self.query(
            "SELECT name FROM system.tables WHERE database = {db:String}", {"db": self.database})}

    def view_query(self, view):
        """
        The SELECT a view of this database runs, as stored (query parameters stay ``{name:Type}``),
        cached for the life of the process like column types.
        """
        view = self.qualified(view)
        if view not in self._view_queries:
            rows = self.query(
                "SELECT as_select FROM system.tables WHERE database = {db:String} AND name = {t:String}",
                {"db": view.split(".", 1)[0], "t": view.split(".", 1)[1]},
            )
            if not rows or not rows[0][0]:
                raise ClickHouseQueryError(
                    f"View {view} does not exist on {self.config.where}; run `manage.py migrate_clickhouse`"
                )
            self._view_queries[view] = rows[0][0]
        return self._view_queries[view]

    def forget_schema(self):
        """Forget cached column types and view queries (after migrations change tables)."""
        self._column_types.clear()
        self._view_queries.clear()

    def insert(self, table, rows, column_names, settings=None):
        """
        Insert ``rows`` (sequences in ``column_names`` order) in one statement.

        ``settings``: ClickHouse settings that make the insert cheaper, never ones it depends on.
        Those the server does not know or this user may not change (readonly for them, as
        ``system.settings`` says) are left out rather than failing the insert.

        Raises :class:`ClickHouseDataError` naming the column when a value does not fit its type;
        in that case nothing was written.
        """
        rows = list(rows)
        if not rows:
            return 0
        table = self.qualified(table)
        types = self.column_types(table)
        unknown = [c for c in column_names if c not in types]
        if unknown:
            raise ClickHouseQueryError(f"Table {table} has no column(s) {', '.join(unknown)}")
        type_names = [types[c] for c in column_names]
        self._run(
            f"the insert into {table}",
            lambda c: c.insert(table, rows, column_names=list(column_names), column_type_names=type_names,
                               settings=_changeable(c, settings)),
            table=table,
        )
        return len(rows)

    def ping(self):
        """Raise a ClickHouseError unless the server answers a trivial query."""
        self.query("SELECT 1")
        return True


_instances = {}
_instances_lock = threading.Lock()


def get_clickhouse(overrides=None):
    """The process-wide ClickHouse connection for the current settings (plus ``overrides``)."""
    config = ConnectionConfig.from_settings(overrides)
    with _instances_lock:
        instance = _instances.get(config)
        if instance is None:
            instance = _instances[config] = ClickHouse(config)
        return instance


def reset_connections():
    """Close every pooled connection (tests, and after settings change)."""
    with _instances_lock:
        for instance in _instances.values():
            instance.close()
        _instances.clear()

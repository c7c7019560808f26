"""Helpers for sink tests: switch sinks on, read the current rows back from ClickHouse."""

from platform_plugin_aspects.clickhouse import get_clickhouse

ALL_SINKS = ("COURSE_OVERVIEWS", "COURSE_ENROLLMENT", "USER_PROFILE", "EXTERNAL_ID", "TAG", "TAXONOMY", "OBJECT_TAG",
             "COURSE_GRADE")


def enable_all(settings, pii=True):
    """Turn every sink on (and PII copying, unless ``pii`` is False)."""
    for name in ALL_SINKS:
        setattr(settings, f"EVENT_SINK_CLICKHOUSE_{name}_ENABLED", True)
    settings.ASPECTS_ENABLE_PII = pii


def current(table, where="1", params=None, columns="*", order="1"):
    """Current (latest, not deleted) rows of ``table`` as dicts."""
    clickhouse = get_clickhouse()
    return clickhouse.query_dicts(
        f"SELECT {columns} FROM {clickhouse.qualified(table)} FINAL WHERE {where} ORDER BY {order}", params or {}
    )


def physical_rows(table, where="1", params=None):
    """Physical row count (every version of every row, no FINAL): what a double insert would show."""
    clickhouse = get_clickhouse()
    sql = f"SELECT count() FROM {clickhouse.qualified(table)} WHERE {where}"
    return clickhouse.query(sql, params or {})[0][0]

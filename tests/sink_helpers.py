"""Helpers for sink tests: switch sinks on, read the current rows back from ClickHouse."""

from platform_plugin_aspects.clickhouse import get_clickhouse
from tests.waiting import wait_for  # noqa: F401  (the sink tests import it from here)

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


def stop_merges(*tables):
    """
    Keep every inserted part of ``tables`` as it is (until the server restarts), so physical counts
    show every version written: a background merge folds the versions of a ReplacingMergeTree at a
    moment of its own choosing, which would make a count of versions (or of repeats) pass or fail by
    chance.
    """
    clickhouse = get_clickhouse()
    for table in tables:
        clickhouse.command(f"SYSTEM STOP MERGES {clickhouse.qualified(table)}")


def repeated_rows(table, columns):
    """
    Physical rows that repeat another one's ``columns`` and ``version``: the same state of an object
    inserted twice (a re-delivery or a retry that wrote again). Counted without FINAL, which would
    hide them.
    """
    clickhouse = get_clickhouse()
    return clickhouse.query(f"SELECT count() - uniqExact({columns}, version) FROM {clickhouse.qualified(table)}")[0][0]


# Current state, LMS against ClickHouse, as sorted lists (a dict would hide a second current row).
def enrollments_in_lms():
    """``[(user_id, course_key, id, mode, is_active)]`` for every enrollment in the LMS."""
    from tests.lms.student.models import CourseEnrollment  # pylint: disable=import-outside-toplevel

    return sorted((e.user_id, str(e.course_id), e.id, e.mode, e.is_active) for e in CourseEnrollment.objects.all())


def enrollments_in_clickhouse():
    """The same columns from the current ``course_enrollment`` rows."""
    return sorted((r["user_id"], r["course_key"], r["id"], r["mode"], r["is_active"])
                  for r in current("course_enrollment", columns="user_id, course_key, id, mode, is_active"))


def profiles_in_lms():
    """``[(user_id, username, city)]`` for every profile in the LMS (NULL city: '', as in ClickHouse)."""
    from tests.lms.student.models import UserProfile  # pylint: disable=import-outside-toplevel

    return sorted((p.user_id, p.user.username, p.city or "") for p in UserProfile.objects.select_related("user"))


def profiles_in_clickhouse():
    """The same columns from the current ``user_profile`` rows."""
    return sorted((r["user_id"], r["username"], r["city"])
                  for r in current("user_profile", columns="user_id, username, city"))

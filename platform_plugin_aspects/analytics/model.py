"""
Upkeep of the analytics model that is not a migration: the settings its views read, and the
refreshes of the kept tables (the video pairings, analytics_video_watch, and each learner's merged
activity, analytics_learner_rollup) on demand.

The plain views (``analytics_learner_status``, ``analytics_at_risk_learners``) serve dashboards,
which cannot pass Django settings, so ``migrate_clickhouse`` copies the at-risk settings into
``<database>.analytics_settings`` on every deploy. The query module passes them itself.
"""

from django.conf import settings

from .queries import forget_changes

SETTINGS_TABLE = "analytics_settings"


def model_settings():
    """``{name: value}`` the views read, from Django settings."""
    return {
        "at_risk_inactive_days": float(settings.ASPECTS_AT_RISK_INACTIVE_DAYS),
        "default_passing_grade": float(settings.ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE),
        "video_watch_margin_secs": float(settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS),
    }


def sync_settings(clickhouse):
    """Write the settings when they differ from what the table holds; returns a line for the operator."""
    wanted = model_settings()
    current = dict(clickhouse.query(
        f"SELECT name, argMax(value, updated_at) FROM {clickhouse.qualified(SETTINGS_TABLE)} GROUP BY name"))
    if current == wanted:
        return f"{clickhouse.qualified(SETTINGS_TABLE)}: analytics settings unchanged"
    clickhouse.insert(SETTINGS_TABLE, [[name, value] for name, value in wanted.items()], ("name", "value"))
    return (f"{clickhouse.qualified(SETTINGS_TABLE)}: at-risk learners inactive for "
            f"{wanted['at_risk_inactive_days']:g}+ days, default passing grade {wanted['default_passing_grade']:g}, "
            f"video pairings kept for changes older than {wanted['video_watch_margin_secs']:g} s")


# The refreshable materialized views that keep computed tables up to date, and the table each keeps.
KEPT_TABLES = {
    "analytics_video_watch_refresh": "analytics_video_watch",
    "analytics_learner_rollup_refresh": "analytics_learner_rollup",
}


def refresh_kept_tables(clickhouse, keep_running=True):
    """
    Run every refresh of the kept tables now and wait for each (ClickHouse otherwise runs them
    every minute by itself): after a rebuild, or to measure them. Readers are exact without them;
    they make reads fast. With ``keep_running`` False the periodic refreshes stay stopped after.
    """
    for view in KEPT_TABLES:
        view = clickhouse.qualified(view)
        clickhouse.command(f"SYSTEM START VIEW {view}")
        clickhouse.command(f"SYSTEM REFRESH VIEW {view}")
        clickhouse.command(f"SYSTEM WAIT VIEW {view}")
    # This process's reports stop trusting an earlier "somebody changed" (see analytics/queries.py):
    # after the refreshes they ask again, and read kept rows alone where nobody did since.
    forget_changes()
    if not keep_running:
        stop_refreshes(clickhouse)


def stop_refreshes(clickhouse):
    """Stop the periodic refreshes (and cancel those in progress), e.g. before emptying the tables."""
    for view in KEPT_TABLES:
        clickhouse.command(f"SYSTEM STOP VIEW {clickhouse.qualified(view)}")


# What system.view_refreshes says of an attempt cancelled by SYSTEM STOP VIEW or SYSTEM CANCEL VIEW.
CANCELLED = "cancelled"


def refresh_states(clickhouse):
    """
    ``[{"table", "view", "status", "last_success", "failing"}]`` of the refreshes that migrations
    created, from ``system.view_refreshes``. ``failing`` is the error of the latest attempt without
    its stack trace ('' once an attempt succeeds, and for an attempt that was cancelled: stopping a
    refresh (``SYSTEM STOP VIEW``, stop_refreshes) cancels the one running, and
    ClickHouse keeps saying "cancelled" until the next succeeds, which a stopped refresh never
    starts: a stop is reported as one, not as a failure). The reports are exact whatever they say;
    a refresh that fails or is stopped only makes them slower (more rows merged at read time).
    """
    rows = clickhouse.query(
        "SELECT view, status, last_success_time, splitByString(', Stack trace', exception)[1] "
        "FROM system.view_refreshes WHERE database = {db:String} AND view IN {views:Array(String)} ORDER BY view",
        {"db": clickhouse.database, "views": list(KEPT_TABLES)})
    return [{"table": KEPT_TABLES[view], "view": view, "status": status,
             "last_success": last_success.isoformat() if last_success else None,
             "failing": "" if failing == CANCELLED else failing}
            for view, status, last_success, failing in rows]

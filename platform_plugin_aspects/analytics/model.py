"""
Upkeep of the analytics model that is not a migration: the settings its views read, and the
refresh of the kept video pairings (analytics_video_watch) on demand.

The plain views (``analytics_learner_status``, ``analytics_at_risk_learners``) serve dashboards,
which cannot pass Django settings, so ``migrate_clickhouse`` copies the at-risk settings into
``<database>.analytics_settings`` on every deploy. The query module passes them itself.
"""

from django.conf import settings

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


VIDEO_REFRESH_VIEW = "analytics_video_watch_refresh"


def refresh_video_watch(clickhouse, keep_running=True):
    """
    Run the refresh of ``analytics_video_watch`` now and wait for it (ClickHouse otherwise runs it
    every minute by itself): after a rebuild, or to measure it. Readers are exact without it; it
    makes their reads fast. With ``keep_running`` False the periodic refresh stays stopped after.
    """
    view = clickhouse.qualified(VIDEO_REFRESH_VIEW)
    clickhouse.command(f"SYSTEM START VIEW {view}")
    clickhouse.command(f"SYSTEM REFRESH VIEW {view}")
    clickhouse.command(f"SYSTEM WAIT VIEW {view}")
    if not keep_running:
        stop_video_refresh(clickhouse)


def stop_video_refresh(clickhouse):
    """Stop the periodic refresh (and cancel one in progress), e.g. before emptying the tables."""
    clickhouse.command(f"SYSTEM STOP VIEW {clickhouse.qualified(VIDEO_REFRESH_VIEW)}")


def video_refresh_state(clickhouse):
    """
    ``{"status", "last_success", "failing"}`` of the refresh from ``system.view_refreshes``, or None
    before migrations created it. ``failing`` is the error of the latest attempt without its stack
    trace ('' once an attempt succeeds). The video reports are exact whatever it says; a refresh that
    fails or is stopped only makes them slower (more points paired at read time).
    """
    rows = clickhouse.query(
        "SELECT status, last_success_time, splitByString(', Stack trace', exception)[1] "
        "FROM system.view_refreshes WHERE database = {db:String} AND view = {view:String}",
        {"db": clickhouse.database, "view": VIDEO_REFRESH_VIEW})
    if not rows:
        return None
    status, last_success, failing = rows[0]
    return {"status": status, "last_success": last_success.isoformat() if last_success else None,
            "failing": failing}

"""
Upkeep of the analytics model that is not a migration: the settings its views read.

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
    }


def sync_settings(clickhouse):
    """Write the settings when they differ from what the table holds; returns a line for the operator."""
    wanted = model_settings()
    current = dict(clickhouse.query(
        f"SELECT name, argMax(value, updated_at) FROM {clickhouse.qualified(SETTINGS_TABLE)} GROUP BY name"))
    if current == wanted:
        return f"{clickhouse.qualified(SETTINGS_TABLE)}: at-risk settings unchanged"
    clickhouse.insert(SETTINGS_TABLE, [[name, value] for name, value in wanted.items()], ("name", "value"))
    return (f"{clickhouse.qualified(SETTINGS_TABLE)}: at-risk learners inactive for "
            f"{wanted['at_risk_inactive_days']:g}+ days, default passing grade {wanted['default_passing_grade']:g}")

"""
Production overrides: every plugin setting may come from ``ENV_TOKENS`` (lms.yml / cms.yml).

Dictionaries are merged key by key onto the defaults, so an operator can override just the
password of ``EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG`` without restating the URL.
"""

OVERRIDABLE_SETTINGS = (
    "EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG",
    "EVENT_SINK_CLICKHOUSE_MODEL_CONFIG",
    "EVENT_SINK_CLICKHOUSE_PII_MODELS",
    "SUPERSET_CONFIG",
    "ASPECTS_INSTRUCTOR_DASHBOARDS",
    "SUPERSET_SHOW_INSTRUCTOR_DASHBOARD_LINK",
    "SUPERSET_EXTRA_FILTERS_FORMAT",
    "SUPERSET_DASHBOARD_LOCALES",
    "ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS",
    "ASPECTS_IN_CONTEXT_DASHBOARDS",
    "IN_CONTEXT_DASHBOARD_COURSE_KEY_COLUMN",
    "IN_CONTEXT_DASHBOARD_BLOCK_ID_COLUMN",
    "ASPECTS_SUPERSET_CLICKHOUSE",
    "ASPECTS_SUPERSET_ALLOWED_DOMAINS",
    "ASPECTS_SUPERSET_GUEST_ROLE",
    "ASPECTS_SUPERSET_EMBED_CACHE_SECS",
    "ASPECTS_OUTBOX_BATCH_SIZE",
    "ASPECTS_FLUSH_DELAY_SECS",
    "ASPECTS_CELERY_QUEUE",
    "ASPECTS_MIN_FLUSH_INTERVAL_SECS",
    "ASPECTS_SWITCH_CACHE_SECS",
    "ASPECTS_ENABLE_PII",
    "ASPECTS_USER_PROFILE_META_KEYS",
    "ASPECTS_RETIREMENT_MUTATIONS",
    "ASPECTS_PLATFORM_PATHS",
    "ASPECTS_TRACKING_SPOOL_DIR",
    "ASPECTS_TRACKING_BATCH_SIZE",
    "ASPECTS_TRACKING_FLUSH_INTERVAL_SECS",
    "ASPECTS_TRACKING_BUFFER_EVENTS",
    "ASPECTS_TRACKING_RETRY_MAX_SECS",
    "ASPECTS_TRACKING_MAX_EVENT_BYTES",
    "ASPECTS_TRACKING_TTL_DAYS",
    "ASPECTS_TRACKING_REJECTS_TTL_DAYS",
    "ASPECTS_TRACKING_IP_NETWORK_BITS",
    "ASPECTS_TRACKING_SESSION_HASH_KEY",
    "ASPECTS_TRACKING_PERSONAL_KEYS",
    "ASPECTS_AT_RISK_INACTIVE_DAYS",
    "ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE",
    "ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS",
    "ASPECTS_DIGEST_FROM_EMAIL",
    "ASPECTS_DIGEST_EMAIL_BACKEND",
    "ASPECTS_DIGEST_SKIP_QUIET_COURSES",
    "ASPECTS_DIGEST_RETRY_SECS",
    "ASPECTS_DIGEST_MAX_ATTEMPTS",
    "ASPECTS_DIGEST_CLAIM_TIMEOUT_SECS",
    "ASPECTS_DIGEST_REPORTS_URL",
    "ASPECTS_DIGEST_BATCH_SIZE",
)


def plugin_settings(settings):
    """Apply ENV_TOKENS overrides on top of the defaults from ``common``."""
    env_tokens = getattr(settings, "ENV_TOKENS", None) or {}
    for name in OVERRIDABLE_SETTINGS:
        if name not in env_tokens:
            continue
        value = env_tokens[name]
        current = getattr(settings, name, None)
        if isinstance(value, dict) and isinstance(current, dict):
            value = {**current, **value}
        setattr(settings, name, value)
    # Per-sink switches (EVENT_SINK_CLICKHOUSE_<MODEL>_ENABLED) pass straight through.
    for name, value in env_tokens.items():
        if name.startswith("EVENT_SINK_CLICKHOUSE_") and name.endswith("_ENABLED"):
            setattr(settings, name, value)

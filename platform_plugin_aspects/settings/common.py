"""
Default settings for platform-plugin-aspects (LMS and Studio).

``plugin_settings`` only fills in what the platform has not set already, so an operator's
``lms.yml``/``cms.yml`` always wins. Every name keeps the upstream plugin's spelling so
existing Tutor/Aspects configuration keeps working.
"""

import tempfile
from os import path

PACKAGE_ROOT = path.dirname(path.dirname(path.abspath(__file__)))

# Model indirection: the plugin never imports edx-platform models directly, so it survives
# platform refactors and runs against the stand-in LMS in tests.
DEFAULT_MODEL_CONFIG = {
    "auth_user": {"module": "django.contrib.auth.models", "model": "User"},
    "user_profile": {"module": "common.djangoapps.student.models", "model": "UserProfile"},
    "course_enrollment": {"module": "common.djangoapps.student.models", "model": "CourseEnrollment"},
    "course_access_role": {"module": "common.djangoapps.student.models", "model": "CourseAccessRole"},
    "course_overviews": {
        "module": "openedx.core.djangoapps.content.course_overviews.models",
        "model": "CourseOverview",
    },
    "external_id": {"module": "openedx.core.djangoapps.external_user_ids.models", "model": "ExternalId"},
    "custom_course_edx": {"module": "lms.djangoapps.ccx.models", "model": "CustomCourseForEdX"},
    "user_preference": {"module": "openedx.core.djangoapps.user_api.models", "model": "UserPreference"},
    "course_grade": {"module": "lms.djangoapps.grades.models", "model": "PersistentCourseGrade"},
    "tag": {"module": "openedx_tagging.models.base", "model": "Tag"},
    "taxonomy": {"module": "openedx_tagging.models.base", "model": "Taxonomy"},
    "object_tag": {"module": "openedx_tagging.models.base", "model": "ObjectTag"},
}

# The dashboards the plugin ships (superset/assets, installed by `aspects_superset_sync`), by their
# dashboard uuids; the LMS looks up the embedded uuids Superset picked. "pii": shown only while
# ASPECTS_ENABLE_PII is on (the sync installs it only then).
DEFAULT_INSTRUCTOR_DASHBOARDS = [
    {
        "name": "Course Dashboard",
        "slug": "course-dashboard",
        "uuid": "c0e64194-33d1-4d5a-8c10-4f51530c5ee9",
        "allow_translations": True,
    },
    {
        "name": "At-Risk Learners Dashboard",
        "slug": "at-risk-learners",
        "uuid": "8661d20c-cee6-4245-9fcc-610daea5fd24",
        "allow_translations": True,
    },
    {
        "name": "Individual Learner Dashboard",
        "slug": "individual-learner",
        "uuid": "abae8a25-1ba4-4653-81bd-d3937a162a11",
        "allow_translations": True,
        "pii": True,
    },
]

DEFAULT_IN_CONTEXT_DASHBOARDS = {
    "course": {
        "name": "Course",
        "slug": "in-context-course",
        "uuid": "f2880cc1-63e9-48d7-ac3c-d2ff6f6698e2",
        "allow_translations": True,
        "course_filter_key": "NATIVE_FILTER-QLQbulmHH",
    },
    "sequential": {
        "name": "Graded Subsection",
        "slug": "in-context-graded-subsection",
        "uuid": "f0321087-6428-4b97-b32e-2dae7d9cc447",
        "allow_translations": True,
        "course_filter_key": "NATIVE_FILTER-oPAuR7ahy",
        "block_filter_key": "NATIVE_FILTER-CBWbI7uLq",
    },
    "problem": {
        "name": "Problem",
        "slug": "in-context-problem",
        "uuid": "98ff33ff-18dd-48f9-8c58-629ae4f4194b",
        "allow_translations": True,
        "course_filter_key": "NATIVE_FILTER-29CPcbirK",
        "block_filter_key": "NATIVE_FILTER-TJwItQhUI",
    },
    "video": {
        "name": "Video",
        "slug": "in-context-video",
        "uuid": "bc6510fb-027f-4026-a333-d0c42d3cc35c",
        "allow_translations": True,
        "course_filter_key": "NATIVE_FILTER-uaxvZkSAg",
        "block_filter_key": "NATIVE_FILTER-Fse4rzDW0",
    },
}


TRACKING_BACKEND_NAME = "aspects_clickhouse"
TRACKING_BACKEND_ENGINE = "platform_plugin_aspects.tracking.backend.ClickHouseTrackingBackend"


def _default(settings, name, value):
    """Set ``settings.<name>`` unless the platform (or the operator) already did."""
    if not hasattr(settings, name):
        setattr(settings, name, value)


def plugin_settings(settings):
    """Fill in the plugin's defaults."""
    settings.MAKO_TEMPLATE_DIRS_BASE = list(getattr(settings, "MAKO_TEMPLATE_DIRS_BASE", [])) + [
        path.join(PACKAGE_ROOT, "templates")
    ]

    # .. setting_name: EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG
    # .. setting_default: {"url": "http://clickhouse:8123", "username": "ch_cms", "password": "password",
    #    "database": "event_sink", "timeout_secs": 5}
    # .. setting_description: How the plugin reaches ClickHouse over HTTP(S). Optional keys: "retries"
    #    (attempts after the first, default 4), "retry_backoff_secs" (first back-off, doubled each time,
    #    default 0.25), "compress" (true, false or "auto", the default: inserts and answers travel
    #    zstd-compressed unless the URL's host is this machine, a loopback address or localhost, where
    #    compressing costs CPU at both ends and saves no bandwidth), "cluster" (name used by
    #    migrate_clickhouse for ON CLUSTER), "runs_table" and "stats_table" (load tests).
    _default(
        settings,
        "EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG",
        {
            "url": "http://clickhouse:8123",
            "username": "ch_cms",
            "password": "password",
            "database": "event_sink",
            "timeout_secs": 5,
        },
    )
    # .. setting_name: EVENT_SINK_CLICKHOUSE_MODEL_CONFIG
    # .. setting_default: see DEFAULT_MODEL_CONFIG
    # .. setting_description: Where each platform model lives ({"module", "model"} per model key), so
    #    the plugin works across platform releases. Missing models make their sink count as disabled.
    _default(settings, "EVENT_SINK_CLICKHOUSE_MODEL_CONFIG", dict(DEFAULT_MODEL_CONFIG))
    # .. setting_name: EVENT_SINK_CLICKHOUSE_PII_MODELS
    # .. setting_default: ["user_profile", "external_id"]
    # .. setting_description: Sinks that copy personal data. They stay off unless their own flag or
    #    setting enables them; retirement purges the user from these tables and from every other
    #    table that stores a username or email.
    _default(settings, "EVENT_SINK_CLICKHOUSE_PII_MODELS", ["user_profile", "external_id"])

    # .. setting_name: SUPERSET_CONFIG
    # .. setting_default: {"internal_service_url": "http://superset:8088", "username": "superset",
    #    "password": "superset"}
    # .. setting_description: "service_url" is what browsers open; "internal_service_url" (falls back
    #    to service_url) is what the LMS calls; username/password belong to the service account that
    #    may grant guest tokens. Optional "timeout_secs" (default 5).
    _default(
        settings,
        "SUPERSET_CONFIG",
        {"internal_service_url": "http://superset:8088", "username": "superset", "password": "superset"},
    )
    # .. setting_name: ASPECTS_INSTRUCTOR_DASHBOARDS
    # .. setting_default: the shipped Course, At-Risk Learners and (PII only) Individual Learner dashboards
    # .. setting_description: Dashboards shown as tabs in the Instructor Dashboard "Reports" section:
    #    "name", "slug", "uuid" (the dashboard's uuid, or an embedded uuid), "allow_translations",
    #    optional "pii" (hidden while ASPECTS_ENABLE_PII is off) and "embedded_uuid" (skips the lookup).
    _default(settings, "ASPECTS_INSTRUCTOR_DASHBOARDS", [dict(d) for d in DEFAULT_INSTRUCTOR_DASHBOARDS])
    # .. toggle_name: SUPERSET_SHOW_INSTRUCTOR_DASHBOARD_LINK
    # .. toggle_implementation: DjangoSetting
    # .. toggle_default: True
    # .. toggle_description: Show a "View dashboards in Superset" link above the embedded dashboards.
    # .. toggle_use_cases: open_edx
    # .. toggle_creation_date: 2026-11-24
    _default(settings, "SUPERSET_SHOW_INSTRUCTOR_DASHBOARD_LINK", True)
    # .. setting_name: SUPERSET_EXTRA_FILTERS_FORMAT
    # .. setting_default: []
    # .. setting_description: Extra row-level-security clauses. Only the placeholders {course_id},
    #    {org}, {user_id} and {username} are allowed; values are inserted as escaped SQL literals.
    _default(settings, "SUPERSET_EXTRA_FILTERS_FORMAT", [])
    # .. setting_name: SUPERSET_DASHBOARD_LOCALES
    # .. setting_default: ["en"]
    # .. setting_description: Locales for which localized dashboard copies exist in Superset.
    _default(settings, "SUPERSET_DASHBOARD_LOCALES", ["en"])
    # .. toggle_name: ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS
    # .. toggle_implementation: DjangoSetting
    # .. toggle_default: True
    # .. toggle_description: Also grant guest tokens for the Studio in-context dashboards.
    # .. toggle_use_cases: open_edx
    # .. toggle_creation_date: 2026-11-24
    _default(settings, "ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS", True)
    # .. setting_name: ASPECTS_IN_CONTEXT_DASHBOARDS
    # .. setting_default: see DEFAULT_IN_CONTEXT_DASHBOARDS
    # .. setting_description: Studio in-context dashboards keyed by block type ("course", "sequential",
    #    "problem", "video"), with their native filter ids.
    _default(settings, "ASPECTS_IN_CONTEXT_DASHBOARDS", {k: dict(v) for k, v in DEFAULT_IN_CONTEXT_DASHBOARDS.items()})
    # .. setting_name: IN_CONTEXT_DASHBOARD_COURSE_KEY_COLUMN
    # .. setting_default: "course_key"
    # .. setting_description: Dataset column the in-context dashboards' course filter applies to.
    _default(settings, "IN_CONTEXT_DASHBOARD_COURSE_KEY_COLUMN", "course_key")
    # .. setting_name: IN_CONTEXT_DASHBOARD_BLOCK_ID_COLUMN
    # .. setting_default: "block_id"
    # .. setting_description: Dataset column the in-context dashboards' block filter applies to.
    _default(settings, "IN_CONTEXT_DASHBOARD_BLOCK_ID_COLUMN", "block_id")
    # .. setting_name: ASPECTS_SUPERSET_CLICKHOUSE
    # .. setting_default: {}
    # .. setting_description: How Superset reaches ClickHouse, written into Superset by
    #    `aspects_superset_sync`: keys "url", "username", "password", "database", each falling back to
    #    EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG's. Name a read-only ClickHouse user here (the sinks' user
    #    can write). The password is sent to Superset's import API, never written into an asset file.
    _default(settings, "ASPECTS_SUPERSET_CLICKHOUSE", {})
    # .. setting_name: ASPECTS_SUPERSET_ALLOWED_DOMAINS
    # .. setting_default: None
    # .. setting_description: Origins (scheme://host[:port]) allowed to embed the shipped dashboards,
    #    set by `aspects_superset_sync`. None: the origins of LMS_ROOT_URL and CMS_ROOT_URL.
    _default(settings, "ASPECTS_SUPERSET_ALLOWED_DOMAINS", None)
    # .. setting_name: ASPECTS_SUPERSET_GUEST_ROLE
    # .. setting_default: "Aspects Guest"
    # .. setting_description: The Superset role guest tokens act as; must equal GUEST_ROLE_NAME in
    #    superset_config.py. `aspects_superset_sync` creates it and gives it exactly the permissions
    #    the embedded dashboards need (read access to the datasets they read, nothing else).
    _default(settings, "ASPECTS_SUPERSET_GUEST_ROLE", "Aspects Guest")
    # .. setting_name: ASPECTS_SUPERSET_EMBED_CACHE_SECS
    # .. setting_default: 300
    # .. setting_description: How long the LMS remembers a dashboard's embedded uuid (Superset picks it
    #    when `aspects_superset_sync` enables embedding; the LMS looks it up rather than storing it).
    _default(settings, "ASPECTS_SUPERSET_EMBED_CACHE_SECS", 300)

    # .. setting_name: ASPECTS_OUTBOX_BATCH_SIZE
    # .. setting_default: 5000
    # .. setting_description: Most outbox entries one flush takes (per model, coalesced).
    _default(settings, "ASPECTS_OUTBOX_BATCH_SIZE", 5000)
    # .. setting_name: ASPECTS_FLUSH_DELAY_SECS
    # .. setting_default: 0.1
    # .. setting_description: Debounce before a scheduled flush runs, so changes that arrive together
    #    go out in one insert per table.
    _default(settings, "ASPECTS_FLUSH_DELAY_SECS", 0.1)
    # .. setting_name: ASPECTS_MIN_FLUSH_INTERVAL_SECS
    # .. setting_default: 1.0
    # .. setting_description: Inserts go out at most this often (workers share the Django cache): a
    #    busy site sends one insert per table per interval, and a change waits at most about one
    #    interval. 0.5 halves the wait for twice the inserts; 0 sends every flush at once.
    _default(settings, "ASPECTS_MIN_FLUSH_INTERVAL_SECS", 1.0)
    # .. setting_name: ASPECTS_CELERY_QUEUE
    # .. setting_default: None
    # .. setting_description: Celery queue for the flush task (None: the platform's default queue).
    _default(settings, "ASPECTS_CELERY_QUEUE", None)
    # .. setting_name: ASPECTS_SWITCH_CACHE_SECS
    # .. setting_default: 5
    # .. setting_description: How long a process remembers a sink's waffle flag state (receivers
    #    check it on every save). A flipped flag takes effect within this many seconds.
    _default(settings, "ASPECTS_SWITCH_CACHE_SECS", 5)
    # .. setting_name: ASPECTS_PLATFORM_PATHS
    # .. setting_default: {}
    # .. setting_description: Overrides for where the platform's signals and modulestore live
    #    (keys: course_published_signal, course_deleted_signal, enroll_status_change_signal,
    #    user_retire_lms_misc_signal, modulestore, detached_xblock_types). Defaults are edx-platform's.
    _default(settings, "ASPECTS_PLATFORM_PATHS", {})
    # .. toggle_name: ASPECTS_ENABLE_PII
    # .. toggle_implementation: DjangoSetting
    # .. toggle_default: False
    # .. toggle_description: Allow usernames in tables that are not PII sinks (course_enrollment.username)
    #    and keep tracking events as sent (username, IP, user agent, session id, personal fields in the
    #    JSON). Off: tracking events are de-identified (docs/concepts/privacy.rst). PII sinks
    #    (user_profile, external_id) still need their own flag or setting.
    # .. toggle_use_cases: open_edx
    # .. toggle_creation_date: 2026-11-24
    _default(settings, "ASPECTS_ENABLE_PII", False)
    # .. setting_name: ASPECTS_RETIREMENT_MUTATIONS
    # .. setting_default: "lightweight"
    # .. setting_description: How retirement clears a batch of users in ClickHouse (one statement per
    #    table). "lightweight": UPDATE ... SET / DELETE FROM (patch parts and delete masks: small writes,
    #    queries stop seeing the data at once, the old bytes leave the disk at the next merge of each
    #    part). "heavyweight": ALTER TABLE ... UPDATE/DELETE (rewrites the touched columns of every
    #    part at once; far more I/O). benchmarks/retirement.py measures both.
    _default(settings, "ASPECTS_RETIREMENT_MUTATIONS", "lightweight")
    # .. setting_name: ASPECTS_USER_PROFILE_META_KEYS
    # .. setting_default: []
    # .. setting_description: Keys of UserProfile.meta (JSON) copied to user_profile.meta; everything
    #    else (notably the session ids the platform keeps there) stays in the LMS.
    _default(settings, "ASPECTS_USER_PROFILE_META_KEYS", [])

    _tracking_settings(settings)
    _analytics_settings(settings)
    _digest_settings(settings)


def _tracking_settings(settings):
    """Tracking-log events into ClickHouse: defaults, and the backend next to the tracking.log logger."""
    # .. toggle_name: EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED
    # .. toggle_implementation: DjangoSetting
    # .. toggle_default: False
    # .. toggle_description: Stream every tracking-log event into <database>.tracking_events. The waffle
    #    flag event_sink_clickhouse.tracking_events.enabled does the same (re-read every 5 s).
    # .. toggle_use_cases: open_edx
    # .. toggle_creation_date: 2026-11-24
    _default(settings, "EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED", False)
    # .. setting_name: ASPECTS_TRACKING_SPOOL_DIR
    # .. setting_default: <system temp dir>/aspects-tracking-spool
    # .. setting_description: Where live tracking events wait on disk while ClickHouse is unreachable
    #    or the memory buffer is full. Use a persistent volume shared by the workers of one host:
    #    any process delivers what another left behind.
    _default(settings, "ASPECTS_TRACKING_SPOOL_DIR", path.join(tempfile.gettempdir(), "aspects-tracking-spool"))
    # .. setting_name: ASPECTS_TRACKING_BATCH_SIZE
    # .. setting_default: 10000
    # .. setting_description: Most events per INSERT (live backend and load_tracking_log).
    _default(settings, "ASPECTS_TRACKING_BATCH_SIZE", 10_000)
    # .. setting_name: ASPECTS_TRACKING_FLUSH_INTERVAL_SECS
    # .. setting_default: 0.25
    # .. setting_description: Longest time a live event waits in memory before its batch is sent.
    _default(settings, "ASPECTS_TRACKING_FLUSH_INTERVAL_SECS", 0.25)
    # .. setting_name: ASPECTS_TRACKING_BUFFER_EVENTS
    # .. setting_default: 100000
    # .. setting_description: Events kept in memory per process; beyond that they go to the spool.
    _default(settings, "ASPECTS_TRACKING_BUFFER_EVENTS", 100_000)
    # .. setting_name: ASPECTS_TRACKING_RETRY_MAX_SECS
    # .. setting_default: 30
    # .. setting_description: Longest back-off between delivery attempts while ClickHouse is down.
    _default(settings, "ASPECTS_TRACKING_RETRY_MAX_SECS", 30.0)
    # .. setting_name: ASPECTS_TRACKING_MAX_EVENT_BYTES
    # .. setting_default: 16777216
    # .. setting_description: Larger events go to tracking_rejects (reason, first 64 KiB, size).
    _default(settings, "ASPECTS_TRACKING_MAX_EVENT_BYTES", 16 * 1024 * 1024)
    # .. setting_name: ASPECTS_TRACKING_TTL_DAYS
    # .. setting_default: None
    # .. setting_description: Keep tracking events this many days (None: forever). Applied by
    #    `manage.py lms migrate_clickhouse` when it changed (and `load_tracking_log --apply-ttl`).
    _default(settings, "ASPECTS_TRACKING_TTL_DAYS", None)
    # .. setting_name: ASPECTS_TRACKING_REJECTS_TTL_DAYS
    # .. setting_default: 30
    # .. setting_description: Keep tracking_rejects rows (lines that could not be stored) this many
    #    days (None: forever). Applied by `manage.py lms migrate_clickhouse` when it changed.
    _default(settings, "ASPECTS_TRACKING_REJECTS_TTL_DAYS", 30)
    # .. setting_name: ASPECTS_TRACKING_IP_NETWORK_BITS
    # .. setting_default: None
    # .. setting_description: With ASPECTS_ENABLE_PII off, tracking_events.ip is empty unless this asks
    #    for the network of the address, e.g. {"ipv4": 24, "ipv6": 48} stores "203.0.113.0/24".
    #    With ASPECTS_ENABLE_PII on the full address is stored. See docs/concepts/privacy.rst.
    _default(settings, "ASPECTS_TRACKING_IP_NETWORK_BITS", None)
    # .. setting_name: ASPECTS_TRACKING_SESSION_HASH_KEY
    # .. setting_default: None (a key derived from SECRET_KEY)
    # .. setting_description: With ASPECTS_ENABLE_PII off, tracking_events.session holds
    #    HMAC-SHA256(key, session id) cut to 32 hex digits: sessions can be counted, not linked back to
    #    the platform's session. Set the same value in every service (LMS, CMS, the loader's host) so
    #    live and loaded copies agree; changing it (or SECRET_KEY while this is unset) starts new hashes.
    _default(settings, "ASPECTS_TRACKING_SESSION_HASH_KEY", None)
    # .. setting_name: ASPECTS_TRACKING_PERSONAL_KEYS
    # .. setting_default: []
    # .. setting_description: Extra JSON keys removed (at any depth) from the context and event of
    #    tracking events when ASPECTS_ENABLE_PII is off, for site-specific events that name a person.
    _default(settings, "ASPECTS_TRACKING_PERSONAL_KEYS", [])

    backends = getattr(settings, "EVENT_TRACKING_BACKENDS", None)
    if not isinstance(backends, dict):
        return  # no edx event-tracking in this service
    entry = {"ENGINE": TRACKING_BACKEND_ENGINE, "OPTIONS": {}}
    tracking_logs = backends.get("tracking_logs")
    if isinstance(tracking_logs, dict) and str(tracking_logs.get("ENGINE", "")).endswith("RoutingBackend"):
        # Beside the logger, after the platform's processors: the same dict tracking.log gets.
        nested = tracking_logs.setdefault("OPTIONS", {}).setdefault("backends", {})
        nested.setdefault(TRACKING_BACKEND_NAME, entry)
    else:
        backends.setdefault(TRACKING_BACKEND_NAME, entry)


def _analytics_settings(settings):
    """The course analytics model (docs/reference/analytics.rst): at-risk learners."""
    # .. setting_name: ASPECTS_AT_RISK_INACTIVE_DAYS
    # .. setting_default: 7
    # .. setting_description: An actively enrolled, engaged, not passing learner is at risk when their
    #    latest active day is this many days or more before the day of the report (last active
    #    exactly this many days ago: at risk). Read by the analytics queries, and written by
    #    `migrate_clickhouse` into <database>.analytics_settings for the dashboards' views.
    _default(settings, "ASPECTS_AT_RISK_INACTIVE_DAYS", 7)
    # .. setting_name: ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE
    # .. setting_default: 0.5
    # .. setting_description: The passing grade (0..1) an at-risk reason compares a learner's grade
    #    with when the course has no lowest_passing_grade in course_overviews.
    _default(settings, "ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE", 0.5)
    # .. setting_name: ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS
    # .. setting_default: 600
    # .. setting_description: The longest an insert into ClickHouse may take to commit after the server
    #    stamped it. The video reports pair afresh the points of every learner with a change stamped later
    #    than this before the last refresh of analytics_video_watch started, and read the kept pairing of
    #    everyone else; the learner reports do the same with analytics_learner_rollup. Too small and a
    #    slow insert's rows could be missed until that learner changes again; larger only means more
    #    learners computed at read time: on a busy course, everyone active in the last margin, which is
    #    then most of a report's time. The default also covers a cluster's replicas fetching each
    #    other's parts late; a single server commits an insert within seconds of stamping it and can
    #    use less (for example 120). Written by `migrate_clickhouse` into <database>.analytics_settings.
    _default(settings, "ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS", 600)


def _digest_settings(settings):
    """The weekly course digest (docs/how-to/course-digest.rst); the flag aspects.course_digest.enabled turns it on."""
    # .. setting_name: ASPECTS_DIGEST_FROM_EMAIL
    # .. setting_default: None
    # .. setting_description: Sender of the course digests (None: DEFAULT_FROM_EMAIL).
    _default(settings, "ASPECTS_DIGEST_FROM_EMAIL", None)
    # .. setting_name: ASPECTS_DIGEST_EMAIL_BACKEND
    # .. setting_default: None
    # .. setting_description: Django email backend for the digests (None: EMAIL_BACKEND, the platform's SMTP).
    _default(settings, "ASPECTS_DIGEST_EMAIL_BACKEND", None)
    # .. toggle_name: ASPECTS_DIGEST_SKIP_QUIET_COURSES
    # .. toggle_implementation: DjangoSetting
    # .. toggle_default: True
    # .. toggle_description: A course with no enrollment, unenrollment or active learner in the week sends
    #    no digest. False sends one anyway (all zeros).
    # .. toggle_use_cases: open_edx
    # .. toggle_creation_date: 2026-12-01
    _default(settings, "ASPECTS_DIGEST_SKIP_QUIET_COURSES", True)
    # .. setting_name: ASPECTS_DIGEST_RETRY_SECS
    # .. setting_default: 300
    # .. setting_description: First wait before a digest that SMTP did not take is tried again; doubled
    #    after each failure, at most 6 hours.
    _default(settings, "ASPECTS_DIGEST_RETRY_SECS", 300.0)
    # .. setting_name: ASPECTS_DIGEST_MAX_ATTEMPTS
    # .. setting_default: 8
    # .. setting_description: Attempts per digest before it is marked failed (send_course_digests --list-failed).
    _default(settings, "ASPECTS_DIGEST_MAX_ATTEMPTS", 8)
    # .. setting_name: ASPECTS_DIGEST_CLAIM_TIMEOUT_SECS
    # .. setting_default: 3600
    # .. setting_description: A digest claimed by a run that died before recording the outcome is taken
    #    over by a later run after this long.
    _default(settings, "ASPECTS_DIGEST_CLAIM_TIMEOUT_SECS", 3600)
    # .. setting_name: ASPECTS_DIGEST_REPORTS_URL
    # .. setting_default: "{lms_root_url}/courses/{course_id}/instructor#view-aspects"
    # .. setting_description: The Reports tab link in the digest ({lms_root_url} is LMS_ROOT_URL). For the
    #    Instructor Dashboard app use e.g. "https://apps.example.com/instructor-dashboard/{course_id}/aspects/".
    _default(settings, "ASPECTS_DIGEST_REPORTS_URL", "{lms_root_url}/courses/{course_id}/instructor#view-aspects")
    # .. setting_name: ASPECTS_DIGEST_BATCH_SIZE
    # .. setting_default: 100
    # .. setting_description: Courses whose figures a digest run reads from ClickHouse together, one query per
    #    figure for the whole batch (a thread reads the next batch while the run mails the current one). Larger
    #    batches read faster per course and hold more figures in memory; 1 reads one course at a time.
    _default(settings, "ASPECTS_DIGEST_BATCH_SIZE", 100)

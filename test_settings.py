"""
Settings for the stand-in LMS used by the tests, local commands and the demo.

* Database: MariaDB/MySQL at ``ASPECTS_DB_HOST``:``ASPECTS_DB_PORT`` (default 127.0.0.1:3306, root,
  empty password); ``make test`` / ``make demo`` start a private MariaDB there when nothing answers
  (``devstack.local_mariadb``). ``ASPECTS_DB_NAME`` picks the database name. SQLite only when asked
  for (``ASPECTS_DB=sqlite``), and the test run then says so in its header and summary. There is no
  fallback: when the database does not answer, commands and tests fail.
* ClickHouse: ``CLICKHOUSE_URL`` when set, else the local server of ``var/clickhouse``.
* Every model path in EVENT_SINK_CLICKHOUSE_MODEL_CONFIG points at the stand-in apps in tests/lms.
"""

import os
from pathlib import Path

from platform_plugin_aspects.settings import common as plugin_common
from platform_plugin_aspects.settings import production as plugin_production

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = BASE_DIR / "var"

ASPECTS_DB = os.environ.get("ASPECTS_DB", "mysql")
if ASPECTS_DB not in ("mysql", "sqlite"):
    raise ValueError(f"ASPECTS_DB={ASPECTS_DB!r}: use mysql (MariaDB/MySQL, the default) or sqlite")
if ASPECTS_DB == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("ASPECTS_DB_NAME") or str(VAR_DIR / "lms.sqlite3"),
            "TEST": {"NAME": str(VAR_DIR / "test_lms.sqlite3")},
            "OPTIONS": {"timeout": 30},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ.get("ASPECTS_DB_NAME", "aspects_lms"),
            "USER": "root",
            "PASSWORD": "",
            "HOST": os.environ.get("ASPECTS_DB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("ASPECTS_DB_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
        }
    }


def _local_clickhouse_url():
    port_file = VAR_DIR / "clickhouse" / "http_port"
    return f"http://127.0.0.1:{port_file.read_text().strip()}" if port_file.exists() else "http://127.0.0.1:18123"


SECRET_KEY = "stand-in-lms-not-secret"
# The stand-in LMS creates thousands of users in tests and benchmarks: a fast hasher.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = True
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.lms.urls"
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LMS_ROOT_URL = "http://localhost:8000"
FEATURES = {"CUSTOM_COURSES_EDX": True}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "waffle",
    "tests.lms.student",
    "tests.lms.course_overviews",
    "tests.lms.external_user_ids",
    "tests.lms.ccx",
    "tests.lms.user_api",
    "tests.lms.tagging",
    "tests.lms.grades",
    "tests.lms.modulestore",
    "tests.lms.demo",
    "tests.lms.instructor_dashboard",
    "tests.lms.waffle_utils",
    "platform_plugin_aspects",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "crum.CurrentRequestUserMiddleware",
    "waffle.middleware.WaffleMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "tests" / "lms" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                           "django.contrib.auth.context_processors.auth"]},
    }
]
STATIC_URL = "/static/"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if os.environ.get("ASPECTS_TEST_CACHE_URL"):  # processes that must share a cache, as LMS workers do
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": os.environ["ASPECTS_TEST_CACHE_URL"],
                          "KEY_PREFIX": os.environ.get("ASPECTS_TEST_CACHE_PREFIX", "aspects-test")}}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "platform_plugin_aspects": {"handlers": ["console"], "level": os.environ.get("ASPECTS_LOG_LEVEL", "WARNING")},
        # Sink switches are read in workers too; edx-toggles warns on every request-less flag read.
        "edx_toggles": {"level": "ERROR"},
    },
}

# The plugin's own defaults, exactly as edx-platform's plugin loader would apply them...
plugin_common.plugin_settings(__import__("sys").modules[__name__])

# ...then the stand-in LMS wiring.
EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG = {
    "url": os.environ.get("CLICKHOUSE_URL") or _local_clickhouse_url(),
    "username": os.environ.get("CLICKHOUSE_USER", "ch_cms"),
    "password": os.environ.get("CLICKHOUSE_PASSWORD", "password"),
    "database": os.environ.get("CLICKHOUSE_DATABASE", "event_sink"),
    "timeout_secs": 5,
}
EVENT_SINK_CLICKHOUSE_MODEL_CONFIG = {
    "auth_user": {"module": "django.contrib.auth.models", "model": "User"},
    "user_profile": {"module": "tests.lms.student.models", "model": "UserProfile"},
    "course_enrollment": {"module": "tests.lms.student.models", "model": "CourseEnrollment"},
    "course_access_role": {"module": "tests.lms.student.models", "model": "CourseAccessRole"},
    "course_overviews": {"module": "tests.lms.course_overviews.models", "model": "CourseOverview"},
    "external_id": {"module": "tests.lms.external_user_ids.models", "model": "ExternalId"},
    "custom_course_edx": {"module": "tests.lms.ccx.models", "model": "CustomCourseForEdX"},
    "user_preference": {"module": "tests.lms.user_api.models", "model": "UserPreference"},
    "course_grade": {"module": "tests.lms.grades.models", "model": "PersistentCourseGrade"},
    "tag": {"module": "tests.lms.tagging.models", "model": "Tag"},
    "taxonomy": {"module": "tests.lms.tagging.models", "model": "Taxonomy"},
    "object_tag": {"module": "tests.lms.tagging.models", "model": "ObjectTag"},
}
# Where the platform's Django signals and modulestore live (edx-platform paths by default).
ASPECTS_PLATFORM_PATHS = {
    "course_published_signal": "tests.lms.modulestore.api.COURSE_PUBLISHED",
    "course_deleted_signal": "tests.lms.modulestore.api.COURSE_DELETED",
    "enroll_status_change_signal": "tests.lms.student.signals.ENROLL_STATUS_CHANGE",
    "user_retire_lms_misc_signal": "tests.lms.user_api.accounts.signals.USER_RETIRE_LMS_MISC",
    "modulestore": "tests.lms.modulestore.api.modulestore",
    "detached_xblock_types": "tests.lms.modulestore.api.DETACHED_XBLOCK_TYPES",
    "course_waffle_flag": "tests.lms.waffle_utils.CourseWaffleFlag",
}

SUPERSET_CONFIG = {
    "service_url": os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088/"),
    "internal_service_url": os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088/"),
    "username": "admin",
    "password": "admin",
}
# Superset reads the local ClickHouse as its read-only user (devstack/local_clickhouse.py).
ASPECTS_SUPERSET_CLICKHOUSE = {"username": "ch_report", "password": "report"}
# The Reports tab, wired as an operator would (README, "Dashboards in the Instructor Dashboard").
OPEN_EDX_FILTERS_CONFIG = {
    "org.openedx.learning.instructor.dashboard.render.started.v1": {
        "fail_silently": False,
        "pipeline": ["platform_plugin_aspects.extensions.filters.AddSupersetTab"],
    },
    "org.openedx.learning.instructor.dashboard.tabs.requested.v1": {
        "fail_silently": False,
        "pipeline": ["platform_plugin_aspects.extensions.filters.AddSupersetTabToInstructorDashboard"],
    },
}

# Celery: eager unless a test (or the demo) runs a real worker against Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/5")
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "1") == "1"
CELERY_TASK_EAGER_PROPAGATES = True
ASPECTS_CELERY_QUEUE = os.environ.get("ASPECTS_CELERY_QUEUE", "aspects.lms")

# Tests flip waffle flags and expect the next save to see it.
ASPECTS_SWITCH_CACHE_SECS = float(os.environ.get("ASPECTS_SWITCH_CACHE_SECS", 0))

# Benchmarks pick the flush cadence (the worker process reads it from here).
if "ASPECTS_MIN_FLUSH_INTERVAL_SECS" in os.environ:
    ASPECTS_MIN_FLUSH_INTERVAL_SECS = float(os.environ["ASPECTS_MIN_FLUSH_INTERVAL_SECS"])

# Course digests: the SMTP server a test starts on loopback (its port reaches worker processes here).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = "reports@lms.example.com"
if "ASPECTS_DIGEST_RETRY_SECS" in os.environ:
    ASPECTS_DIGEST_RETRY_SECS = float(os.environ["ASPECTS_DIGEST_RETRY_SECS"])

ENV_TOKENS = {}
plugin_production.plugin_settings(__import__("sys").modules[__name__])

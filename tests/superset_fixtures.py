"""
Fixtures for the Superset tests: a REAL Superset 6.1 on loopback, started once per session.

The server comes from ``make superset-venv`` (var/superset-venv); its SQLite metadata lives in
var/superset-test and is initialised once, and every session starts from a pristine copy of that
first metadata database (an empty Superset: no database, dataset, chart, dashboard or guest role).
The session then installs the shipped assets with ``aspects_superset_sync``, twice, keeping both
outputs (``SYNC_RUNS``) for the tests that check the first run creates everything and the second
changes nothing. Each session also creates its own Markdown dashboard with embedding enabled
through the REST API, and points SUPERSET_CONFIG and ASPECTS_INSTRUCTOR_DASHBOARDS at it. Import
the fixtures into a test module with ``from .superset_fixtures import *``.
"""

import io
import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from opaque_keys.edx.keys import CourseKey

from devstack.local_superset import ADMIN_PASSWORD, ADMIN_USERNAME, LocalSuperset
from platform_plugin_aspects.clickhouse import get_clickhouse
from platform_plugin_aspects.settings.common import DEFAULT_INSTRUCTOR_DASHBOARDS
from platform_plugin_aspects.superset.bundle import load_assets
from platform_plugin_aspects.superset.client import SupersetClient, jwt_claims
from tests import waiting
from tests.lms.course_overviews.models import CourseOverview
from tests.lms.student.models import CourseAccessRole, CourseEnrollment

from .clickhouse_server import truncate_all
from .dashboard_data import make_course, write

ROOT = Path(__file__).resolve().parent.parent
COURSE = CourseKey.from_string("course-v1:OrgA+Stats101+2026")
OTHER_COURSE = CourseKey.from_string("course-v1:OrgB+Bio201+2026")
GUEST_TOKEN_SECONDS = 15
SUPERSET_HOME = ROOT / "var" / "superset-test"  # the test Superset's config and SQLite metadata

# Superset reads ClickHouse as the local server's read-only user (devstack/local_clickhouse.py).
REPORT_USER = {"username": "ch_report", "password": "report"}
SYNC_RUNS = []  # the output of each aspects_superset_sync run of the session, in order

__all__ = ["superset", "superset_admin", "SYNC_RUNS", "REPORT_USER", "run_sync", "superset_config_for",
           "embedded_dashboard", "second_embedded_dashboard", "superset_settings",
           "courses", "users", "courses_data", "shipped",
           "COURSE", "OTHER_COURSE", "GUEST_TOKEN_SECONDS", "jwt_claims", "wait_for"]


def wait_for(condition, timeout=20.0, interval=0.05, message="condition"):
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout`` seconds."""
    value = waiting.wait_for(condition, timeout, interval)
    if not value:
        raise AssertionError(f"timed out after {timeout}s waiting for {message}")
    return value


def superset_config_for(url):
    """SUPERSET_CONFIG for the local Superset at ``url`` (the admin account grants guest tokens)."""
    return {"service_url": url, "internal_service_url": url, "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD,
            "timeout_secs": 10}


def run_sync(*args):
    """``aspects_superset_sync *args``: (exit status, output)."""
    out = io.StringIO()
    try:
        call_command("aspects_superset_sync", *args, stdout=out, stderr=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    except Exception as exc:  # CommandError: what manage.py prints, and its exit status  # noqa: BLE001
        return getattr(exc, "returncode", 1), out.getvalue() + f"CommandError: {exc}"
    return 0, out.getvalue()


@pytest.fixture(scope="session")
def superset(clickhouse_server):
    """The running Superset's root URL (one server for the whole session), with the shipped assets synced."""
    # Short-lived guest tokens, so the browser test sees the page refresh one before it expires.
    server = LocalSuperset(SUPERSET_HOME, ROOT / "var" / "superset-venv",
                           guest_token_seconds=GUEST_TOKEN_SECONDS)
    server.initialise()
    pristine = server.home / "superset.db.pristine"
    if pristine.exists():
        shutil.copyfile(pristine, server.home / "superset.db")  # every session starts from an empty Superset
    else:
        shutil.copyfile(server.home / "superset.db", pristine)
    url = server.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "SUPERSET_CONFIG", superset_config_for(url))
        patch.setattr(settings, "ASPECTS_SUPERSET_CLICKHOUSE", dict(REPORT_USER))
        # Django's live server for the browser tests listens on a port chosen at run time: any origin.
        patch.setattr(settings, "ASPECTS_SUPERSET_ALLOWED_DOMAINS", [])
        SYNC_RUNS[:] = [run_sync(), run_sync()]
    yield url
    server.stop()


@pytest.fixture(scope="session")
def superset_admin(superset):
    """An admin client for test setup (create dashboards); the same client class the plugin uses."""
    return SupersetClient(superset, ADMIN_USERNAME, ADMIN_PASSWORD)


def _markdown_layout(title):
    """A dashboard layout with one Markdown block: visible content that needs no database."""
    text = (f"## {title}\n\nEmbedded from Superset with a guest token for *course-v1:OrgA+Stats101+2026*; "
            "row-level security limits every chart to this course.")
    return {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": ["ROW-1"], "parents": ["ROOT_ID"]},
        "ROW-1": {"type": "ROW", "id": "ROW-1", "children": ["MARKDOWN-1"], "parents": ["ROOT_ID", "GRID_ID"],
                  "meta": {"background": "BACKGROUND_TRANSPARENT"}},
        "MARKDOWN-1": {"type": "MARKDOWN", "id": "MARKDOWN-1", "children": [],
                       "parents": ["ROOT_ID", "GRID_ID", "ROW-1"], "meta": {"width": 12, "height": 30, "code": text}},
        "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": title}},
    }


def create_embedded_dashboard(admin, title):
    """Create a dashboard with embedding enabled: ``{"id": <numeric id>, "uuid": <embedded uuid>}``."""
    response = admin.request("POST", "api/v1/dashboard/", json={
        "dashboard_title": title, "published": True, "position_json": json.dumps(_markdown_layout(title)),
    })
    assert response.status_code == 201, response.text
    dashboard_id = response.json()["id"]
    response = admin.request("POST", f"api/v1/dashboard/{dashboard_id}/embedded", json={"allowed_domains": []})
    assert response.status_code == 200, response.text
    return {"id": dashboard_id, "uuid": response.json()["result"]["uuid"], "title": title}


@pytest.fixture(scope="session")
def embedded_dashboard(superset_admin):
    """This session's course dashboard, embeddable."""
    return create_embedded_dashboard(superset_admin, "Course Dashboard")


@pytest.fixture(scope="session")
def second_embedded_dashboard(superset_admin):
    """A second embeddable dashboard, for pages that show several."""
    return create_embedded_dashboard(superset_admin, "At-Risk Learners")


@pytest.fixture(scope="session")
def superset_settings(superset, embedded_dashboard):
    """Point the plugin at the local Superset and its one embedded dashboard for the session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "SUPERSET_CONFIG", {
            "service_url": superset, "internal_service_url": superset,
            "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "timeout_secs": 10,
        })
        patch.setattr(settings, "ASPECTS_INSTRUCTOR_DASHBOARDS", [{
            "name": "Course Dashboard", "slug": "course-dashboard", "uuid": embedded_dashboard["uuid"],
            "allow_translations": False,
        }])
        patch.setattr(settings, "ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS", False)
        patch.setattr(settings, "SUPERSET_EXTRA_FILTERS_FORMAT", [])
        yield settings.SUPERSET_CONFIG


@pytest.fixture
def courses(db):
    """Two courses in two orgs."""
    return [CourseOverview.objects.create(id=key, org=key.org, display_name=f"{key.course} course")
            for key in (COURSE, OTHER_COURSE)]


@pytest.fixture
def users(courses):
    """One user per kind of viewer, with the platform's course-access-role rows."""
    user_model = get_user_model()

    def make(username, **fields):
        return user_model.objects.create_user(username=username, password="pw", email=f"{username}@example.invalid",
                                              **fields)

    made = {
        "global_staff": make("global_staff", is_staff=True),
        "course_staff": make("course_staff", first_name="Ada", last_name="Staff"),
        "course_instructor": make("course_instructor"),
        "org_staff": make("org_staff"),
        "other_course_staff": make("other_course_staff"),
        "other_org_staff": make("other_org_staff"),
        "beta_tester": make("beta_tester"),
        "learner": make("learner"),
    }
    CourseAccessRole.objects.create(user=made["course_staff"], org=COURSE.org, course_id=COURSE, role="staff")
    CourseAccessRole.objects.create(user=made["course_instructor"], org=COURSE.org, course_id=COURSE,
                                    role="instructor")
    CourseAccessRole.objects.create(user=made["org_staff"], org=COURSE.org, role="staff")
    CourseAccessRole.objects.create(user=made["other_course_staff"], org=OTHER_COURSE.org, course_id=OTHER_COURSE,
                                    role="staff")
    CourseAccessRole.objects.create(user=made["other_org_staff"], org=OTHER_COURSE.org, role="instructor")
    CourseAccessRole.objects.create(user=made["beta_tester"], org=COURSE.org, course_id=COURSE, role="beta_testers")
    CourseEnrollment.objects.create(user=made["learner"], course_id=COURSE)
    return made


@pytest.fixture(scope="module")
def courses_data(clickhouse_server):
    """Course A (40 learners) and course B (25) in ClickHouse, analytics model filled by the events."""
    clickhouse = get_clickhouse()
    truncate_all(clickhouse)
    return {str(COURSE): write(clickhouse, make_course(str(COURSE), 1001, 40)),
            str(OTHER_COURSE): write(clickhouse, make_course(str(OTHER_COURSE), 2001, 25))}


@pytest.fixture
def shipped(superset_settings, settings, superset_admin, courses_data):
    """The plugin configured with its defaults: the shipped dashboards, found in Superset by uuid."""
    settings.ASPECTS_INSTRUCTOR_DASHBOARDS = [dict(d) for d in DEFAULT_INSTRUCTOR_DASHBOARDS]
    settings.ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS = True
    assets = load_assets()
    ids = {}
    for name, spec in assets.dashboards.items():
        response = superset_admin.request("GET", f"api/v1/dashboard/{assets.files[spec.path]['uuid']}")
        if response.status_code == 200:
            ids[name] = response.json()["result"]["id"]
    return ids

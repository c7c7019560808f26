"""
The Reports tab's security, end to end: the real permission code, the real endpoints through
Django's test client, and a REAL Superset 6.1 that must accept the tokens we hand out.
"""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from opaque_keys.edx.keys import CourseKey
from openedx_filters.learning.filters import InstructorDashboardTabsRequested

from devstack.ports import free_port
from platform_plugin_aspects.clickhouse import get_clickhouse
from platform_plugin_aspects.superset.client import get_client
from platform_plugin_aspects.superset.dashboards import localized_uuid, token_resources
from platform_plugin_aspects.superset.rls import render_clause
from tests.lms.user_api.models import UserPreference

from .superset_fixtures import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import

pytestmark = pytest.mark.django_db


def token_url(course_key=COURSE):
    return f"/aspects/superset_guest_token/{course_key}/"


def get_as(user, url):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(url)


# --- who gets a token -------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["course_staff", "course_instructor", "org_staff", "global_staff"])
def test_course_staff_get_a_token_superset_accepts(superset_settings, superset, embedded_dashboard, users, who):
    response = get_as(users[who], token_url())

    assert response.status_code == 200, response.content
    token = response.json()["guestToken"]
    claims = jwt_claims(token)
    assert claims["type"] == "guest"
    assert {"type": "dashboard", "id": embedded_dashboard["uuid"]} in claims["resources"]
    assert [rule["clause"] for rule in claims["rls_rules"]] == [
        "org = 'OrgA'", "course_key = 'course-v1:OrgA+Stats101+2026'",
    ]
    accepted = requests.get(f"{superset}api/v1/dashboard/{embedded_dashboard['id']}",
                            headers={"X-GuestToken": token}, timeout=10)
    assert accepted.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize("who", ["learner", "beta_tester", "other_course_staff", "other_org_staff", None])
def test_everyone_else_gets_403_and_no_token(superset_settings, users, who):
    response = get_as(users[who] if who else None, token_url())

    assert response.status_code == 403
    assert "guestToken" not in response.json()
    assert "error" in response.json()


def test_inactive_global_staff_gets_403(superset_settings, users):
    users["global_staff"].is_active = False
    users["global_staff"].save()

    assert get_as(users["global_staff"], token_url()).status_code == 403


def test_unknown_course_is_404_malformed_is_400(superset_settings, users):
    unknown = CourseKey.from_string("course-v1:OrgA+Nope+2026")
    assert get_as(users["global_staff"], token_url(unknown)).status_code == 404
    assert get_as(users["global_staff"], "/aspects/superset_guest_token/not-a-course/").status_code == 400
    # Org staff of OrgA would have access to an OrgA course, so an unknown one is 404 for them too...
    assert get_as(users["org_staff"], token_url(unknown)).status_code == 404
    # ...while a learner learns nothing about which courses exist.
    assert get_as(users["learner"], token_url(unknown)).status_code == 403


def test_the_login_is_reused_between_tokens(superset_settings, users):
    client = get_client(superset_settings)
    client.forget_login()
    logins = client.logins

    for _ in range(3):
        assert get_as(users["course_staff"], token_url()).status_code == 200

    assert client.logins == logins + 1


def test_a_revoked_login_is_renewed_once(superset_settings, users):
    client = get_client(superset_settings)
    assert get_as(users["course_staff"], token_url()).status_code == 200
    # A stale CSRF session (e.g. Superset restarted with new sessions): the client logs in again.
    stale = client._login._replace(csrf_token="stale", cookies={})  # pylint: disable=protected-access
    client._login = stale  # pylint: disable=protected-access
    logins = client.logins

    assert get_as(users["course_staff"], token_url()).status_code == 200
    assert client.logins == logins + 1


def test_an_expired_login_is_renewed(superset_settings, users):
    client = get_client(superset_settings)
    assert get_as(users["course_staff"], token_url()).status_code == 200
    client._login = client._login._replace(expires_at=0)  # pylint: disable=protected-access
    logins = client.logins

    assert get_as(users["course_staff"], token_url()).status_code == 200
    assert client.logins == logins + 1


def test_threads_share_one_login(superset_settings, embedded_dashboard):
    """Concurrent token requests in one process: one login, every token valid for its dashboard."""
    client = get_client(superset_settings)
    client.forget_login()
    logins = client.logins
    resources = [{"type": "dashboard", "id": embedded_dashboard["uuid"]}]
    guest = {"username": "u", "first_name": "", "last_name": ""}

    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = list(pool.map(lambda i: client.guest_token(guest, resources, [{"clause": f"user_id = {i}"}]),
                               range(16)))

    assert client.logins == logins + 1
    assert [jwt_claims(t)["rls_rules"][0]["clause"] for t in tokens] == [f"user_id = {i}" for i in range(16)]


# --- clauses nobody can bend -------------------------------------------------------------------

MALICIOUS_TEMPLATES = [
    "username = '{user.password}'",
    "org = '{course_id.__class__}'",
    "org = '{course_id.org}'",
    "x = '{username!r}'",
    "x = '{username:>99}'",
    "x = {0}",
    "x = '{settings}'",
    "x = '{username}",  # unterminated literal
    "x = {username",
    "x = 1 -- {username}",
    "x = 1 /* {username} */",
    "x = 1 # {username}",
    "org = 'x') OR ('1' = '1'",  # Superset ANDs "(clause)": this would OR away every rule before it
    "x = 1) OR (1 = 1",
    "x = ({username}",
    "x = '{{{{ 7*7 }}}}'",  # Jinja, which Superset renders before the SQL
]


@pytest.mark.parametrize("template", MALICIOUS_TEMPLATES)
def test_bad_extra_filter_templates_are_refused(template):
    values = {"course_id": "c", "org": "o", "user_id": 1, "username": "u"}
    with pytest.raises(ImproperlyConfigured) as error:
        render_clause(template, values)
    assert "pbkdf2" not in str(error.value)


def test_a_bad_extra_filter_means_no_token_not_a_leak(superset_settings, settings, users):
    settings.SUPERSET_EXTRA_FILTERS_FORMAT = ["username = '{user.password}'"]

    response = get_as(users["course_staff"], token_url())

    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"error"}
    assert "pbkdf2" not in response.content.decode()


EVIL_NAMES = [
    "x' OR '1'='1",
    "x\\' OR 1=1 --",
    "x\\",
    "{user.password}",
    "{course_id.__class__}",
    "x'); DROP TABLE t; --",
    "x''",
    "x\n OR 1=1",
    "x\r\n) OR (1=1",
    'x" OR "1"="1',
    "x`",
    "x*/ OR 1=1 /*",
    "x\0",
]

CLAUSE_TEMPLATES = ["username = '{username}'", "username = {username}", "(username) = ('{username}')",
                    "user_id = {user_id} AND username = '{username}'", "username IN ('{username}', 'nobody')",
                    "\"username\" = {username}"]


@pytest.mark.parametrize("template", CLAUSE_TEMPLATES)
@pytest.mark.parametrize("name", EVIL_NAMES)
def test_values_cannot_change_a_clause_meaning(name, template):
    """Run the rendered clause in the real ClickHouse: it selects exactly the user's own row."""
    clause = render_clause(template, {"course_id": "c", "org": "o", "user_id": 7, "username": name})
    rows = get_clickhouse().query(
        "SELECT username FROM (SELECT arrayJoin([(7, {name:String}), (8, 'x'), (9, 'other'), (10, '')]) AS t,"
        f" t.1 AS user_id, t.2 AS username) WHERE {clause}",
        {"name": name},
    )
    assert [row[0] for row in rows] == [name]


def test_a_placeholder_inside_a_longer_literal_stays_inside_it():
    clause = render_clause("course_key LIKE '{course_id}%'", {"course_id": "a'b", "org": "o", "user_id": 1,
                                                              "username": "u"})
    assert clause == "course_key LIKE 'a\\'b%'"


def test_an_evil_username_is_a_literal_in_the_token(superset_settings, settings, users):
    settings.SUPERSET_EXTRA_FILTERS_FORMAT = ["username = '{username}'", "user_id = {user_id}"]
    user = users["course_staff"]
    user.username = "x' OR '1'='1 {user.password}"
    user.save()

    response = get_as(user, token_url())

    assert response.status_code == 200
    clauses = [rule["clause"] for rule in jwt_claims(response.json()["guestToken"])["rls_rules"]]
    assert clauses[2:] == ["username = 'x\\' OR \\'1\\'=\\'1 {user.password}'", f"user_id = {user.id}"]


# --- Superset trouble ----------------------------------------------------------------------------

def test_superset_down_is_a_clear_json_error(superset_settings, settings, users):
    closed = f"http://127.0.0.1:{free_port()}/"
    settings.SUPERSET_CONFIG = {**superset_settings, "internal_service_url": closed, "password": "s3cret-pw"}

    response = get_as(users["course_staff"], token_url())

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and "could not be reached" in body["error"]
    assert "s3cret-pw" not in response.content.decode()


def test_wrong_superset_password_is_a_502_without_secrets(superset_settings, settings, users, caplog):
    settings.SUPERSET_CONFIG = {**superset_settings, "password": "wrong-s3cret"}

    response = get_as(users["course_staff"], token_url())

    assert response.status_code == 502
    assert set(response.json()) == {"error"}
    assert "wrong-s3cret" not in response.content.decode()
    assert "wrong-s3cret" not in caplog.text


# --- dashboards, locales, other endpoints --------------------------------------------------------

def test_localized_uuid_matches_aspects_derivation():
    assert localized_uuid("c0e64194-33d1-4d5a-8c10-4f51530c5ee9", "es-419") == localized_uuid(
        "c0e64194-33d1-4d5a-8c10-4f51530c5ee9", "es_419")
    assert localized_uuid("c0e64194-33d1-4d5a-8c10-4f51530c5ee9", "fr") != localized_uuid(
        "c0e64194-33d1-4d5a-8c10-4f51530c5ee9", "es_419")


def test_token_covers_the_users_locale_copies(settings):
    settings.SUPERSET_DASHBOARD_LOCALES = ["en", "es_419", "fr_CA"]
    base = "c0e64194-33d1-4d5a-8c10-4f51530c5ee9"
    dashboards = [{"uuid": base, "allow_translations": True}, {"uuid": base}]

    assert [r["id"] for r in token_resources(dashboards, "fr_ca")] == [localized_uuid(base, "fr_ca"), base]
    assert [r["id"] for r in token_resources(dashboards, "en")] == [base]


def test_a_learners_locale_copy_is_what_the_token_opens(superset_settings, settings, superset, embedded_dashboard,
                                                         users):
    """Locales configured, user on English: the token lists the English copy and Superset takes it."""
    settings.SUPERSET_DASHBOARD_LOCALES = ["en", "es_419"]
    settings.ASPECTS_INSTRUCTOR_DASHBOARDS = [{"name": "Course", "uuid": embedded_dashboard["uuid"],
                                               "allow_translations": True}]
    UserPreference.objects.create(user=users["course_instructor"], key="pref-lang", value="es-419")

    response = get_as(users["course_staff"], token_url())

    assert response.status_code == 200, response.content
    token = response.json()["guestToken"]
    assert [r["id"] for r in jwt_claims(token)["resources"]] == [embedded_dashboard["uuid"]]
    assert requests.get(f"{superset}api/v1/dashboard/{embedded_dashboard['id']}", headers={"X-GuestToken": token},
                        timeout=10).status_code == 200
    # A Spanish-speaking instructor's token needs the Spanish copy, which this Superset lacks: no token
    # Superset would refuse, but a clear "not installed" message.
    refused = get_as(users["course_instructor"], token_url())
    assert refused.status_code == 503 and "aspects_superset_sync" in refused.json()["error"]


def test_dashboard_config_follows_the_language_preference(superset_settings, settings, superset, users):
    """A locale copy installed by the sync is what a Spanish-speaking user's Reports tab embeds."""
    course = "c0e64194-33d1-4d5a-8c10-4f51530c5ee9"  # the shipped Course Dashboard
    settings.SUPERSET_DASHBOARD_LOCALES = ["en", "es_419"]
    settings.ASPECTS_SUPERSET_CLICKHOUSE = dict(REPORT_USER)
    settings.ASPECTS_INSTRUCTOR_DASHBOARDS = [{"name": "Course", "slug": "course-dashboard", "uuid": course,
                                               "allow_translations": True}]
    assert run_sync("--only", "course")[0] == 0
    UserPreference.objects.create(user=users["course_staff"], key="pref-lang", value="es-419")
    url = f"/aspects/superset_instructor_dashboard/{COURSE}/"

    config = get_as(users["course_staff"], url).json()

    spanish = localized_uuid(course, "es_419")
    embedded = get_client(superset_settings).request("GET", f"api/v1/dashboard/{spanish}/embedded").json()
    assert config["superset_dashboards"][0]["uuid"] == embedded["result"]["uuid"]
    assert config["superset_dashboards"][0]["dashboard_uuid"] == spanish
    assert config["superset_dashboards"][0]["slug"] == "course-dashboard-es_419"
    assert config["superset_guest_token_url"].endswith(token_url())
    token = get_as(users["course_staff"], token_url()).json()["guestToken"]
    assert [r["id"] for r in jwt_claims(token)["resources"]] == [embedded["result"]["uuid"]]
    assert get_as(users["learner"], url).status_code == 403


def test_in_context_dashboard_for_a_problem(superset_settings, settings, users):
    settings.ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS = True
    usage = "block-v1:OrgA+Stats101+2026+type@problem+block@p1"

    response = get_as(users["course_staff"], f"/aspects/superset_in_context_dashboard/{usage}/")

    assert response.status_code == 200
    body = response.json()
    problem_dashboard = "98ff33ff-18dd-48f9-8c58-629ae4f4194b"  # the shipped one, found by its dashboard uuid
    assert body["dashboardId"] == get_client(superset_settings).request(
        "GET", f"api/v1/dashboard/{problem_dashboard}/embedded").json()["result"]["uuid"]
    filters = body["courseRuns"]["2026"]["native_filters"]
    assert "NATIVE_FILTER-29CPcbirK" in filters and "NATIVE_FILTER-TJwItQhUI" in filters
    assert "'block-v1:OrgA+Stats101+2026+type@problem+block@p1'" in filters
    assert get_as(users["learner"], f"/aspects/superset_in_context_dashboard/{usage}/").status_code == 403
    assert get_as(users["course_staff"], "/aspects/superset_in_context_dashboard/"
                  "block-v1:OrgA+Stats101+2026+type@html+block@h1/").status_code == 404


def test_in_context_dashboards_off_is_404(superset_settings, users):
    response = get_as(users["course_staff"], f"/aspects/superset_in_context_dashboard/{COURSE}/")
    assert response.status_code == 404


# --- the filter steps ----------------------------------------------------------------------------

def test_tabs_requested_filter_adds_reports_for_staff_only(users):
    tabs, _, _ = InstructorDashboardTabsRequested.run_filter(tabs=[], user=users["course_staff"], course_key=COURSE)
    assert [t["tab_id"] for t in tabs] == ["aspects"]
    tabs, _, _ = InstructorDashboardTabsRequested.run_filter(tabs=[], user=users["learner"], course_key=COURSE)
    assert tabs == []


def test_instructor_dashboard_page_has_the_reports_tab_for_staff_only(superset_settings, embedded_dashboard, users):
    page = get_as(users["course_staff"], f"/courses/{COURSE}/instructor").content.decode()
    assert 'id="aspects"' in page and "Reports" in page
    assert f'data-dashboard-uuid="{embedded_dashboard["uuid"]}"' in page
    assert "vendor/superset-embedded-sdk.js" in page and "unpkg" not in page and "jsdelivr" not in page

    other = get_as(users["other_course_staff"], f"/courses/{COURSE}/instructor").content.decode()
    assert 'id="aspects"' not in other


def test_json_error_bodies_are_json(superset_settings, users):
    response = get_as(None, token_url())
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {"error": "You do not have permission to view this course's reports."}

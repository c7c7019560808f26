"""
The "superset" XBlock, end to end: a real XBlock runtime (tests/lms/courseware) with the platform's
user service, the real role check and clause rendering, webob requests to the real handler, and a
REAL Superset 6.1 that must accept the tokens the block hands out.
"""

import json

import pytest
import requests
import webob
from django.test import Client
from opaque_keys.edx.keys import UsageKey
from xblock.core import XBlock

from devstack.ports import free_port
from platform_plugin_aspects.clickhouse import get_clickhouse
from platform_plugin_aspects.xblock import SupersetXBlock
from tests.lms.courseware import runtime as courseware

from .superset_fixtures import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import
from .test_superset import MALICIOUS_TEMPLATES

pytestmark = pytest.mark.django_db

HANDLER = "get_superset_guest_token"
USAGE = COURSE.make_usage_key("superset", "course_dashboard")
DEFAULT_CLAUSES = ["org = 'OrgA'", "course_key = 'course-v1:OrgA+Stats101+2026'"]
SDK_URL = "/static/platform_plugin_aspects/vendor/superset-embedded-sdk.js"


@pytest.fixture
def store():
    """The stand-in modulestore's block fields, empty for each test."""
    courseware.STORE.clear()
    yield courseware.STORE
    courseware.STORE.clear()


def block_for(user, usage=USAGE, user_role=None):
    """The block as ``user`` (None: anonymous) loads it in the LMS."""
    return courseware.StandInRuntime(user, user_role).block(usage)


def call(block, handler, body=b"{}", method="POST"):
    """POST ``body`` to ``handler`` through the runtime, as the LMS does: (status, JSON body)."""
    request = webob.Request.blank(block.runtime.handler_url(block, handler), method=method, body=body,
                                  content_type="application/json")
    response = block.runtime.handle(block, handler, request)
    return response.status_code, json.loads(response.body)


def studio_save(author, usage=USAGE, **values):
    """Save field values through the Studio editor's handler, as an author does."""
    body = json.dumps({"values": values, "defaults": []}).encode()
    return call(block_for(author, usage), "submit_studio_edits", body)


def ask_token(user, usage=USAGE, user_role=None):
    return call(block_for(user, usage, user_role), HANDLER)


def clauses(token):
    return [rule["clause"] for rule in jwt_claims(token)["rls_rules"]]


def superset_opens(superset, dashboard, token):
    """Whether Superset serves ``dashboard`` to a browser holding guest token ``token``."""
    response = requests.get(f"{superset}api/v1/dashboard/{dashboard['id']}", headers={"X-GuestToken": token},
                            timeout=10)
    return response.status_code == 200


@pytest.fixture
def configured(store, superset_settings, embedded_dashboard, users):
    """A block on the session's embedded dashboard, saved by the course's staff in Studio."""
    status, body = studio_save(users["course_staff"], display_name="Course engagement",
                               dashboard_uuid=embedded_dashboard["uuid"],
                               filters=["course_key LIKE '{course_id}%'"])
    assert status == 200, body
    return embedded_dashboard


def test_the_block_is_registered_as_superset():
    assert XBlock.load_class("superset") is SupersetXBlock


# --- who gets a token -----------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["course_staff", "course_instructor", "org_staff", "global_staff"])
def test_course_staff_get_a_token_superset_accepts(configured, superset, second_embedded_dashboard, users, who):
    status, body = ask_token(users[who])

    assert status == 200, body
    token = body["guestToken"]
    claims = jwt_claims(token)
    assert claims["type"] == "guest"
    assert claims["resources"] == [{"type": "dashboard", "id": configured["uuid"]}]
    assert clauses(token) == [*DEFAULT_CLAUSES, "course_key LIKE 'course-v1:OrgA+Stats101+2026%'"]
    assert superset_opens(superset, configured, token)
    # The token opens this block's dashboard only.
    assert not superset_opens(superset, second_embedded_dashboard, token)


def test_the_operators_clauses_apply_before_the_blocks(configured, settings, users):
    settings.SUPERSET_EXTRA_FILTERS_FORMAT = ["user_id = {user_id}"]

    status, body = ask_token(users["course_staff"])

    assert status == 200, body
    assert clauses(body["guestToken"]) == [*DEFAULT_CLAUSES, f"user_id = {users['course_staff'].id}",
                                           "course_key LIKE 'course-v1:OrgA+Stats101+2026%'"]


@pytest.mark.parametrize("who", ["learner", "beta_tester", "other_course_staff", "other_org_staff", None])
def test_everyone_else_gets_403_and_no_token(configured, users, who):
    status, body = ask_token(users[who] if who else None)

    assert status == 403
    assert set(body) == {"error"}


def test_inactive_global_staff_gets_403(configured, users):
    users["global_staff"].is_active = False
    users["global_staff"].save()

    assert ask_token(users["global_staff"])[0] == 403


def test_the_course_is_the_blocks_own(configured, users):
    """The same dashboard in OrgB's course: OrgB's staff get OrgB's rows there, and nothing in OrgA's."""
    other = OTHER_COURSE.make_usage_key("superset", "bio_dashboard")
    assert studio_save(users["other_course_staff"], other, dashboard_uuid=configured["uuid"])[0] == 200

    status, body = ask_token(users["other_course_staff"], other)

    assert status == 200, body
    assert clauses(body["guestToken"]) == ["org = 'OrgB'", "course_key = 'course-v1:OrgB+Bio201+2026'"]
    assert ask_token(users["other_course_staff"])[0] == 403
    assert ask_token(users["course_staff"], other)[0] == 403


def test_the_handler_wants_a_post(configured, users):
    status, body = call(block_for(users["course_staff"]), HANDLER, method="GET")

    assert status == 405
    assert "guestToken" not in body


def test_no_dashboard_configured_is_404_for_staff_403_for_others(store, superset_settings, users):
    assert ask_token(users["course_staff"])[0] == 404
    assert ask_token(users["learner"])[0] == 403


# --- clauses nobody can bend ----------------------------------------------------------------------

BAD_FILTERS = [[template] for template in MALICIOUS_TEMPLATES] + [
    ["x = '{{{{ 7*7 }}}}'"],           # Jinja, which Superset would run before the SQL
    ["org = 'OrgB') OR ('1' = '1'", "x = '{username}"],  # the second one is unterminated
    [7],
]


@pytest.mark.parametrize("filters", BAD_FILTERS, ids=repr)
def test_bad_filters_mean_no_token(configured, store, users, filters):
    # As if written past the Studio editor (which refuses them, below): straight into the block's fields.
    block = block_for(users["course_staff"])
    block.filters = filters
    block.save()

    status, body = ask_token(users["course_staff"])

    assert status == 503
    assert set(body) == {"error"} and "filters are not valid" in body["error"]
    assert "pbkdf2" not in json.dumps(body)


@pytest.mark.parametrize("filters", BAD_FILTERS[:3] + BAD_FILTERS[-3:], ids=repr)
def test_studio_refuses_bad_filters(configured, users, filters):
    status, body = studio_save(users["course_staff"], filters=filters)

    assert status == 400
    assert "Invalid filters" in json.dumps(body)
    assert block_for(users["course_staff"]).filters == ["course_key LIKE '{course_id}%'"]


def test_studio_refuses_a_uuid_that_is_not_one(configured, users):
    status, _ = studio_save(users["course_staff"], dashboard_uuid="course-dashboard")

    assert status == 400
    assert block_for(users["course_staff"]).dashboard_uuid == configured["uuid"]


def test_an_authors_clause_cannot_widen_the_courses(configured, superset, users):
    """An author's OR stays inside its own rule, which Superset ANDs after the course's two."""
    assert studio_save(users["course_staff"], filters=["org = 'OrgB' OR 1 = 1"])[0] == 200

    status, body = ask_token(users["course_staff"])

    assert status == 200
    rules = clauses(body["guestToken"])
    assert rules == [*DEFAULT_CLAUSES, "org = 'OrgB' OR 1 = 1"]
    assert superset_opens(superset, configured, body["guestToken"])
    # Superset's WHERE for these rules (each one parenthesised, joined by AND), in the real ClickHouse:
    where = " AND ".join(f"({rule})" for rule in rules)
    rows = get_clickhouse().query(
        "SELECT org FROM (SELECT arrayJoin([('OrgA', 'course-v1:OrgA+Stats101+2026'), ('OrgA', 'course-v1:OrgA+X+1'),"
        f" ('OrgB', 'course-v1:OrgB+Bio201+2026')]) AS t, t.1 AS org, t.2 AS course_key) WHERE {where}"
    )
    assert [row[0] for row in rows] == ["OrgA"]


def test_an_evil_username_is_a_literal_in_the_clause(configured, users):
    assert studio_save(users["course_staff"], filters=["username = '{username}'", "username = {username}"])[0] == 200
    user = users["course_staff"]
    user.username = "x' OR '1'='1 {user.password} --"
    user.save()

    status, body = ask_token(user)

    assert status == 200, body
    literal = "'x\\' OR \\'1\\'=\\'1 {user.password} --'"
    assert clauses(body["guestToken"]) == [*DEFAULT_CLAUSES, f"username = {literal}", f"username = {literal}"]


# --- Superset trouble -----------------------------------------------------------------------------

def test_superset_down_is_a_clear_json_503(configured, settings, superset_settings, users):
    settings.SUPERSET_CONFIG = {**superset_settings, "internal_service_url": f"http://127.0.0.1:{free_port()}/",
                                "password": "s3cret-pw"}

    status, body = ask_token(users["course_staff"])

    assert status == 503
    assert set(body) == {"error"} and "could not be reached" in body["error"]
    assert "s3cret-pw" not in json.dumps(body)


def test_superset_refusing_is_a_502_without_secrets(configured, settings, superset_settings, users, caplog):
    settings.SUPERSET_CONFIG = {**superset_settings, "password": "wrong-s3cret"}

    status, body = ask_token(users["course_staff"])

    assert status == 502
    assert set(body) == {"error"} and "refused" in body["error"]
    assert "wrong-s3cret" not in json.dumps(body) and "wrong-s3cret" not in caplog.text


# --- what people see --------------------------------------------------------------------------------

def render(user, usage=USAGE, user_role=None):
    """The student_view as the runtime wraps it for the page: (HTML, the script tags at its foot)."""
    fragment = block_for(user, usage, user_role).render("student_view")
    return fragment.body_html(), fragment.foot_html()


@pytest.mark.parametrize("who", ["learner", "beta_tester", "other_course_staff", None])
def test_learners_and_anonymous_see_a_staff_only_message(configured, users, who):
    html, scripts = render(users[who] if who else None)

    assert "only visible to course staff" in html
    assert "aspects-reports" not in html and HANDLER not in html and configured["uuid"] not in html
    assert SDK_URL not in scripts


def test_staff_see_the_embedded_dashboard(configured, superset, users):
    html, scripts = render(users["course_staff"])

    assert 'class="aspects-reports"' in html
    assert f'data-guest-token-url="/courses/{COURSE}/xblock/{USAGE}/handler/{HANDLER}"' in html
    assert 'data-guest-token-method="POST"' in html
    assert f'data-dashboard-uuid="{configured["uuid"]}"' in html
    assert f'data-superset-url="{superset}"' in html
    # The pinned SDK from the plugin's static files, then the script that uses it.
    assert 0 <= scripts.index(f"src='{SDK_URL}'") < scripts.index("src='/static/platform_plugin_aspects/js/reports.js'")
    assert "unpkg" not in scripts and "jsdelivr" not in scripts
    assert "data-init='AspectsSupersetXBlock'" in html  # the runtime's wrapper: the LMS calls it on load


def test_staff_viewing_as_a_learner_see_what_learners_see(configured, users):
    html, _ = render(users["course_staff"], user_role="student")

    assert "only visible to course staff" in html


@pytest.mark.parametrize("who", ["course_staff", "global_staff"])
def test_staff_viewing_as_a_learner_get_no_token(configured, users, who):
    """The LMS reports the role "student" for the handler call too: the handler refuses like the page."""
    status, body = ask_token(users[who], user_role="student")

    assert status == 403
    assert set(body) == {"error"}
    # Back to their own view ("staff"/"instructor" roles, or none given): the token again.
    assert ask_token(users[who], user_role="staff")[0] == 200


def test_a_block_in_a_library_gets_no_token_and_no_error_page(store, superset_settings, embedded_dashboard, users):
    """A library (v2) block: no course, so no course staff; a 403 JSON, not a 500."""
    usage = UsageKey.from_string("lb:OrgA:lib1:superset:d1")
    assert ask_token(users["global_staff"], usage)[0] == 403
    assert "only visible to course staff" in render(users["global_staff"], usage)[0]


def test_staff_are_told_when_no_dashboard_is_configured(store, superset_settings, users):
    html, scripts = render(users["course_staff"])

    assert "No Superset dashboard is configured" in html and "Dashboard UUID" in html
    assert SDK_URL not in scripts
    assert "only visible to course staff" in render(users["learner"])[0]


def test_two_blocks_on_a_page_keep_their_own_token_urls(configured, second_embedded_dashboard, users):
    """Upstream's script shared one global token URL, so a second block broke the first."""
    second = COURSE.make_usage_key("superset", "at_risk")
    assert studio_save(users["course_staff"], second, dashboard_uuid=second_embedded_dashboard["uuid"])[0] == 200

    first_html, second_html = render(users["course_staff"])[0], render(users["course_staff"], second)[0]

    assert f"/xblock/{USAGE}/handler/" in first_html and f"/xblock/{second}/handler/" not in first_html
    assert f"/xblock/{second}/handler/" in second_html
    status, body = ask_token(users["course_staff"], second)
    assert status == 200 and jwt_claims(body["guestToken"])["resources"][0]["id"] == second_embedded_dashboard["uuid"]


def test_studio_editor_lists_the_three_fields(configured, users):
    html = block_for(users["course_staff"]).render("studio_view").body_html()

    for label in ("Display name", "Dashboard UUID", "Filters"):
        assert label in html


# --- through the stand-in LMS's URLs (CSRF-checked, like the LMS's handler view) --------------------

def test_the_lms_handler_url_answers_staff_and_refuses_learners(configured, users):
    url = f"/courses/{COURSE}/xblock/{USAGE}/handler/{HANDLER}"
    staff, learner = Client(), Client()
    staff.force_login(users["course_staff"])
    learner.force_login(users["learner"])

    assert staff.post(url, "{}", content_type="application/json").json()["guestToken"]
    assert learner.post(url, "{}", content_type="application/json").status_code == 403
    assert "only visible to course staff" in learner.get(f"/xblock/{USAGE}").content.decode()

"""
Every ``/aspects/`` endpoint answers JSON for every kind of key the platform has, for every kind of
visitor: 400 for what is not a course (or, in-context, a course's block), 403 before anything else
for whoever may not see the course, 404 for a course that does not exist, never a 500 or an HTML page.

Superset is a closed port here: a course key that passes every check reaches Superset (the token
request, or the lookup of the dashboards' embedded uuids) and gets the documented 503, which proves
the key got through; what Superset does with tokens is tests/test_superset.py's business.
"""

import pytest
from django.test import Client
from django.urls import reverse
from opaque_keys.edx.keys import CourseKey

from devstack.ports import free_port
from platform_plugin_aspects import urls
from tests.lms.course_overviews.models import CourseOverview
from tests.lms.student.models import CourseAccessRole

pytestmark = pytest.mark.django_db

COURSE = "course-v1:OrgA+Stats101+2026"
CCX = "ccx-v1:OrgA+Stats101+2026+ccx@3"
OLD_STYLE = "OrgA/Stats101/2025"

# (key, kind): the kind decides the expected answer below.
KEYS = [
    (COURSE, "course"),
    ("course-v1:OrgA+Stats101+2026+branch@draft-branch", "course"),  # Studio's draft branch of the same run
    (CCX, "ccx"),
    (OLD_STYLE, "old-style course"),  # the deprecated Org/Course/Run keys of old courses
    ("OrgA/Nope/2026", "unknown course"),
    ("course-v1:OrgA+Nope+2026", "unknown course"),
    ("course-v1:Örg+Çourse+2026", "unknown course"),  # unicode is legal in course keys
    ("block-v1:OrgA+Stats101+2026+type@problem+block@p1", "block"),
    ("block-v1:OrgA+Stats101+2026+type@sequential+block@s1", "block"),
    ("ccx-block-v1:OrgA+Stats101+2026+ccx@3+type@problem+block@p1", "ccx block"),
    ("block-v1:OrgA+Stats101+2026+type@html+block@h1", "block without dashboard"),
    ("block-v1:OrgA+Nope+2026+type@problem+block@p1", "block of unknown course"),
    ("library-v1:OrgA+lib1", "not a course"),
    ("lib-block-v1:OrgA+lib1+type@problem+block@p1", "not a course"),
    ("lib:OrgA:lib1", "not a course"),
    ("lb:OrgA:lib1:problem:p1", "not a course"),
    ("lct:OrgA:lib1:unit:u1", "not a course"),
    ("lib-collection:OrgA:lib1:c1", "not a course"),
    ("course-v1:version@5f0a0a0a0a0a0a0a0a0a0a0a", "not a course"),  # a version, no course run
    ("not-a-course", "not a course"),
    ("course-v1:", "not a course"),
    ("course-v1:OrgA+Stats101", "not a course"),
    ("block-v1:OrgA+Stats101+2026+type@problem", "not a course"),
    ("course-v1:OrgA+Stats101+2026'); DROP TABLE x; --", "not a course"),
    ("ünïcødé:☃", "not a course"),
    ("x" * 3000, "not a course"),
]

# The digest's unsubscribe page takes a signed token, not a key, and is a page for people
# (tests/test_digest.py covers it, a forged token included).
ENDPOINTS = [pattern.name for pattern in urls.urlpatterns if pattern.name not in ("not_found", "digest_unsubscribe")]
VISITORS = ["anonymous", "learner", "course_staff", "global_staff"]


def expected(endpoint, kind, visitor):
    """The documented answer: (status, what the body holds)."""
    if visitor == "anonymous":
        return 403, "error"
    in_context = endpoint == "superset_in_context_dashboard"
    blocks = kind in ("block", "ccx block", "block without dashboard", "block of unknown course")
    if kind == "not a course" or (blocks and not in_context):
        return 400, "error"
    in_staffs_course = kind in ("course", "block", "block without dashboard")  # course_staff's role is on COURSE
    allowed = visitor == "global_staff" or (visitor == "course_staff" and in_staffs_course)
    if not allowed:
        return 403, "error"
    if "unknown" in kind:
        return 404, "error"
    if kind == "block without dashboard":
        return 404, "error"
    # Superset is a closed port: the key got all the way through to Superset (for the token, or for the
    # embedded uuids of the dashboards the page embeds).
    return 503, "error"


@pytest.fixture
def visitors(django_user_model):
    course = CourseKey.from_string(COURSE)
    for key in (COURSE, CCX, OLD_STYLE):
        CourseOverview.objects.create(id=CourseKey.from_string(key), org="OrgA", display_name=key)
    learner = django_user_model.objects.create_user("learner", "learner@example.invalid", "pw")
    staff = django_user_model.objects.create_user("course_staff", "staff@example.invalid", "pw")
    CourseAccessRole.objects.create(user=staff, org="OrgA", course_id=course, role="staff")
    return {
        "anonymous": None,
        "learner": learner,
        "course_staff": staff,
        "global_staff": django_user_model.objects.create_user("global_staff", "g@example.invalid", "pw",
                                                              is_staff=True),
    }


@pytest.fixture
def closed_superset(settings):
    closed = f"http://127.0.0.1:{free_port()}/"
    settings.SUPERSET_CONFIG = {"service_url": closed, "internal_service_url": closed, "username": "admin",
                                "password": "admin", "timeout_secs": 2}
    settings.ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS = True


@pytest.mark.parametrize("visitor", VISITORS)
@pytest.mark.parametrize("key,kind", KEYS, ids=[f"{kind}:{key[:60]}" for key, kind in KEYS])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_key_gets_a_json_answer(closed_superset, visitors, endpoint, key, kind, visitor):
    client = Client(raise_request_exception=False)
    if visitors[visitor] is not None:
        client.force_login(visitors[visitor])
    url = reverse(f"platform_plugin_aspects:{endpoint}", args=[key])

    response = client.get(url)

    status, field = expected(endpoint, kind, visitor)
    assert (response.status_code, response["Content-Type"]) == (status, "application/json"), response.content[:300]
    body = response.json()
    assert body.get(field), body
    if field == "error":
        assert set(body) == {"error"} and "Traceback" not in body["error"]


def test_the_in_context_filters_name_the_course_without_its_branch(closed_superset, visitors, settings):
    # An embedded uuid given in the settings: no lookup in the (closed) Superset.
    settings.ASPECTS_IN_CONTEXT_DASHBOARDS = {kind: {**entry, "embedded_uuid": "00000000-0000-4000-8000-000000000001"}
                                             for kind, entry in settings.ASPECTS_IN_CONTEXT_DASHBOARDS.items()}
    client = Client()
    client.force_login(visitors["course_staff"])
    url = reverse("platform_plugin_aspects:superset_in_context_dashboard",
                  args=["block-v1:OrgA+Stats101+2026+branch@draft-branch+type@problem+block@p1"])

    body = client.get(url).json()

    assert "'course-v1:OrgA+Stats101+2026'" in body["courseRuns"]["2026"]["native_filters"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_other_methods_get_a_json_405(visitors, endpoint, method):
    client = Client()
    client.force_login(visitors["global_staff"])

    response = getattr(client, method)(reverse(f"platform_plugin_aspects:{endpoint}", args=[COURSE]))

    assert (response.status_code, response["Content-Type"], response["Allow"]) == (405, "application/json", "GET")
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("path", ["superset_guest_token/OrgA/Stats101/", "superset_guest_token/", "nothing/here/",
                                  "superset_in_context_dashboard/i4x://OrgA/Stats101/problem/p1/"])
def test_other_paths_under_aspects_get_a_json_404(visitors, path):
    client = Client()
    client.force_login(visitors["global_staff"])

    response = client.get(f"/aspects/{path}")

    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert set(response.json()) == {"error"}


def test_the_reports_tab_of_an_old_style_course(closed_superset, visitors):
    """The Instructor Dashboard of a course with a deprecated key: the tab and its token path, no 500."""
    client = Client(raise_request_exception=False)
    client.force_login(visitors["global_staff"])

    page = client.get(f"/courses/{OLD_STYLE}/instructor")

    assert page.status_code == 200, page.content[-500:]
    assert f'data-guest-token-url="/aspects/superset_guest_token/{OLD_STYLE}/"' in page.content.decode()

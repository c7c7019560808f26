"""
The receivers no other test drove: each openedx-event below is sent as the platform sends it (the
real signal object with its real data class) after the LMS changed in a way no model signal
reports, and the rows in ClickHouse must then match the LMS. Also: which UserProfile.meta keys
leave the LMS, and a username change reaching every table that stores usernames.
"""

import json
from datetime import datetime, timezone

import pytest
from opaque_keys.edx.keys import CourseKey, UsageKey
from openedx_events.content_authoring.data import (
    ContentObjectChangedData,
    CourseCatalogData,
    CourseScheduleData,
    XBlockData,
)
from openedx_events.content_authoring.signals import (
    CONTENT_OBJECT_ASSOCIATIONS_CHANGED,
    COURSE_CATALOG_INFO_CHANGED,
    XBLOCK_DELETED,
)
from openedx_events.learning.data import CourseData, CoursePassingStatusData, UserData, UserPersonalData
from openedx_events.learning.signals import COURSE_PASSING_STATUS_UPDATED

from tests.lms.course_overviews.models import CourseOverview
from tests.lms.external_user_ids.models import ExternalId, ExternalIdType
from tests.lms.grades.models import PersistentCourseGrade
from tests.lms.modulestore.api import build_course_tree, modulestore, publish_course
from tests.lms.student.models import CourseEnrollment, UserProfile
from tests.lms.tagging.models import ObjectTag, Tag, Taxonomy

from .factories import make_course, make_user
from .sink_helpers import current, enable_all

pytestmark = pytest.mark.django_db(transaction=True)
COURSE = "course-v1:OpenedX+Receivers+2026"


@pytest.fixture(autouse=True)
def sinks_on(settings, clickhouse):
    enable_all(settings)
    return clickhouse


def published_locations(course_key):
    """Every published block location of the course in the (stand-in) modulestore."""
    store = modulestore()
    key = CourseKey.from_string(course_key)
    return sorted(str(block.location) for block in store.get_items(key, revision="rev-opt-published-only"))


def test_xblock_deleted_removes_the_block_from_course_blocks():
    make_course(COURSE)
    publish_course(COURSE, build_course_tree(sections=2, subsections=1, units=1))
    deleted = "block-v1:OpenedX+Receivers+2026+type@problem+block@s2ss1u1problem"
    assert deleted in {row["location"] for row in current("course_blocks")}
    # Studio deletes the block: the published tree changes, and only XBLOCK_DELETED says so.
    publish_course(COURSE, build_course_tree(sections=1, subsections=1, units=1), send_signal=False)
    XBLOCK_DELETED.send_event(xblock_info=XBlockData(usage_key=UsageKey.from_string(deleted), block_type="problem"))
    rows = current("course_blocks", columns="location")
    assert sorted(row["location"] for row in rows) == published_locations(COURSE)
    assert deleted not in {row["location"] for row in rows}


def test_course_catalog_info_changed_refreshes_the_overview():
    make_course(COURSE, display_name="Old name")
    # The platform rewrites the overview (no save signal of ours), then announces the catalog change.
    CourseOverview.objects.filter(id=CourseKey.from_string(COURSE)).update(
        display_name="Nouveau nom — 2026", end=datetime(2026, 9, 1, tzinfo=timezone.utc), self_paced=True)
    COURSE_CATALOG_INFO_CHANGED.send_event(catalog_info=CourseCatalogData(
        course_key=CourseKey.from_string(COURSE), name="Nouveau nom — 2026",
        schedule_data=CourseScheduleData(start=datetime(2026, 1, 5, tzinfo=timezone.utc), pacing="self",
                                         end=datetime(2026, 9, 1, tzinfo=timezone.utc))))
    assert current("course_overviews", columns="course_key, display_name, course_end, self_paced") == [
        {"course_key": COURSE, "display_name": "Nouveau nom — 2026",
         "course_end": "2026-09-01 00:00:00.000000+00:00", "self_paced": True}]


def test_content_object_associations_changed_refreshes_the_block_tags():
    make_course(COURSE)
    publish_course(COURSE, build_course_tree(sections=1, subsections=1, units=1))
    block = "block-v1:OpenedX+Receivers+2026+type@problem+block@s1ss1u1problem"
    taxonomy = Taxonomy.objects.create(name="Skills")
    tag = Tag.objects.create(taxonomy=taxonomy, value="Algebra")
    # Tags applied in bulk (no per-object save signal), as the tagging API may do, then the event.
    ObjectTag.objects.bulk_create([ObjectTag(object_id=block, taxonomy=taxonomy, tag=tag, _value="Algebra")])
    CONTENT_OBJECT_ASSOCIATIONS_CHANGED.send_event(
        content_object=ContentObjectChangedData(object_id=block, changes=["tags"]))
    by_location = {row["location"]: json.loads(row["xblock_data_json"])["tags"]
                   for row in current("course_blocks", columns="location, xblock_data_json")}
    assert by_location[block] == [tag.id]
    assert all(tags == [] for location, tags in by_location.items() if location != block)


def test_course_passing_status_updated_refreshes_the_grade():
    user = make_user("passer")
    make_course(COURSE)
    grade = PersistentCourseGrade.objects.create(user_id=user.id, course_id=COURSE, percent_grade=0.4,
                                                 letter_grade="", grading_policy_hash="h")
    passed = datetime(2026, 4, 1, 12, tzinfo=timezone.utc)
    PersistentCourseGrade.objects.filter(pk=grade.pk).update(percent_grade=0.8, letter_grade="Pass",
                                                             passed_timestamp=passed)
    COURSE_PASSING_STATUS_UPDATED.send_event(course_passing_status=CoursePassingStatusData(
        is_passing=True, course=CourseData(course_key=CourseKey.from_string(COURSE)),
        user=UserData(id=user.id, is_active=True,
                      pii=UserPersonalData(username=user.username, email=user.email, name=""))))
    assert current("course_grades", columns="user_id, course_key, percent_grade, letter_grade, is_passing, "
                                            "passed_timestamp") == [
        {"user_id": user.id, "course_key": COURSE, "percent_grade": 0.8, "letter_grade": "Pass",
         "is_passing": True, "passed_timestamp": "2026-04-01 12:00:00.000000+00:00"}]


def test_only_the_listed_meta_keys_reach_clickhouse(settings):
    settings.ASPECTS_USER_PROFILE_META_KEYS = ["nickname", "language_pref"]
    user = make_user("meta")
    profile = user.profile
    profile.meta = json.dumps({"session_id": "secret-session", "nickname": "Zed", "language_pref": "fr",
                               "courses": {"x": 1}})
    profile.save()
    [row] = current("user_profile", columns="meta")
    assert json.loads(row["meta"]) == {"nickname": "Zed", "language_pref": "fr"}

    settings.ASPECTS_USER_PROFILE_META_KEYS = []  # the default: nothing of meta leaves the LMS
    profile.save()
    assert current("user_profile", columns="meta") == [{"meta": "{}"}]


def test_a_username_change_reaches_every_table_that_stores_usernames():
    user, other = make_user("before"), make_user("bystander")
    xapi = ExternalIdType.objects.create(name="xapi")
    for learner in (user, other):
        ExternalId.objects.create(user=learner, external_id_type=xapi)
        CourseEnrollment.enroll(learner, COURSE)
    user.username = "after"
    user.save()
    expected = {user.id: "after", other.id: "bystander"}
    for table in ("user_profile", "course_enrollment", "external_id"):
        rows = current(table, columns="user_id, username")
        assert {row["user_id"]: row["username"] for row in rows} == expected and len(rows) == 2, table
    assert UserProfile.objects.count() == 2

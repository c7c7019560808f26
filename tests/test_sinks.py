"""
Every sink end to end: stand-in LMS change → outbox → flusher → rows in the real ClickHouse.

Celery runs eagerly here (the flush happens right after commit); tests/test_delivery.py runs a real
worker. Values are checked column by column.
"""

import json
from datetime import datetime, timezone

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from openedx_events.learning.data import CourseData, PersistentCourseGradeData
from openedx_events.learning.signals import PERSISTENT_GRADE_SUMMARY_CHANGED

from platform_plugin_aspects.models import OutboxEntry
from tests.lms.ccx.models import CustomCourseForEdX
from tests.lms.course_overviews.models import CourseOverview
from tests.lms.external_user_ids.models import ExternalId, ExternalIdType
from tests.lms.grades.models import PersistentCourseGrade
from tests.lms.modulestore.api import build_course_tree, publish_course
from tests.lms.student.models import CourseEnrollment, UserProfile
from tests.lms.tagging.models import ObjectTag, Tag, Taxonomy
from tests.lms.user_api.accounts.signals import USER_RETIRE_LMS_MISC

from .factories import make_course, make_user
from .sink_helpers import current, enable_all

pytestmark = pytest.mark.django_db(transaction=True)
COURSE = "course-v1:OpenedX+DemoX+2026"


@pytest.fixture(autouse=True)
def sinks_on(settings, clickhouse):
    enable_all(settings)
    return clickhouse


def test_enrollment_lifecycle_including_mode_change_and_delete():
    user = make_user("ada")
    enrollment = CourseEnrollment.enroll(user, COURSE, mode="audit")
    [row] = current("course_enrollment")
    assert row["id"] == enrollment.id and row["course_key"] == COURSE and row["user_id"] == user.id
    assert row["mode"] == "audit" and row["is_active"] is True and row["username"] == "ada"
    assert row["created"].endswith("+00:00") and row["is_deleted"] == 0

    enrollment.change_mode("verified")  # no ENROLL_STATUS_CHANGE: the openedx-event carries it
    assert current("course_enrollment", columns="mode") == [{"mode": "verified"}]

    enrollment.unenroll()
    assert current("course_enrollment", columns="is_active") == [{"is_active": False}]

    enrollment.delete()
    assert current("course_enrollment") == []


def test_a_batch_of_enrollments_across_courses_loads_in_one_query_and_only_what_changed(caplog):
    """Flushes read a batch with one query per model; other enrollments of those users stay out."""
    from platform_plugin_aspects.sinks import get_sink  # pylint: disable=import-outside-toplevel

    other = "course-v1:OpenedX+Other+2026"
    ada, bob = make_user("batch-ada"), make_user("batch-bob")
    for user, course in ((ada, COURSE), (ada, other), (bob, other)):
        CourseEnrollment.enroll(user, course)
    sink = get_sink("course_enrollment")
    wanted = [f"{ada.id}:{COURSE}", f"{bob.id}:{other}", f"{bob.id}:{COURSE}"]  # bob never enrolled in COURSE
    with CaptureQueriesContext(connection) as queries:
        loaded = sink.load(wanted + ["not-a-user:course-v1:X+Y+Z", f"{ada.id}:not a course key"])
    assert sorted(loaded) == sorted(wanted[:2])  # ada's other enrollment is not in the batch
    # One query per model: the enrollments, then their users (read by primary key, never a JOIN).
    assert [("student_courseenrollment" in q["sql"], "auth_user" in q["sql"]) for q in queries] == \
        [(True, False), (False, True)]
    assert "names no user and course" in caplog.text


def test_enrollment_username_is_blank_without_pii(settings):
    settings.ASPECTS_ENABLE_PII = False
    CourseEnrollment.enroll(make_user("grace"), COURSE)
    assert current("course_enrollment", columns="username") == [{"username": ""}]


def test_profile_values_nulls_unicode_and_meta_never_raw():
    user = make_user("zoë", email="zoë@example.com")
    profile = user.profile
    profile.name = "Zoë O'Brien — 中文 🎓"
    profile.meta = json.dumps({"session_id": "secret-session", "nickname": "Z"})
    profile.year_of_birth = None
    profile.country = "FR"
    profile.bio = "line1\nline2"
    profile.save()
    [row] = current("user_profile")
    assert row["name"] == "Zoë O'Brien — 中文 🎓" and row["username"] == "zoë" and row["email"] == "zoë@example.com"
    assert row["year_of_birth"] == "" and row["gender"] == ""
    assert row["country"] == "FR" and row["bio"] == "line1\nline2"
    assert "secret-session" not in row["meta"] and json.loads(row["meta"]) == {}
    profile.delete()
    assert current("user_profile") == []


def test_external_id_and_delete():
    user = make_user("lin")
    xapi = ExternalIdType.objects.create(name="xapi", description="xAPI")
    external = ExternalId.objects.create(user=user, external_id_type=xapi)
    assert current("external_id", columns="toString(external_user_id) AS uid, external_id_type, username, user_id") == [
        {"uid": str(external.external_user_id), "external_id_type": "xapi", "username": "lin", "user_id": user.id}]
    external.delete()
    assert current("external_id") == []


def test_course_publish_overview_blocks_tags_and_removed_blocks():
    overview = make_course(lowest_passing_grade=None)  # NULL grade: upstream crashed here
    taxonomy = Taxonomy.objects.create(name="Difficulty")
    parent = Tag.objects.create(taxonomy=taxonomy, value="Level")
    hard = Tag.objects.create(taxonomy=taxonomy, parent=parent, value="Hard")
    blocks = build_course_tree(sections=2, subsections=2, units=1)
    publish_course(COURSE, blocks)
    block = "block-v1:OpenedX+DemoX+2026+type@problem+block@s2ss1u1problem"
    ObjectTag.objects.create(object_id=block, taxonomy=taxonomy, tag=hard, _value="Hard", _export_id="difficulty")

    [course] = current("course_overviews")
    assert course["org"] == "OpenedX" and course["display_name"] == "Demo Course"
    assert course["course_start"] == "2026-01-05 09:00:00.000000+00:00"  # no microseconds in the source
    assert course["enrollment_start"] == "" and course["self_paced"] is False
    data = json.loads(course["course_data_json"])
    assert data["lowest_passing_grade"] is None and data["language"] == "en"

    rows = current("course_blocks", order="`order`")
    assert len(rows) == 1 + 2 + 4 + 4 + 8 + 1  # course, chapters, sequentials, units, leaves, detached about
    assert [r["order"] for r in rows] == list(range(1, len(rows) + 1))
    by_location = {r["location"]: json.loads(r["xblock_data_json"]) for r in rows}
    tagged = by_location[block]
    assert (tagged["section"], tagged["subsection"], tagged["unit"]) == (2, 1, 1)
    assert tagged["graded"] == 0 and tagged["tags"] == [hard.id, parent.id]  # tagging a block refreshed its course
    about = by_location["block-v1:OpenedX+DemoX+2026+type@about+block@about"]
    assert about["detached"] == 1 and (about["section"], about["subsection"], about["unit"]) == (0, 0, 0)
    graded_problem = by_location["block-v1:OpenedX+DemoX+2026+type@problem+block@s1ss2u1problem"]
    assert graded_problem["graded"] == 1 and graded_problem["completion_mode"] == "completable"

    # Republish without section 2: its blocks disappear from the current view.
    publish_course(COURSE, build_course_tree(sections=1, subsections=2, units=1))
    locations = {r["location"] for r in current("course_blocks")}
    assert block not in locations and len(locations) == 1 + 1 + 2 + 2 + 4 + 1
    overview.delete()
    assert current("course_overviews") == [] and current("course_blocks") == []


def test_ccx_courses_follow_their_master_course():
    master = make_course()
    coach = make_user("coach")
    ccx = CustomCourseForEdX.objects.create(course_id=master.id, display_name="CCX", coach=coach)
    make_course(str(ccx.locator), display_name="Coach's run")
    publish_course(COURSE, build_course_tree(sections=1, subsections=1, units=1))
    names = {r["course_key"]: r["display_name"] for r in current("course_overviews")}
    assert names == {COURSE: "Demo Course", str(ccx.locator): "Coach's run"}


def test_grades_from_events_with_null_passed_timestamp():
    user = make_user("kim")
    overview = make_course()
    grade = PersistentCourseGrade.objects.create(user_id=user.id, course_id=overview.id, percent_grade=0.42,
                                                 letter_grade="", grading_policy_hash="abc", course_version="v1")
    PERSISTENT_GRADE_SUMMARY_CHANGED.send_event(grade=PersistentCourseGradeData(
        user_id=user.id, course=CourseData(course_key=overview.id), course_edited_timestamp=datetime.now(timezone.utc),
        course_version="v1", grading_policy_hash="abc", percent_grade=0.42, letter_grade="", passed_timestamp=None))
    [row] = current("course_grades")
    assert row["percent_grade"] == 0.42 and row["is_passing"] is False and row["passed_timestamp"] == ""
    assert row["org"] == "OpenedX" and row["user_id"] == user.id
    grade.percent_grade, grade.letter_grade = 0.9, "Pass"
    grade.passed_timestamp = datetime(2026, 3, 1, tzinfo=timezone.utc)
    grade.save()
    PERSISTENT_GRADE_SUMMARY_CHANGED.send_event(grade=PersistentCourseGradeData(
        user_id=user.id, course=CourseData(course_key=overview.id), course_edited_timestamp=datetime.now(timezone.utc),
        course_version="v1", grading_policy_hash="abc", percent_grade=0.9, letter_grade="Pass",
        passed_timestamp=grade.passed_timestamp))
    assert current("course_grades", columns="percent_grade, letter_grade, is_passing, passed_timestamp") == [
        {"percent_grade": 0.9, "letter_grade": "Pass", "is_passing": True,
         "passed_timestamp": "2026-03-01 00:00:00.000000+00:00"}]


def test_taxonomy_tag_and_object_tag_rows_and_deletes():
    taxonomy = Taxonomy.objects.create(name="Subjects")
    root = Tag.objects.create(taxonomy=taxonomy, value="Science")
    leaf = Tag.objects.create(taxonomy=taxonomy, parent=root, value="Physics", external_id="phy")
    object_tag = ObjectTag.objects.create(object_id=COURSE, taxonomy=taxonomy, tag=leaf, _value="Physics",
                                          _export_id="subjects")
    assert current("taxonomy", columns="id, name") == [{"id": taxonomy.id, "name": "Subjects"}]
    tags = current("tag", columns="id, taxonomy, parent, value, external_id, lineage", order="id")
    assert tags == [
        {"id": root.id, "taxonomy": taxonomy.id, "parent": None, "value": "Science", "external_id": "",
         "lineage": '["Science"]'},
        {"id": leaf.id, "taxonomy": taxonomy.id, "parent": root.id, "value": "Physics", "external_id": "phy",
         "lineage": '["Science", "Physics"]'},
    ]
    assert current("object_tag", columns="object_id, tag, lineage") == [
        {"object_id": COURSE, "tag": leaf.id, "lineage": '["Science", "Physics"]'}]
    object_tag.delete()
    assert current("object_tag") == []


def test_username_and_email_change_refresh_every_table_that_holds_them():
    user = make_user("old_name")
    CourseEnrollment.enroll(user, COURSE)
    user.username, user.email = "new_name", "new@example.com"
    user.save()
    assert current("user_profile", columns="username, email") == [{"username": "new_name", "email": "new@example.com"}]
    assert current("course_enrollment", columns="username") == [{"username": "new_name"}]


def test_login_save_does_not_queue_anything():
    user = make_user("frequent")
    OutboxEntry.objects.all().delete()
    user.last_login = datetime.now(timezone.utc)
    user.save(update_fields=["last_login"])
    User.objects.get(pk=user.pk).save()  # a full save without a change
    assert OutboxEntry.objects.count() == 0


def test_retirement_purges_pii_everywhere():
    keep, retire = make_user("keeper"), make_user("leaver")
    xapi = ExternalIdType.objects.create(name="xapi")
    for user in (keep, retire):
        ExternalId.objects.create(user=user, external_id_type=xapi)
        CourseEnrollment.enroll(user, COURSE)
    import uuid  # pylint: disable=import-outside-toplevel

    from platform_plugin_aspects.clickhouse import get_clickhouse  # pylint: disable=import-outside-toplevel

    get_clickhouse().insert("tracking_events", [[uuid.uuid4(), retire.id, "leaver", "10.0.0.9", "e1"],
                                                [uuid.uuid4(), keep.id, "keeper", "10.0.0.1", "e2"]],
                            ["event_id", "user_id", "username", "ip", "event_type"])
    USER_RETIRE_LMS_MISC.send(sender=None, user=retire)
    assert current("tracking_events", columns="user_id, username, ip", order="user_id") == [
        {"user_id": keep.id, "username": "keeper", "ip": "10.0.0.1"}, {"user_id": retire.id, "username": "", "ip": ""}]
    assert [r["user_id"] for r in current("user_profile")] == [keep.id]
    assert [r["user_id"] for r in current("external_id")] == [keep.id]
    assert {r["user_id"]: r["username"] for r in current("course_enrollment")} == {keep.id: "keeper", retire.id: ""}


def test_disabled_sink_costs_no_outbox_row_and_no_task(settings):
    settings.EVENT_SINK_CLICKHOUSE_USER_PROFILE_ENABLED = False
    settings.EVENT_SINK_CLICKHOUSE_COURSE_ENROLLMENT_ENABLED = False
    OutboxEntry.objects.all().delete()
    user = make_user("quiet")
    CourseEnrollment.enroll(user, COURSE)
    assert OutboxEntry.objects.count() == 0
    assert current("user_profile") == [] and current("course_enrollment") == []


def test_waffle_flag_enables_a_sink(settings):
    from waffle.models import Flag  # pylint: disable=import-outside-toplevel

    settings.EVENT_SINK_CLICKHOUSE_TAXONOMY_ENABLED = False
    Taxonomy.objects.create(name="off")
    assert current("taxonomy") == []
    Flag.objects.create(name="event_sink_clickhouse.taxonomy.enabled", everyone=True)
    Taxonomy.objects.create(name="on")
    assert [r["name"] for r in current("taxonomy")] == ["on"]


def test_bad_row_is_kept_with_reason_and_does_not_poison_its_batch(huge_tag_ids):
    taxonomy = Taxonomy.objects.create(name="Big")
    with transaction.atomic():
        good = Tag.objects.create(taxonomy=taxonomy, value="fits")
        Tag.objects.create(id=2**40, taxonomy=taxonomy, value="too big for Int32")
    assert [r["value"] for r in current("tag")] == ["fits"]
    [failed] = OutboxEntry.objects.filter(failed=True)
    assert failed.object_key == str(2**40) and "'id' (Int32)" in failed.last_error
    assert good.id != 2**40


def test_redelivery_never_double_counts():
    user = make_user("twice")
    CourseEnrollment.enroll(user, COURSE)
    from platform_plugin_aspects.delivery.flusher import drain  # pylint: disable=import-outside-toplevel
    from platform_plugin_aspects.delivery.outbox import record_change  # pylint: disable=import-outside-toplevel

    for _ in range(3):
        record_change("course_enrollment", f"{user.id}:{COURSE}")
    drain(ignore_schedule=True)
    assert len(current("course_enrollment")) == 1
    assert len(current("user_profile")) == 1
    assert UserProfile.objects.count() == 1 and CourseOverview.objects.count() == 0


def test_publish_before_the_overview_exists_is_retried_not_dropped():
    publish_course(COURSE, build_course_tree(sections=1, subsections=1, units=1))  # no CourseOverview yet
    [entry] = OutboxEntry.objects.filter(sink="course_overviews")
    assert entry.attempts == 1 and entry.last_error == "object not found yet"
    assert current("course_overviews") == []
    make_course()  # the platform builds the overview (its save is a trigger too)
    from platform_plugin_aspects.delivery.flusher import drain  # pylint: disable=import-outside-toplevel

    drain(ignore_schedule=True)
    assert [r["course_key"] for r in current("course_overviews")] == [COURSE]
    assert OutboxEntry.objects.count() == 0


def test_openedx_events_for_blocks_and_deleted_course():
    from opaque_keys.edx.keys import UsageKey  # pylint: disable=import-outside-toplevel
    from openedx_events.content_authoring.data import XBlockData  # pylint: disable=import-outside-toplevel
    from openedx_events.content_authoring.signals import XBLOCK_PUBLISHED  # pylint: disable=import-outside-toplevel

    from tests.lms.modulestore.api import COURSE_DELETED  # pylint: disable=import-outside-toplevel

    overview = make_course()
    publish_course(COURSE, build_course_tree(sections=1, subsections=1, units=1), send_signal=False)
    assert current("course_blocks") == []  # the overview save above delivered before the tree existed
    usage_key = UsageKey.from_string("block-v1:OpenedX+DemoX+2026+type@problem+block@s1ss1u1problem")
    XBLOCK_PUBLISHED.send_event(xblock_info=XBlockData(usage_key=usage_key, block_type="problem"))
    assert str(usage_key) in {r["location"] for r in current("course_blocks")}
    COURSE_DELETED.send(sender=None, course_key=overview.id)
    assert current("course_overviews") == [] and current("course_blocks") == []


def test_deletes_of_taxonomy_tag_and_grade():
    taxonomy = Taxonomy.objects.create(name="gone soon")
    tag = Tag.objects.create(taxonomy=taxonomy, value="x")
    user = make_user("gradee")
    grade = PersistentCourseGrade.objects.create(user_id=user.id, course_id=COURSE, percent_grade=0.5,
                                                 letter_grade="", grading_policy_hash="h")
    PERSISTENT_GRADE_SUMMARY_CHANGED.send_event(grade=PersistentCourseGradeData(
        user_id=user.id, course=CourseData(course_key=grade.course_id), course_edited_timestamp=None,
        course_version="", grading_policy_hash="h", percent_grade=0.5, letter_grade="", passed_timestamp=None))
    assert len(current("tag")) == 1 and len(current("course_grades")) == 1
    tag.delete()
    taxonomy.delete()
    grade.delete()
    assert current("tag") == [] and current("taxonomy") == [] and current("course_grades") == []


def test_malformed_event_is_logged_and_changes_nothing(caplog):
    from openedx_events.learning.signals import COURSE_ENROLLMENT_CREATED  # pylint: disable=import-outside-toplevel

    from platform_plugin_aspects.signals import EVENT_RECEIVERS, _event_receiver  # pylint: disable=import-outside-toplevel

    receiver = _event_receiver(*EVENT_RECEIVERS["learning.COURSE_ENROLLMENT_CREATED"])
    receiver(signal=COURSE_ENROLLMENT_CREATED, enrollment=None)
    assert "ignoring malformed" in caplog.text and OutboxEntry.objects.count() == 0


def test_huge_and_odd_values_round_trip():
    user = make_user("huge")
    profile = user.profile
    profile.goals = "🎯" * 200_000 + "\x00\u2028end"
    profile.mailing_address = None
    profile.save()
    [row] = current("user_profile", columns="goals, mailing_address")
    assert row["goals"] == profile.goals and row["mailing_address"] == ""

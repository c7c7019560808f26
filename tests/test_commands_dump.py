"""
``dump_data_to_clickhouse`` against the real ClickHouse: every option, resume, refusals.

Data is created while the sinks are off (so live delivery writes nothing), then the sinks are
switched on and the backfill runs; assertions read the rows back from ClickHouse.
"""

import io
import json
from datetime import datetime, timezone

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from opaque_keys.edx.keys import CourseKey

from platform_plugin_aspects import backfill
from platform_plugin_aspects.clickhouse import get_clickhouse
from platform_plugin_aspects.clickhouse.migrate import MigrationRunner
from platform_plugin_aspects.models import OutboxEntry
from platform_plugin_aspects.progress import Progress
from platform_plugin_aspects.sinks import get_sink
from tests.lms.course_overviews.models import CourseOverview
from tests.lms.external_user_ids.models import ExternalId, ExternalIdType
from tests.lms.grades.models import PersistentCourseGrade
from tests.lms.modulestore.api import build_course_tree, publish_course
from tests.lms.student.models import CourseEnrollment
from tests.lms.tagging.models import ObjectTag, Tag, Taxonomy

from .factories import make_course, make_user, rewind_ids
from .sink_helpers import current, enable_all

pytestmark = pytest.mark.django_db(transaction=True)
COURSE = "course-v1:OpenedX+DemoX+2026"


def dump(*args):
    """Run the command; returns (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("dump_data_to_clickhouse", *args, "--sleep_time", "0", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def physical(table, where="1", params=None):
    """Every stored row, before ReplacingMergeTree collapses versions: shows duplicates."""
    clickhouse = get_clickhouse()
    return clickhouse.query(f"SELECT count() FROM {clickhouse.qualified(table)} WHERE {where}", params or {})[0][0]


def make_enrollments(count):
    """``count`` enrollments of ``count`` users (created directly: no signal, no outbox)."""
    users = User.objects.bulk_create([User(username=f"bulk{n}", email=f"bulk{n}@example.com") for n in range(count)])
    return [CourseEnrollment.objects.create(user=user, course_id=CourseKey.from_string(COURSE), mode="audit")
            for user in users]


def enrollment_ids():
    return [row["id"] for row in current("course_enrollment", columns="id", order="id")]


@pytest.fixture
def sinks_on(settings, clickhouse):
    """Switch every sink on (after the test created its data with them off)."""
    def switch():
        enable_all(settings)
        return clickhouse
    return switch


def test_all_dumps_every_enabled_object_with_live_rows(sinks_on):
    course = make_course(COURSE, display_name="Démo")
    publish_course(COURSE, build_course_tree(sections=2, subsections=1, units=1), send_signal=False)
    ada = make_user("ada", email="ada@example.com", name="Ada L")
    enrollment = CourseEnrollment.objects.create(user=ada, course_id=course.id, mode="verified")
    xapi = ExternalIdType.objects.create(name="xapi")
    external = ExternalId.objects.create(user=ada, external_id_type=xapi)
    taxonomy = Taxonomy.objects.create(name="Topics")
    tag = Tag.objects.create(taxonomy=taxonomy, value="Math")
    ObjectTag.objects.create(object_id=COURSE, taxonomy=taxonomy, tag=tag, _value="Math", _export_id="topics")
    PersistentCourseGrade.objects.create(user_id=ada.id, course_id=course.id, percent_grade=0.75, letter_grade="B",
                                         grading_policy_hash="h")
    sinks_on()

    out, err = dump("--all")

    [overview] = current("course_overviews")
    assert overview["course_key"] == COURSE and overview["display_name"] == "Démo"
    assert json.loads(overview["course_data_json"])["tags"] == [tag.id]
    blocks = current("course_blocks", columns="location, order", order="order")
    assert len(blocks) == 1 + 2 * (1 + 1 + 1 + 2) + 1  # course, 2 x (section, subsection, unit, problem, video), about
    [row] = current("course_enrollment")
    assert (row["id"], row["user_id"], row["mode"], row["username"]) == (enrollment.id, ada.id, "verified", "ada")
    [profile] = current("user_profile")
    assert (profile["user_id"], profile["name"], profile["email"]) == (ada.id, "Ada L", "ada@example.com")
    assert current("external_id", columns="toString(external_user_id) AS u") == [{"u": str(external.external_user_id)}]
    assert current("taxonomy", columns="name") == [{"name": "Topics"}]
    assert current("tag", columns="value, lineage") == [{"value": "Math", "lineage": '["Math"]'}]
    assert current("object_tag", columns="object_id") == [{"object_id": COURSE}]
    assert current("course_grades", columns="course_key, org, percent_grade, letter_grade") == [
        {"course_key": COURSE, "org": "OpenedX", "percent_grade": 0.75, "letter_grade": "B"}]
    # Courses first, users last, each with a summary; progress on stderr.
    names = [line.split(":")[0] for line in out.splitlines() if "dumped" in line]
    assert names[0] == "course_overviews" and names.index("course_enrollment") < names.index("user_profile")
    assert "ETA" in err and "/s" in err
    assert not OutboxEntry.objects.exists()


def test_limit_is_exact_and_a_rerun_resumes_without_gaps_or_duplicates(sinks_on):
    enrollments = make_enrollments(20)
    sinks_on()

    out, _ = dump("--object", "course_enrollment", "--limit", "7", "--batch_size", "3")
    assert enrollment_ids() == [e.id for e in enrollments[:7]]
    assert "stopped after pk" in out

    out, _ = dump("--object", "course_enrollment", "--batch_size", "3")
    assert f"resumed after pk {enrollments[6].id}" in out and "dumped 13 objects" in out
    assert enrollment_ids() == [e.id for e in enrollments]
    assert physical("course_enrollment") == 20  # every object written exactly once


def test_an_interrupted_dump_resumes_after_the_last_written_page(sinks_on, monkeypatch):
    enrollments = make_enrollments(11)
    sinks_on()
    real_write, calls = backfill.write_batch, []

    def write_then_interrupt(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C (or a killed pod) during the third page
        calls.append(1)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(backfill, "write_batch", write_then_interrupt)
    with pytest.raises(SystemExit) as exited:
        dump("--object", "course_enrollment", "--batch_size", "3")
    assert exited.value.code == 130
    assert enrollment_ids() == [e.id for e in enrollments[:6]]

    monkeypatch.setattr(backfill, "write_batch", real_write)
    out, _ = dump("--object", "course_enrollment", "--batch_size", "3")
    assert "dumped 5 objects" in out and "complete" in out
    assert enrollment_ids() == [e.id for e in enrollments]
    assert physical("course_enrollment") == 11

    # A finished pass leaves a finished checkpoint: the next run is a fresh, full pass.
    out, _ = dump("--object", "course_enrollment")
    assert "resumed" not in out and "dumped 11 objects" in out


def test_restart_ignores_the_checkpoint(sinks_on):
    make_enrollments(5)
    sinks_on()
    dump("--object", "course_enrollment", "--limit", "2")
    out, _ = dump("--object", "course_enrollment", "--restart")
    assert "resumed" not in out and "dumped 5 objects" in out
    assert len(enrollment_ids()) == 5


def test_start_pk_ids_and_ids_to_skip_with_integer_keys(sinks_on):
    enrollments = make_enrollments(6)
    ids = [e.id for e in enrollments]
    sinks_on()
    dump("--object", "course_enrollment", "--start_pk", str(ids[3]))
    assert enrollment_ids() == ids[4:]
    dump("--object", "course_enrollment", "--ids", str(ids[0]), f"{ids[1]},{ids[2]}", "--ids_to_skip", str(ids[1]))
    assert enrollment_ids() == [ids[0], ids[2]] + ids[4:]


def test_start_pk_ids_and_ids_to_skip_with_course_keys(sinks_on):
    keys = [f"course-v1:Org+C{n}+2026" for n in range(1, 5)]
    for key in keys:
        make_course(key)
    sinks_on()
    dump("--object", "course_overviews", "--start_pk", keys[1])
    assert [r["course_key"] for r in current("course_overviews", columns="course_key")] == keys[2:]
    dump("--object", "course_overviews", "--ids", keys[0], keys[1], "--ids_to_skip", keys[1])
    assert [r["course_key"] for r in current("course_overviews", columns="course_key")] == [keys[0]] + keys[2:]


def test_bad_keys_are_clear_errors(sinks_on):
    sinks_on()
    with pytest.raises(CommandError, match="'abc' is not a valid CourseEnrollment primary key"):
        dump("--object", "course_enrollment", "--start_pk", "abc")
    with pytest.raises(CommandError, match="not a valid CourseOverview primary key"):
        dump("--object", "course_overviews", "--ids", "not-a-course")


def test_courses_already_up_to_date_are_skipped_unless_force(sinks_on):
    a = make_course("course-v1:Org+A+2026")
    make_course("course-v1:Org+B+2026")
    sinks_on()
    out, _ = dump("--object", "course_overviews")
    assert "dumped 2 objects" in out and physical("course_overviews") == 2

    out, _ = dump("--object", "course_overviews")
    assert "dumped 0 objects" in out and "2 already up to date" in out and physical("course_overviews") == 2

    CourseOverview.objects.filter(pk=a.pk).update(modified=datetime(2030, 1, 1, tzinfo=timezone.utc))
    out, _ = dump("--object", "course_overviews")
    assert "dumped 1 objects" in out and "1 already up to date" in out
    assert current("course_overviews", "course_key = {k:String}", {"k": str(a.id)},
                   columns="modified") == [{"modified": "2030-01-01 00:00:00.000000+00:00"}]

    out, _ = dump("--object", "course_overviews", "--force")
    assert "dumped 2 objects" in out and physical("course_overviews") == 5


def test_null_passing_grade_and_zero_microsecond_modified_dump_fine(sinks_on):
    make_course("course-v1:Org+NoGrade+2026", lowest_passing_grade=None)
    whole_second = make_course("course-v1:Org+Whole+2026")
    CourseOverview.objects.filter(pk=whole_second.pk).update(
        modified=datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc))
    sinks_on()
    dump("--object", "course_overviews")
    rows = {r["course_key"]: r for r in current("course_overviews")}
    assert json.loads(rows["course-v1:Org+NoGrade+2026"]["course_data_json"])["lowest_passing_grade"] is None
    assert rows["course-v1:Org+Whole+2026"]["modified"] == "2026-03-01 12:00:00.000000+00:00"
    out, _ = dump("--object", "course_overviews")  # the up-to-date check parses both forms
    assert "2 already up to date" in out


def test_dry_run_writes_nothing(sinks_on):
    make_enrollments(4)
    sinks_on()
    out, _ = dump("--object", "course_enrollment", "--dry_run")
    assert "[dry run] course_enrollment: dumped 4 objects" in out and "nothing was written" in out
    assert physical("course_enrollment") == 0 and physical("backfill_checkpoints") == 0


def test_refusals_write_nothing(settings, clickhouse):
    make_user("ada")
    with pytest.raises(CommandError, match="auth_user cannot be dumped.*Nothing was written"):
        dump("--object", "auth_user")
    with pytest.raises(CommandError, match="user_profile copies personal data and its sink is off"):
        dump("--object", "user_profile")
    with pytest.raises(CommandError, match="Unknown object 'users'. Valid objects: .*course_enrollment"):
        dump("--object", "users")
    with pytest.raises(CommandError, match="exactly one of --object NAME or --all"):
        dump()
    with pytest.raises(CommandError, match="exactly one of"):
        dump("--all", "--object", "tag")
    with pytest.raises(CommandError, match="must be at least 1"):
        dump("--object", "tag", "--limit", "0")
    with pytest.raises(CommandError, match="must not be negative"):
        call_command("dump_data_to_clickhouse", "--object", "tag", "--sleep_time", "-1")
    assert physical("user_profile") == 0


def test_all_skips_disabled_objects(settings, clickhouse):
    make_user("ada")
    settings.EVENT_SINK_CLICKHOUSE_COURSE_ENROLLMENT_ENABLED = True
    out, _ = dump("--all")
    assert "course_enrollment: dumped 0 objects" in out and "user_profile" not in out
    assert physical("user_profile") == 0


@pytest.fixture
def taxonomy_id_counter_rewound():
    """Tests that create ids beyond Int32 put the auto-increment counter back afterwards."""
    yield
    rewind_ids(Taxonomy)


def test_rejected_rows_are_reported_and_kept_while_the_rest_lands(sinks_on, taxonomy_id_counter_rewound):
    good = Taxonomy.objects.create(name="fine")
    Taxonomy.objects.create(id=2**40, name="too big for Int32")
    sinks_on()
    _, err = dump("--object", "taxonomy")
    assert current("taxonomy", columns="id") == [{"id": good.id}]
    assert "1 objects were rejected" in err
    [kept] = OutboxEntry.objects.filter(failed=True)
    assert kept.sink == "taxonomy" and kept.object_key == str(2**40) and "'id' (Int32)" in kept.last_error


def test_connection_overrides_choose_the_server_and_database(sinks_on):
    make_enrollments(2)
    sinks_on()
    with pytest.raises(CommandError, match="database 'no_such_db'"):
        dump("--object", "course_enrollment", "--database", "no_such_db")
    alt = get_clickhouse({"database": "test_commands_alt"})
    MigrationRunner(alt).run()
    try:
        dump("--object", "course_enrollment", "--database", "test_commands_alt", "--timeout_secs", "3")
        assert alt.query("SELECT count() FROM test_commands_alt.course_enrollment")[0][0] == 2
        assert physical("course_enrollment") == 0
    finally:
        alt.command("DROP DATABASE test_commands_alt")


def test_backfill_demo_dumps_everything_enabled_and_reports_counts(sinks_on):
    from tests.lms.demo.backfill_demo import run_backfill_demo  # pylint: disable=import-outside-toplevel

    make_course(COURSE)
    publish_course(COURSE, build_course_tree(sections=1, subsections=1, units=1), send_signal=False)
    make_enrollments(3)
    sinks_on()
    out, err = io.StringIO(), io.StringIO()
    counts = run_backfill_demo(out, err)
    assert counts["course_overviews"] == 1 and counts["course_blocks"] == 7 and counts["course_enrollment"] == 3
    assert counts["user_profile"] == 0  # bulk users have no profile
    assert "course_enrollment: dumped 3 objects" in out.getvalue() and "ETA" in err.getvalue()


def test_progress_is_a_redrawn_bar_on_a_terminal_and_plain_lines_otherwise():
    clock = iter([0.0, 2.0, 4.0, 10.0, 10.0]).__next__
    lines = []
    bar = Progress(lambda text, ending="\n": lines.append(text + ending), "tag", 100, tty=True, clock=clock)
    bar.advance(20)  # 20 objects in 2 s: 10/s, 80 left
    bar.advance(20)
    bar.finish()
    assert lines[0].startswith("\rtag [####----------------]  20%  20/100  10/s  ETA 0:00:08")
    assert lines[-1].endswith("\n") and "40/100" in lines[-1]

    clock = iter([0.0, 1.0, 2.0, 7.0, 8.0]).__next__
    lines = []
    plain = Progress(lambda text, ending="\n": lines.append(text + ending), "tag", 4, tty=False,
                              clock=clock)
    for _ in range(3):
        plain.advance(1)  # shown at 1 s, not at 2 s, again at 7 s (every 5 s)
    plain.finish()
    shown = [line for line in lines if "[" in line]
    assert len(shown) == 3 and "1/4" in shown[0] and "3/4" in shown[1] and "3/4" in shown[2]
    assert all("\r" not in line and line.endswith("\n") for line in shown)

    # load_tracking_log's use: bytes shown in MB, with its lines per second.
    clock = iter([0.0, 2.0]).__next__
    lines = []
    loading = Progress(lambda text, ending="\n": lines.append(text + ending), "tracking logs", 40e6, tty=False,
                       clock=clock, unit=" MB", scale=1e6, extra=lambda elapsed: f"{5000 / elapsed:,.0f} lines/s")
    loading.update(10e6)
    assert lines == ["tracking logs [#####---------------]  25%  10.0/40.0 MB  5.0 MB/s  2,500 lines/s  ETA 0:00:06\n"]


@pytest.mark.parametrize("name", ["course_enrollment", "course_grade", "user_profile", "external_id"])
def test_records_build_the_same_rows_as_model_instances(name, settings):
    """Backfill and live flushes read plain records for these sinks; every row must equal the instance's row."""
    enable_all(settings)
    settings.ASPECTS_ENABLE_PII = True  # usernames in course_enrollment too
    course = make_course(COURSE)
    ada = make_user("ådä", email="ada+x@example.com", name="Ada \"Lovelace\"\nÑ", year_of_birth=None, country="NG",
                    profile_image_uploaded_at=datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc))
    CourseEnrollment.objects.create(user=ada, course_id=course.id, mode="verified")
    ExternalId.objects.create(user=ada, external_id_type=ExternalIdType.objects.create(name="xapi"))
    PersistentCourseGrade.objects.create(user_id=ada.id, course_id=course.id, percent_grade=0.0, letter_grade="",
                                         grading_policy_hash="h")
    sink = get_sink(name)
    run = backfill.Backfill(sink, get_clickhouse())
    assert run.records is not None
    records = run.read_page(run.queryset())
    instances = list(sink.queryset().order_by("pk"))
    assert records and len(records) == len(instances)
    options = sink.row_options()
    for record, instance in zip(records, instances):
        assert sink.object_key(record) == sink.object_key(instance)
        assert sink.row(record, **options) == sink.row(instance, **options)
    loaded = sink.load([sink.object_key(instance) for instance in instances])  # what a live flush reads
    assert sorted(loaded) == sorted(sink.object_key(instance) for instance in instances)
    for instance in instances:
        record = loaded[sink.object_key(instance)]
        assert not isinstance(record, sink.model())
        assert sink.row(record, **options) == sink.row(instance, **options)

"""
``manage.py aspects_demo``: a demo course with a few hundred learners in the stand-in LMS, sent to
ClickHouse by the plugin's own pipeline (receivers → outbox → a real Celery worker → ClickHouse),
then live changes timed from commit to queryable, then a report computed in ClickHouse SQL.
"""

import random
import time
from datetime import datetime, timezone

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction
from openedx_events.learning.data import CourseData, PersistentCourseGradeData
from openedx_events.learning.signals import PERSISTENT_GRADE_SUMMARY_CHANGED
from waffle.models import Flag

from platform_plugin_aspects.clickhouse import get_clickhouse
from platform_plugin_aspects.models import OutboxEntry
from platform_plugin_aspects.sinks import all_sinks
from platform_plugin_aspects.waffle import sink_flag_name
from tests.celery_worker import real_worker
from tests.lms.course_overviews.models import CourseOverview
from tests.lms.demo.analytics_demo import run_analytics_demo
from tests.lms.demo.backfill_demo import run_backfill_demo
from tests.lms.demo.digest_demo import run_digest_demo
from tests.lms.demo.tracking_demo import run_tracking_demo
from tests.lms.external_user_ids.models import ExternalId, ExternalIdType
from tests.lms.grades.models import PersistentCourseGrade
from tests.lms.modulestore.api import build_course_tree, publish_course
from tests.lms.student.models import CourseEnrollment, UserProfile
from tests.lms.tagging.models import ObjectTag, Tag, Taxonomy
from tests.waiting import wait_for

COURSE = "course-v1:OpenedX+AspectsDemo+2026"
COUNTRIES = ["US", "IN", "BR", "FR", "NG", "DE", "MX", "JP", "EG", "ES"]
NAMES = ["Ada", "Zoë", "Ngozi", "Hiroshi", "Sofía", "Ravi", "Amélie", "Li Wei", "Omar", "Björn"]


def wait_until(condition, timeout=30.0):
    """Poll ``condition`` until truthy; returns seconds waited (or None on timeout)."""
    started = time.monotonic()
    return time.monotonic() - started if wait_for(condition, timeout, interval=0.01) else None


class Command(BaseCommand):
    help = "Build a demo course with learners in the stand-in LMS, stream it to ClickHouse, print what landed."

    def add_arguments(self, parser):
        parser.add_argument("--learners", type=int, default=300, help="number of demo learners")

    def handle(self, *args, **options):
        random.seed(2026)
        clickhouse = get_clickhouse()
        self.stdout.write(f"ClickHouse {clickhouse.config.url}, database {clickhouse.database}")
        # 1. An LMS that existed before the plugin: data created while every sink is off.
        Flag.objects.filter(name__in=[sink_flag_name(sink.name) for sink in all_sinks()]).delete()
        started = time.monotonic()
        self.build_course()
        self.build_learners(options["learners"])
        self.stdout.write(f"Stand-in LMS: 1 course, {options['learners']} learners "
                          f"({time.monotonic() - started:.1f}s); sinks off, so nothing was queued "
                          f"(outbox: {OutboxEntry.objects.count()}).\n")

        # 2. The operator switches the sinks on and backfills.
        for sink in all_sinks():
            Flag.objects.update_or_create(name=sink_flag_name(sink.name), defaults={"everyone": True})
        self.stdout.write("Sinks switched on with their waffle flags (event_sink_clickhouse.<model>.enabled).")
        run_backfill_demo(self.stdout)

        # 3. Live: receivers → outbox → a real Celery worker → ClickHouse.
        with real_worker():
            self.stdout.write("\nA real Celery worker (Redis broker) now delivers the outbox.")
            self.live_changes(clickhouse)
        self.report(clickhouse)
        self.stdout.write("\nTracking-log events (live backend), joined with enrollments and grades:")
        active = User.objects.filter(courseenrollment__course_id=COURSE, courseenrollment__is_active=True)
        run_tracking_demo(self.stdout, COURSE, list(active.order_by("id")[:100]))
        learners = User.objects.filter(courseenrollment__course_id=COURSE).order_by("id")
        run_analytics_demo(self.stdout, COURSE, [(u.id, u.username) for u in learners],
                           export_dir=settings.BASE_DIR / "var")
        run_digest_demo(self.stdout, COURSE, settings.BASE_DIR / "var")

    # -- the stand-in LMS ----------------------------------------------------------------
    def build_course(self):
        CourseOverview.objects.update_or_create(id=COURSE, defaults={
            "org": "OpenedX", "display_name": "Aspects Demo: Data Literacy 🌍",
            "start": datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc),
            "end": datetime(2026, 12, 18, tzinfo=timezone.utc),
            "enrollment_start": datetime(2025, 12, 1, tzinfo=timezone.utc), "lowest_passing_grade": "0.60",
            "language": "en", "effort": "4 hours/week",
        })
        taxonomy, _ = Taxonomy.objects.get_or_create(name="Difficulty")
        for value in ("Easy", "Hard"):
            Tag.objects.get_or_create(taxonomy=taxonomy, value=value)
        publish_course(COURSE, build_course_tree(sections=4, subsections=3, units=3))

    def build_learners(self, count):
        xapi, _ = ExternalIdType.objects.get_or_create(name="xapi", defaults={"description": "xAPI actor ids"})
        modes = ["audit"] * 6 + ["verified"] * 3 + ["honor"]
        for i in range(count):
            username = f"demo_learner_{i:03d}"
            if User.objects.filter(username=username).exists():
                continue
            with transaction.atomic():
                user = User.objects.create_user(username, f"{username}@example.com", "demo")
                UserProfile.objects.create(
                    user=user, name=f"{NAMES[i % len(NAMES)]} {i}", country=random.choice(COUNTRIES),
                    year_of_birth=random.randint(1960, 2008), gender=random.choice(["f", "m", "o", None]),
                    level_of_education=random.choice(["b", "m", "hs", "p", None]),
                )
                ExternalId.objects.create(user=user, external_id_type=xapi)
                enrollment = CourseEnrollment.enroll(user, COURSE, mode=random.choice(modes))
                if random.random() < 0.1:
                    enrollment.unenroll()
                self.grade(user, random.betavariate(4, 3))

    @staticmethod
    def grade(user, percent):
        passed = datetime.now(timezone.utc) if percent >= 0.6 else None
        PersistentCourseGrade.objects.update_or_create(user_id=user.id, course_id=COURSE, defaults={
            "percent_grade": round(percent, 3), "letter_grade": "Pass" if passed else "",
            "passed_timestamp": passed, "grading_policy_hash": "demo", "course_version": "v1"})
        transaction.on_commit(lambda: PERSISTENT_GRADE_SUMMARY_CHANGED.send_event(grade=PersistentCourseGradeData(
            user_id=user.id, course=CourseData(course_key=CourseOverview.objects.get(id=COURSE).id),
            course_edited_timestamp=datetime.now(timezone.utc), course_version="v1", grading_policy_hash="demo",
            percent_grade=round(percent, 3), letter_grade="Pass" if passed else "", passed_timestamp=passed)))

    # -- live changes, timed -----------------------------------------------------------------
    def live_changes(self, clickhouse):
        self.stdout.write("Live changes, a second apart (commit → queryable in ClickHouse):")
        stamp = int(time.time())
        user = User.objects.create_user(f"late_joiner_{stamp}", f"late{stamp}@example.com", "demo")
        UserProfile.objects.create(user=user, name="Late Joiner")
        # The worker's first flush (new connections, imports) is not what a live change costs.
        wait_until(lambda: clickhouse.query("SELECT count() FROM user_profile WHERE user_id = {u:Int32}",
                                            {"u": user.id})[0][0] > 0)

        def timed(label, change, query, params):
            # A learner's or author's actions are seconds apart. Back to back, each change would
            # wait for the previous insert's interval to pass (at most one insert per table per
            # ASPECTS_MIN_FLUSH_INTERVAL_SECS); benchmarks/live_delivery.py measures that case.
            time.sleep(settings.ASPECTS_MIN_FLUSH_INTERVAL_SECS)
            change()
            waited = wait_until(lambda: clickhouse.query(query, params)[0][0] > 0)
            shown = f"{waited * 1000:.0f} ms" if waited is not None else "not seen within 30 s"
            self.stdout.write(f"  {label:48} {shown}")

        key = {"u": user.id}
        timed("a learner enrolls (audit)", lambda: CourseEnrollment.enroll(user, COURSE, mode="audit"),
              "SELECT count() FROM course_enrollment FINAL WHERE user_id = {u:Int32}", key)
        timed("they upgrade to verified (mode-only change)",
              lambda: CourseEnrollment.objects.get(user=user, course_id=COURSE).change_mode("verified"),
              "SELECT count() FROM course_enrollment FINAL WHERE user_id = {u:Int32} AND mode = 'verified'", key)
        timed("their grade changes (openedx-event)", lambda: self.grade(user, 0.91),
              "SELECT count() FROM course_grades FINAL WHERE user_id = {u:Int32} AND is_passing", key)
        new_name = f"renamed_{stamp}"

        def rename():
            user.username = new_name
            user.save()

        timed("they change username (refreshes profile and ids)", rename,
              "SELECT count() FROM user_profile FINAL WHERE username = {n:String}", {"n": new_name})
        hard = Tag.objects.get(value="Hard")
        block = "block-v1:OpenedX+AspectsDemo+2026+type@problem+block@s4ss3u3problem"
        tagged = ("SELECT count() FROM course_blocks FINAL WHERE location = {b:String} AND has(JSONExtract("
                  "xblock_data_json, 'tags', 'Array(Int64)'), {t:Int64})")
        params = {"b": block, "t": hard.id}
        if ObjectTag.objects.filter(object_id=block, tag=hard).exists():  # a rerun: start untagged
            ObjectTag.objects.filter(object_id=block, tag=hard).delete()
            wait_until(lambda: clickhouse.query(tagged, params)[0][0] == 0)
        timed("an author tags a problem 'Hard' (course refresh)",
              lambda: ObjectTag.objects.create(object_id=block, tag=hard, taxonomy=hard.taxonomy, _value="Hard",
                                               _export_id="difficulty"),
              tagged, params)
        self.stdout.write("")

    # -- what landed ------------------------------------------------------------------------
    def report(self, clickhouse):
        self.stdout.write("Rows per table (current versions, FINAL):")
        for sink in all_sinks():
            if sink.table:
                count = clickhouse.query(f"SELECT count() FROM {sink.table} FINAL")[0][0]
                self.stdout.write(f"  {sink.table:20} {count:>6}")
        blocks = clickhouse.query("SELECT count() FROM course_blocks FINAL")[0][0]
        self.stdout.write(f"  {'course_blocks':20} {blocks:>6}")
        params = {"c": COURSE}
        name = clickhouse.query("SELECT display_name FROM course_overviews FINAL WHERE course_key = {c:String}", params)
        self.stdout.write(f"\nCourse figures for {COURSE} ({name[0][0] if name else '?'}), computed in ClickHouse:")
        for mode, active, total in clickhouse.query(
                "SELECT mode, countIf(is_active), count() FROM course_enrollment FINAL WHERE course_key = {c:String} "
                "GROUP BY mode ORDER BY mode", params):
            self.stdout.write(f"  enrollments {mode:9} {active:>4} active of {total}")
        avg, passing, learners = clickhouse.query(
            "SELECT round(avg(percent_grade), 3), countIf(is_passing), count() FROM course_grades FINAL "
            "WHERE course_key = {c:String}", params)[0]
        self.stdout.write(f"  grades: average {avg}, passing {passing} of {learners}")
        countries = clickhouse.query(
            "SELECT p.country, count() AS n FROM course_enrollment AS e FINAL "
            "INNER JOIN (SELECT user_id, country FROM user_profile FINAL) AS p USING (user_id) "
            "WHERE e.course_key = {c:String} AND e.is_active GROUP BY p.country ORDER BY n DESC LIMIT 3", params)
        self.stdout.write("  top countries of active learners: " + ", ".join(f"{c} ({n})" for c, n in countries))
        blocks = clickhouse.query(
            "SELECT JSONExtractString(xblock_data_json, 'block_type') AS t, count() FROM course_blocks FINAL "
            "WHERE course_key = {c:String} GROUP BY t ORDER BY t", params)
        self.stdout.write("  blocks: " + ", ".join(f"{t} {n}" for t, n in blocks))
        self.stdout.write(
            f"\nQuery it yourself:\n  curl '{clickhouse.config.url}/?user=default' --data-binary "
            f"\"SELECT mode, count() FROM {clickhouse.database}.course_enrollment FINAL GROUP BY mode\"\n"
            f"  (or open {clickhouse.config.url}/play)")

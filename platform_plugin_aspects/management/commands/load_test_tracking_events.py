"""``manage.py cms load_test_tracking_events``: generate enrollment churn at a chosen rate, recorded as a run."""

import json
import random
import time
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from ...clickhouse import ClickHouseError
from ...platform import course_key_from_text, get_model
from ..arguments import RawHelpMixin, non_negative_float, positive_int
from ..interrupt import ResumableCommand
from ..options import add_connection_arguments, clickhouse_for


def runs_table():
    """Where runs are recorded (EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG["runs_table"], default load_test_runs)."""
    return settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG.get("runs_table") or "load_test_runs"


def stats_table():
    """Where monitor samples go (EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG["stats_table"], default load_test_stats)."""
    return settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG.get("stats_table") or "load_test_stats"


def record_run_event(clickhouse, run_id, event_type, extra):
    """One 'start' or 'end' row for a run."""
    clickhouse.insert(runs_table(), [[run_id, timezone.now(), event_type, json.dumps(extra, sort_keys=True)]],
                      ["run_id", "timestamp", "event_type", "extra"])


class LoadTest:
    """One run: its own users, course and counters (nothing shared between runs or instances)."""

    def __init__(self, clickhouse, course_key, num_users, prefix, interval, tags, write):
        self.clickhouse, self.course_key, self.num_users = clickhouse, course_key, num_users
        self.prefix, self.interval, self.tags, self.write = prefix, interval, tags, write
        self.run_id = uuid.uuid4().hex
        self.user_model, self.profile_model = get_model("auth_user"), get_model("user_profile")
        self.enrollment_model = get_model("course_enrollment")
        self.users = []
        self.sent = 0
        self.random = random.Random()

    def create_users(self):
        """Learners ``<prefix><run>_<n>`` with profiles, through the platform's models."""
        for n in range(self.num_users):
            username = f"{self.prefix}{self.run_id[:8]}_{n}"
            user = self.user_model.objects.create_user(username=username, email=f"{username}@openedx.invalid",
                                                       password=None)
            if self.profile_model is not None:
                self.profile_model.objects.create(user=user, name=f"Load test {n}")
            self.users.append(user)

    def toggle(self, user):
        """Enroll the learner, or unenroll them if enrolled: one change, as a learner would make it."""
        enrollment = self.enrollment_model.objects.filter(user=user, course_id=self.course_key).first()
        if enrollment is None or not enrollment.is_active:
            self.enrollment_model.enroll(user, self.course_key, mode="audit")
        elif hasattr(enrollment, "update_enrollment"):  # edx-platform
            enrollment.update_enrollment(is_active=False)
        else:  # the stand-in LMS
            enrollment.unenroll()
        self.sent += 1

    def run(self, num_events, until_killed):
        """Record the start, create and enroll the users, churn, and always record the end."""
        record_run_event(self.clickhouse, self.run_id, "start", {
            "tags": self.tags, "course_id": str(self.course_key), "num_users": self.num_users,
            "username_prefix": self.prefix, "interval_secs": self.interval,
        })
        self.write(f"run {self.run_id}: course {self.course_key}, {self.num_users} users, "
                   f"one change every {self.interval}s")
        started = time.monotonic()
        try:
            self.create_users()
            for user in self.users:
                self.toggle(user)
            done, churn_started = 0, time.monotonic()
            while until_killed or done < num_events:
                # Paced against the churn's start, so the rate holds however long each change takes.
                delay = churn_started + done * self.interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.toggle(self.random.choice(self.users))
                done += 1
        finally:  # also on Ctrl-C: the run's end is recorded, then ResumableCommand says so
            elapsed = time.monotonic() - started
            record_run_event(self.clickhouse, self.run_id, "end",
                             {"sent_event_count": self.sent, "duration_secs": round(elapsed, 3)})
            self.write(f"run {self.run_id}: {self.sent} enrollment changes in {elapsed:.1f}s "
                       f"({self.sent / elapsed if elapsed else 0:.1f}/s)")


class Command(ResumableCommand, RawHelpMixin, BaseCommand):
    resume_hint = "the run's end is recorded in load_test_runs: run manage.py {name} again to start a new run"

    help = (
        "Generate learner activity to load-test the pipeline: create users, enroll them in a course, then "
        "enroll/unenroll random learners at a chosen rate. Every change goes through the platform's models "
        "(CourseEnrollment.enroll / update_enrollment), so it fires the same signals and tracking events as a "
        "real learner. The run is recorded in ClickHouse (load_test_runs: a 'start' and an 'end' row); watch "
        "it with monitor_load_test_tracking in another shell.\n\n"
        "On a real platform, pass --course_key of an existing test course (creating a course needs Studio); "
        "without it a course overview is created, which is enough for the stand-in LMS.\n\n"
        "Examples:\n"
        "  manage.py cms load_test_tracking_events --num_users 100 --num_events 5000 --rate 50\n"
        "  manage.py cms load_test_tracking_events --course_key course-v1:Test+Load+2026 --run_until_killed\n"
        "  manage.py cms load_test_tracking_events --tags celery redis 2-workers --sleep_time 0.1\n"
    )

    def add_arguments(self, parser):
        parser.add_argument("--num_users", type=positive_int, default=10, help="learners to create (default 10)")
        parser.add_argument("--username_prefix", default="lt_", help="prefix of their usernames (default lt_)")
        parser.add_argument("--num_events", type=int, default=10,
                            help="enroll/unenroll changes after the initial enrollments (default 10)")
        parser.add_argument("--run_until_killed", action="store_true", help="keep going until Ctrl-C")
        parser.add_argument("--sleep_time", type=non_negative_float, default=0.75,
                            help="seconds between changes (default 0.75)")
        parser.add_argument("--rate", type=float, help="changes per second (overrides --sleep_time)")
        parser.add_argument("--course_key", help="enroll in this existing course instead of creating one")
        parser.add_argument("--tags", nargs="*", default=[], help="labels stored with the run, for reports")
        add_connection_arguments(parser)

    def handle(self, *args, **options):
        if options["rate"] is not None and options["rate"] <= 0:
            raise CommandError("--rate must be more than 0 changes per second")
        if options["num_events"] < 0:
            raise CommandError("--num_events must not be negative")
        if get_model("course_enrollment") is None or get_model("auth_user") is None:
            raise CommandError("This command needs the platform's user and enrollment models (run it in the LMS or "
                               "Studio); EVENT_SINK_CLICKHOUSE_MODEL_CONFIG cannot import them here")
        interval = 1.0 / options["rate"] if options["rate"] else options["sleep_time"]
        clickhouse = clickhouse_for(options)
        load_test = LoadTest(clickhouse, None, options["num_users"], options["username_prefix"], interval,
                             options["tags"], self.stdout.write)
        load_test.course_key = self.course(options["course_key"], load_test.run_id)
        try:
            load_test.run(options["num_events"], options["run_until_killed"])
        except ClickHouseError as exc:
            raise CommandError(f"Could not record the run in ClickHouse: {exc}") from exc

    @staticmethod
    def course(course_key, run_id):
        """The given course, or a new overview ``course-v1:LoadTest+<run>+<year>``."""
        if course_key:
            try:
                return course_key_from_text(course_key)
            except ValueError as exc:
                raise CommandError(f"--course_key: {exc}") from None
        key = CourseKey.from_string(f"course-v1:LoadTest+{run_id[:8]}+{timezone.now().year}")
        overview_model = get_model("course_overviews")
        if overview_model is None:
            raise CommandError("No course overview model here: pass --course_key of an existing course")
        overview_model.objects.create(id=key, org=key.org, display_name=f"Load test {run_id[:8]}",
                                      start=timezone.now())
        return key

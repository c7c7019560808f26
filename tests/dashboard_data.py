"""
Synthetic courses for the dashboard tests, the benchmark and `make dashboards`: sink rows and
tracking events written to ClickHouse the way the plugin writes them (the analytics model's
materialized views fill from the event inserts), with the figures a dashboard must show computed
here by hand.
"""

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from platform_plugin_aspects.tracking.events import EVENT_COLUMNS, event_row, loads, logger_json

from .tracking_factory import block_key, make_event

MODES = ("audit", "verified", "honor")
PASSING_GRADE = 0.5
SECTIONS, SUBSECTIONS, PROBLEMS, VIDEOS = 3, 2, 4, 2
META = ("dump_id", "time_last_dumped", "version")


@dataclass
class Learner:
    """One learner of a synthetic course and what they did."""

    user_id: int
    username: str
    mode: str
    is_active: bool
    percent: float | None  # None: not graded yet
    last_active_days_ago: int
    active_days_ago: list = field(default_factory=list)

    @property
    def passing(self):
        return self.percent is not None and self.percent >= PASSING_GRADE


@dataclass
class SyntheticCourse:
    """A course, its learners, and the figures its dashboards must show."""

    course_key: str
    org: str
    learners: list

    @property
    def enrolled(self):
        return sum(1 for learner in self.learners if learner.is_active)

    @property
    def passing(self):
        return sum(1 for learner in self.learners if learner.is_active and learner.passing)

    @property
    def graded_passing(self):
        """Learners whose current grade passes, enrolled or not (the query module's passing_learners)."""
        return sum(1 for learner in self.learners if learner.passing)

    @property
    def active_this_week(self):
        return sum(1 for learner in self.learners if learner.is_active and learner.last_active_days_ago <= 6)

    @property
    def at_risk(self):
        return sorted(learner.user_id for learner in self.learners
                      if learner.is_active and not learner.passing and learner.last_active_days_ago >= 7)


def make_course(course_key, first_user_id, count):
    """The learners of a course (deterministic: the same arguments give the same course)."""
    org = course_key.split(":", 1)[1].split("+", 1)[0]
    learners = []
    for i in range(count):
        last = i % 15
        learners.append(Learner(
            user_id=first_user_id + i, username=f"{org.lower()}_learner_{i:03d}", mode=MODES[i % 3],
            is_active=i % 10 != 9, percent=None if i % 5 == 4 else ((i * 37) % 100) / 100,
            last_active_days_ago=last, active_days_ago=[last, last + 3, last + 7]))
    return SyntheticCourse(course_key, org, learners)


def _meta(now):
    return (uuid.uuid4(), now.strftime("%Y-%m-%d %H:%M:%S.%f+00:00"), time.time_ns())


def _blocks(course):
    """course_blocks rows in course order: chapters, sequentials, verticals, problems and videos."""
    rows, order = [], 0
    short = course.course_key.split(":", 1)[1]
    problem_no = video_no = 0
    for s in range(1, SECTIONS + 1):
        for ss in range(0, SUBSECTIONS + 1):
            kind, name = ("chapter", f"s{s}") if ss == 0 else ("sequential", f"s{s}ss{ss}")
            title = f"Section {s}" if ss == 0 else f"Subsection {s}.{ss}"
            leaves = []
            if ss:
                if problem_no < PROBLEMS and ss <= 2:
                    problem_no += 1
                    leaves.append(("problem", f"problem{problem_no}", f"Problem {problem_no} ✓"))
                if video_no < VIDEOS and s <= VIDEOS and ss == 1:
                    video_no += 1
                    leaves.append(("video", f"video{video_no}", f"Video {video_no} 🎬"))
            for block_type, block_name, display in [(kind, name, title)] + leaves:
                order += 1
                data = {"course": short.split("+")[1], "run": short.split("+")[2], "block_type": block_type,
                        "detached": 0, "graded": int(block_type == "problem"), "completion_mode": "completable",
                        "tags": [], "section": s, "subsection": ss, "unit": 1 if block_type in ("problem", "video")
                        else 0}
                rows.append((course.org, course.course_key, block_key(course.course_key, block_type, block_name),
                             display, json.dumps(data), order, ""))
    return rows


def events(course, now):
    """The learners' tracking events: enrollment, navigation, problem checks, video plays and pauses."""
    found = []
    # Activity at the start of its day (plus minutes), so "N days ago" is the same calendar day
    # whatever the time of the run (at 00:20 UTC, now - 6 days - 25 min is 7 days ago).
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for index, learner in enumerate(course.learners):
        who = {"user_id": learner.user_id, "username": learner.username, "course_key": course.course_key}
        enrolled_at = now - timedelta(days=30 - index % 20, hours=1)
        found.append(make_event("edx.course.enrollment.activated", **who, time=enrolled_at, source="server",
                                payload={"user_id": learner.user_id, "course_id": course.course_key,
                                         "mode": learner.mode}))
        if not learner.is_active:
            found.append(make_event("edx.course.enrollment.deactivated", **who, time=enrolled_at + timedelta(hours=2),
                                    source="server", payload={"user_id": learner.user_id,
                                                              "course_id": course.course_key, "mode": learner.mode}))
        for days_ago in learner.active_days_ago:
            when = day_start - timedelta(days=days_ago) + timedelta(minutes=index % 60)
            section = index % SECTIONS + 1
            sequence = block_key(course.course_key, "sequential", f"s{section}ss1")
            found.append(make_event("edx.ui.lms.sequence.next_selected", **who, time=when, source="browser",
                                    payload=json.dumps({"id": sequence, "current_tab": 1, "tab_count": 3})))
            problem = block_key(course.course_key, "problem", f"problem{index % PROBLEMS + 1}")
            correct = (index + days_ago) % 2 == 0
            found.append(make_event("problem_check", **who, time=when + timedelta(seconds=30), source="server",
                                    block=problem, payload={"problem_id": problem, "grade": 2 if correct else 0,
                                                            "max_grade": 2, "attempts": 1 + days_ago % 3,
                                                            "success": "correct" if correct else "incorrect"}))
            video = f"video{index % VIDEOS + 1}"
            stop = 60.0 + (index * 13) % 240
            for offset, name, position in ((60, "play_video", 0.0), (60 + stop, "pause_video", stop)):
                found.append(make_event(name, **who, time=when + timedelta(seconds=offset), payload=json.dumps(
                    {"id": video, "code": "html5", "currentTime": position, "duration": 300.0})))
    return found


def write(clickhouse, course, now=None):
    """Write ``course`` into ClickHouse: overview, blocks, enrollments, grades, then its events."""
    now = now or datetime.now(timezone.utc)
    meta = _meta(now)
    clickhouse.insert("course_overviews", [(
        course.org, course.course_key, f"{course.org} course", "", "", "", "", False,
        json.dumps({"lowest_passing_grade": PASSING_GRADE}), "", "", *meta)],
        ["org", "course_key", "display_name", "course_start", "course_end", "enrollment_start", "enrollment_end",
         "self_paced", "course_data_json", "created", "modified", *META])
    clickhouse.insert("course_blocks", [(*row, *meta) for row in _blocks(course)],
                      ["org", "course_key", "location", "display_name", "xblock_data_json", "order", "edited_on",
                       *META])
    clickhouse.insert("course_enrollment", [(
        learner.user_id, course.course_key, (now - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S"),
        learner.is_active, learner.mode, learner.username, learner.user_id, *meta) for learner in course.learners],
        ["id", "course_key", "created", "is_active", "mode", "username", "user_id", *META])
    clickhouse.insert("course_grades", [(
        learner.user_id, learner.user_id, course.course_key, course.org, learner.percent,
        "Pass" if learner.passing else "", learner.passing, "", "v1", "h", "", "", *meta)
        for learner in course.learners if learner.percent is not None],
        ["id", "user_id", "course_key", "org", "percent_grade", "letter_grade", "is_passing", "passed_timestamp",
         "course_version", "grading_policy_hash", "created", "modified", *META])
    clickhouse.insert("user_profile", [(
        learner.user_id, learner.user_id, f"Name of {learner.username}", learner.username,
        f"{learner.username}@example.invalid", *meta) for learner in course.learners],
        ["id", "user_id", "name", "username", "email", *META])
    clickhouse.insert("tracking_events", [event_row(loads(logger_json(e))) for e in events(course, now)],
                      EVENT_COLUMNS)
    return course

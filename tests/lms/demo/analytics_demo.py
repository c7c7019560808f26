"""
The analytics part of ``aspects_demo``: five weeks of a course's past activity written as a
``tracking.log`` and loaded with ``load_tracking_log`` (the materialized views fill the model as
the events land, exactly as for live events), then the course report read through the query
module, ``platform_plugin_aspects.analytics``.

The lead's demo command calls :func:`run_analytics_demo`.
"""

import random
import tempfile
from datetime import datetime, time, timedelta, timezone
from io import StringIO
from pathlib import Path

from django.core.management import call_command

from platform_plugin_aspects import analytics
from tests.tracking_factory import log_line, make_event

HISTORY_DAYS = 35


def _watch(learner, video, when, duration, share, course_key):
    """A play from the start and a pause after ``share`` of the video (browser events, short id)."""
    short_id = video.rsplit("@", 1)[1]
    payload = '{{"id": "{}", "code": "html5", "duration": {}, "currentTime": {}}}'
    user_id, username = learner
    return [
        make_event("play_video", user_id=user_id, username=username, course_key=course_key, time=when,
                   source="browser", payload=payload.format(short_id, duration, 0)),
        make_event("pause_video", user_id=user_id, username=username, course_key=course_key,
                   time=when + timedelta(seconds=int(duration * share) + 1), source="browser",
                   payload=payload.format(short_id, duration, round(duration * share, 1))),
    ]


def _check(learner, problem, when, attempt, correct, course_key):
    user_id, username = learner
    return make_event("problem_check", user_id=user_id, username=username, course_key=course_key, time=when,
                      source="server", block=problem,
                      payload={"problem_id": problem, "attempts": attempt, "grade": int(correct), "max_grade": 1,
                               "success": "correct" if correct else "incorrect"})


def history(course_key, learners, as_of):
    """
    Plausible past activity: most learners keep going, some stop at some point; everyone follows
    the course in order; one problem is hard and the first video of the third section is long
    and usually left early.
    """
    blocks = analytics.course_blocks(course_key)
    subsections = [b for b in blocks if b.block_type == "sequential"]
    by_subsection = {}
    for block in blocks:
        by_subsection.setdefault((block.section_number, block.subsection_number), []).append(block)
    problems = [b.block_id for b in blocks if b.block_type == "problem"]
    hard = problems[len(problems) // 2] if problems else None
    long_video = next((b.block_id for b in blocks if b.block_type == "video" and b.section_number == 3), None)
    start = as_of - timedelta(days=HISTORY_DAYS)
    events = []
    for learner in learners:
        rng = random.Random(f"{course_key}/{learner[0]}")
        user_id, username = learner
        if rng.random() < 0.05:  # has not started yet
            continue
        if rng.random() < 0.08:  # opened the course home page and nothing else
            events.append(make_event(f"/courses/{course_key}/course/", user_id=user_id, username=username,
                                     course_key=course_key, time=_at(start, rng.randint(0, HISTORY_DAYS), rng),
                                     source="server"))
            continue
        last = HISTORY_DAYS - (rng.randint(0, 6) if rng.random() < 0.6 else rng.randint(7, HISTORY_DAYS - 1))
        days = sorted({last} | {d for d in range(rng.randint(0, 4), last) if rng.random() < 0.3})
        for n, day in enumerate(days):
            if not subsections:
                break
            place = subsections[min(len(subsections) - 1, n * len(subsections) // max(len(days), 4))]
            when = _at(start, day, rng)
            events.append(make_event("seq_goto", user_id=user_id, username=username, course_key=course_key,
                                     time=when, source="browser",
                                     payload=f'{{"old": 1, "new": 2, "id": "{place.block_id}"}}'))
            for i, block in enumerate(by_subsection.get((place.section_number, place.subsection_number), [])):
                when += timedelta(minutes=3 + i)
                if block.block_type == "video" and rng.random() < 0.8:
                    long = block.block_id == long_video
                    share = rng.uniform(0.05, 0.5) if long else min(1.0, rng.betavariate(5, 1.5))
                    events += _watch(learner, block.block_id, when, 900 if long else 300, share, course_key)
                elif block.block_type == "problem" and rng.random() < 0.9:
                    success = 0.15 if block.block_id == hard else 0.65
                    for attempt in (1, 2, 3):
                        correct = rng.random() < success + 0.1 * attempt
                        events.append(_check(learner, block.block_id, when + timedelta(seconds=40 * attempt),
                                             attempt, correct, course_key))
                        if correct or rng.random() < 0.5:
                            break
    return events


def _at(start, day, rng):
    return datetime.combine(start + timedelta(days=day), time(8), tzinfo=timezone.utc) + timedelta(
        minutes=rng.randint(0, 600))


def run_analytics_demo(stdout, course_key, learners, as_of=None, log_dir=None, export_dir=None):
    """
    Load ``learners``' (``[(user_id, username)]``) past activity from a tracking log, then write the
    course report read through the query module, and the at-risk learners as the CSV course staff
    would download (``aspects_export_learner_status``) into ``export_dir`` when given. Re-running
    the same day adds nothing.
    """
    as_of = as_of or datetime.now(timezone.utc).date()
    events = history(course_key, learners, as_of)
    with tempfile.TemporaryDirectory(dir=log_dir) as directory:
        path = Path(directory) / "tracking.log"
        path.write_text("".join(log_line(e, prefixed=bool(i % 3)) for i, e in enumerate(events)), encoding="utf-8")
        out = StringIO()
        call_command("load_tracking_log", str(path), no_progress=True, workers=0, restart=True, stdout=out)
    stdout.write(f"\nPast activity: {len(events)} events of {len(learners)} learners over {HISTORY_DAYS} days, "
                 f"loaded with load_tracking_log ({out.getvalue().strip().splitlines()[-1]})\n")
    write_report(stdout, analytics.course_report(course_key, as_of, weeks=5, hardest=5, at_risk_limit=10))
    if export_dir:
        export = Path(export_dir) / "at-risk-learners.csv"
        told = StringIO()
        call_command("aspects_export_learner_status", course=course_key, as_of=as_of.isoformat(), at_risk_only=True,
                     output=str(export), stderr=told)
        stdout.write(f"  {told.getvalue().strip()}\n    (manage.py lms aspects_export_learner_status --course "
                     f"{course_key} --at-risk-only --output {export.name}: a spreadsheet of them, with reasons)\n")
    return len(events)


def _place(record):
    return f"{record.section_name or '?'} › {record.subsection_name or '?'}"


def write_report(stdout, report):
    """The course report as an instructor would read it."""
    f = report.funnel
    stdout.write(f"\nCourse report for {report.course_key} as of {report.as_of} "
                 "(platform_plugin_aspects.analytics, from the analytics model):\n")
    stdout.write(f"  Funnel: {f.enrolled} enrolled → {f.active} active → {f.attempted_problem} attempted a problem "
                 f"→ {f.passing} passing\n")
    stdout.write("  Weekly active learners:\n")
    top = max([w.active_learners for w in report.weekly_active] + [1])
    for week in report.weekly_active:
        bar = "█" * round(30 * week.active_learners / top)
        stdout.write(f"    {week.start:%b %d}–{week.end:%b %d}  {bar:30} {week.active_learners}\n")
    stdout.write(f"  The {len(report.hardest_problems)} hardest problems (first-attempt success, average score):\n")
    for p in report.hardest_problems:
        stdout.write(f"    {p.first_attempt_success_rate:4.0%} first try, average {p.average_score:.2f}, "
                     f"{p.learners:>3} learners  {p.display_name} ({_place(p)})\n")
    video = report.most_abandoned_video
    if video:
        stdout.write(f"  Most abandoned video: {video.display_name} ({_place(video)}): {video.abandonment_rate:.0%} "
                     f"of {video.viewers} viewers stopped before 90%, {video.average_watched_share:.0%} watched "
                     "on average\n")
    stdout.write(f"  At-risk learners: {report.at_risk_count} (inactive for ASPECTS_AT_RISK_INACTIVE_DAYS or more, "
                 f"not passing){', the first ' + str(len(report.at_risk)) if report.at_risk else ''}:\n")
    for learner in report.at_risk:
        stdout.write(f"    user {learner.user_id:<6} {learner.enrollment_mode:9} {learner.reasons}\n")

"""
Realistic Open edX tracking events, shaped like the dicts edx-platform's ``tracking_logs`` backend
hands to its logger (after ``LegacyFieldMappingProcessor``), for tests, the benchmark and the demo.
"""

import json
import random
from datetime import datetime, timedelta, timezone

from platform_plugin_aspects.tracking.events import logger_json

AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Safari/537.36")
LOGGER_PREFIX = "2026-11-24 10:00:00,123 INFO 7 [tracking] [user 7] [ip 10.0.0.1] logger.py:41 - "


def block_key(course_key, block_type, name):
    """``block-v1:Org+Course+Run+type@<type>+block@<name>`` for a ``course-v1:`` key."""
    return f"block-v1:{course_key.split(':', 1)[1]}+type@{block_type}+block@{name}"


def make_event(name="play_video", *, user_id=7, username="ada", course_key="course-v1:Org+CS101+2026",
               time=None, source=None, payload=None, block=None, session="5f3a9c0e1b2d4e6f8a7b9c0d1e2f3a4b"):
    """One event dict; ``user_id=None`` / ``course_key=''`` give anonymous or site-wide events."""
    time = time or datetime.now(timezone.utc)
    org = course_key.split(":", 1)[1].split("+", 1)[0] if ":" in course_key else ""
    page = f"https://lms.example.com/courses/{course_key}/courseware/week1/lesson1/1" if course_key else ""
    context = {
        "user_id": user_id, "org_id": org, "course_id": course_key, "path": "/event",
        "course_user_tags": {}, "enterprise_uuid": "",
    }
    if block:
        context["module"] = {"display_name": "Unit", "usage_key": block}
    browser = source == "browser" or (source is None and name in ("play_video", "pause_video", "seek_video"))
    return {
        "name": name,
        "event_type": name,
        "event_source": "browser" if browser else (source or "server"),
        "time": time,
        "username": username,
        "session": session,
        "ip": "10.0.0.1",
        "agent": AGENT,
        "host": "lms.example.com",
        "referer": page,
        "accept_language": "en-US,en;q=0.9",
        "page": page if browser else None,
        "event": payload if payload is not None else {},
        "context": context,
    }


def activity(course_key, learners, start=None, per_learner=20, seed=1):
    """
    A plausible session per learner (``learners``: ``[(user_id, username)]``): page views, video
    plays/pauses, problem checks. Times are spread over the hour before ``start``.
    """
    rng = random.Random(seed)
    start = start or datetime.now(timezone.utc)
    events = []
    for user_id, username in learners:
        for i in range(per_learner):
            when = start - timedelta(seconds=rng.randint(1, 3600), microseconds=rng.randint(0, 999_999))
            kind = rng.choice(("video", "video", "problem", "page", "page"))
            if kind == "video":
                video = block_key(course_key, "video", f"video{rng.randint(1, 5)}")
                name = rng.choice(("play_video", "pause_video", "seek_video"))
                payload = json.dumps({"id": video, "code": "html5", "currentTime": round(rng.uniform(0, 600), 3),
                                      "duration": 600.0})
                events.append(make_event(name, user_id=user_id, username=username, course_key=course_key,
                                         time=when, payload=payload))
            elif kind == "problem":
                problem = block_key(course_key, "problem", f"problem{rng.randint(1, 8)}")
                grade = rng.randint(0, 2)
                payload = {"problem_id": problem, "grade": grade, "max_grade": 2, "attempts": i % 3 + 1,
                           "success": "correct" if grade == 2 else "incorrect",
                           "answers": {f"{problem}_2_1": rng.choice(["choice_0", "choice_1", "choice_2"])}}
                events.append(make_event("problem_check", user_id=user_id, username=username,
                                         course_key=course_key, time=when, payload=payload, block=problem))
            else:
                target = block_key(course_key, "sequential", f"seq{rng.randint(1, 4)}")
                payload = {"current_tab": rng.randint(1, 6), "tab_count": 6, "id": target,
                           "target_name": "Lesson", "widget_placement": "top"}
                events.append(make_event("edx.ui.lms.sequence.next_selected", user_id=user_id,
                                         username=username, course_key=course_key, time=when, payload=payload,
                                         source="browser"))
    return events


def log_line(event, prefixed=False):
    """The event as a ``tracking.log`` line (raw JSON, or behind a Tutor-style logger prefix)."""
    return (LOGGER_PREFIX if prefixed else "") + logger_json(event) + "\n"

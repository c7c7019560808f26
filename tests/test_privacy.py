"""
Privacy by default, against the real local ClickHouse: de-identified tracking rows (live and loaded),
rejects that are no back door, and a retirement that reaches every copy of a learner's data.

The check is always the same: every String-like column of every table of the plugin's database
is scanned for the learners' known usernames, e-mails, full names, IPs and session ids.
"""

import json
from collections import namedtuple
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from django.core.management import call_command
from openedx_events.learning.data import CourseData, PersistentCourseGradeData
from openedx_events.learning.signals import PERSISTENT_GRADE_SUMMARY_CHANGED

from platform_plugin_aspects.sinks.retirement import retire_users
from platform_plugin_aspects.tracking.backend import ClickHouseTrackingBackend
from platform_plugin_aspects.tracking.privacy import Deidentifier, agent_family, current
from tests.lms.external_user_ids.models import ExternalId, ExternalIdType
from tests.lms.grades.models import PersistentCourseGrade
from tests.lms.student.models import CourseEnrollment
from tests.lms.user_api.accounts.signals import USER_RETIRE_LMS_MISC

from .factories import make_course, make_user
from .tracking_factory import activity, block_key, log_line, make_event

COURSE = "course-v1:Org+CS101+2026"
Person = namedtuple("Person", "user_id username email full_name ip session")
ADA = Person(901, "ada_lovelace_91", "ada.lovelace91@example.org", "Ada Lovelace", "203.0.113.77",
             "sessada0a1b2c3d4e5f6a7b8c9d0e1f2a3")
BOB = Person(902, "bob_babbage_92", "bob.babbage92@example.net", "Bob Babbage", "198.51.100.23",
             "sessbob9f8e7d6c5b4a3f2e1d0c9b8a7f6")

# Where the learners' values are stored with ASPECTS_ENABLE_PII on (docs/concepts/privacy.rst).
STORED_WITH_PII = {
    ("tracking_events", "username"), ("tracking_events", "ip"), ("tracking_events", "session"),
    ("tracking_events", "context"), ("tracking_events", "event"), ("tracking_events", "referer"),
    ("tracking_events", "name"), ("tracking_events", "event_type"), ("tracking_events", "page"),
    ("tracking_rejects", "raw"),
    ("course_enrollment", "username"), ("user_profile", "name"), ("user_profile", "username"),
    ("user_profile", "email"), ("external_id", "username"),
}


def needles(*people):
    return [value for person in people for value in person[1:]]


def personal_events(person, other, when):
    """What the platform really logs about one learner: the usual activity plus the events that name people."""
    def event(name, payload, source="server", **fields):
        built = make_event(name, user_id=person.user_id, username=person.username, course_key=COURSE, time=when,
                           source=source, payload=payload, session=person.session)
        built["ip"] = person.ip
        built.update(fields)
        return built

    events = activity(COURSE, [(person.user_id, person.username)], start=when, per_learner=6, seed=person.user_id)
    for item in events:
        item["ip"], item["session"] = person.ip, person.session
    profile = f"https://lms.example.com/u/{person.username}"
    form = {"email": [person.email], "name": [person.full_name], "username": [person.username],
            "password": "********", "country": ["FR"], "honor_code": ["true"]}
    events += [
        # Implicit request events: the path is the event type, GET/POST form fields are a JSON string.
        event("/user_api/v1/account/registration/", json.dumps({"GET": {}, "POST": form})),
        event(f"/u/{person.username}", json.dumps({"GET": {}, "POST": {}}), referer=profile),
        event("edx.user.settings.changed", {"setting": "name", "old": person.full_name, "new": f"{person.full_name} B.",
                                            "user_id": person.user_id, "table": "auth_userprofile"}),
        event("edx.user.settings.changed", {"setting": "email", "old": person.email, "new": f"new.{person.email}",
                                            "user_id": person.user_id, "table": "auth_user"}),
        event("edx.user.settings.changed", {"setting": "language", "old": "en", "new": "fr",
                                            "user_id": person.user_id, "table": "auth_userprofile"}),
        event("edx.forum.response.voted", {"target_username": other.username, "vote_value": "up",
                                           "undo_vote": False, "id": "c0ffee", "user_forums_roles": ["Student"]}),
        event("get-student-progress-page", {"student": other.username, "instructor": person.username,
                                            "course": COURSE}),
        # A URL no rule knows: only "the event's own username, wherever it appears" catches it.
        event("openassessmentblock.get_student_info", {"submission_returned_uuid": "5ub"}, source="browser",
              page=f"https://lms.example.com/courses/{COURSE}/xblock/ora/handler/get_student_info"
                   f"?student_username={person.username}"),
        event("edx.certificate.created", {"user_id": person.user_id, "course_id": COURSE, "name": person.full_name,
                                          "certificate_id": "f00d", "enrollment_mode": "verified"}),
        event("openassessmentblock.create_submission", {
            "submission_uuid": "5ub", "attempt_number": 1,
            "answer": {"parts": [{"text": f"Write to me at {person.email}"}],
                       "files_names": [f"{person.full_name} essay.pdf"], "file_keys": ["k"]}}),
        event("edx.ui.lms.link_clicked", json.dumps({"current_url": profile, "target_url": f"{profile}?tab=about",
                                                     "username": person.username}), source="browser"),
        # The shape event-routing-backends' fixtures show: "data" and "timestamp", the request's
        # fields in the context, keys in any case.
        {"name": "edx.course.enrollment.activated", "timestamp": when.isoformat(),
         "data": {"course_id": COURSE, "mode": "audit", "user_id": person.user_id, "Password": "xyz",
                  "Full_Name": person.full_name},
         "context": {"course_id": COURSE, "org_id": "Org", "user_id": person.user_id, "path": "/change_enrollment",
                     "username": person.username, "ip": person.ip, "session": person.session,
                     "agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:109.0) Gecko/20100101 Firefox/114.0",
                     "host": "lms.example.com", "referer": profile, "accept_language": "en-US", "client_id": None}},
        event("edx.video.played", {"id": block_key(COURSE, "video", "v1"), "currentTime": 3}, source="mobile",
              context={"user_id": person.user_id, "course_id": COURSE, "org_id": "Org", "username": person.username,
                       "ip": person.ip, "session": person.session, "application": {"name": "edx.mobileapp"},
                       "client": {"ip": person.ip, "traits": {"email": person.email, "name": person.full_name}}}),
    ]
    return events


def reject_lines(person):
    """Lines that cannot be stored but name the learner (cut short; no time)."""
    no_time = make_event("problem_check", user_id=person.user_id, username=person.username, session=person.session)
    del no_time["time"]
    no_time["ip"] = person.ip
    return [
        f'{{"username": "{person.username}", "email": "{person.email}", "ip": "{person.ip}", '
        f'"context": {{"user_id": {person.user_id}, "full_name": "{person.full_name}"}}, "time": \n',
        log_line(no_time),
    ]


def scan(clickhouse, values):
    """``{(table, column)}`` of every String-like column, in every table of the database, holding one of ``values``."""
    columns = clickhouse.query(
        "SELECT c.table, c.name FROM system.columns AS c INNER JOIN system.tables AS t "
        "ON t.database = c.database AND t.name = c.table WHERE c.database = {db:String} "
        "AND t.engine NOT IN ('View', 'MaterializedView', 'Dictionary') AND match(c.type, 'String')",
        {"db": clickhouse.database})
    assert len(columns) > 40  # every table: the sinks', the tracking ones, the bookkeeping ones
    found = set()
    for table, column in columns:
        hits = clickhouse.query(
            f"SELECT count() FROM {clickhouse.qualified(table)} "
            f"WHERE multiSearchAnyCaseInsensitiveUTF8(toString(`{column}`), {{values:Array(String)}})",
            {"values": values})[0][0]
        if hits:
            found.add((table, column))
    return found


def write_log(path, lines):
    path.write_text("".join(lines), encoding="utf-8")
    return path


def load(path):
    call_command("load_tracking_log", str(path), no_progress=True, stdout=StringIO())


def deliver(events, tmp_path, live_share=2):
    """Every ``live_share``-th event live through the real backend, then all of them from a log file (overlap)."""
    backend = ClickHouseTrackingBackend(spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.05)
    for event in events[::live_share]:
        backend.send(event)
    assert backend.flush()
    backend.close()
    lines = [log_line(e, prefixed=bool(i % 2)) for i, e in enumerate(events)]
    load(write_log(tmp_path / "tracking.log", lines + reject_lines(ADA) + reject_lines(BOB)))


@pytest.fixture
def tracking_on(settings, clickhouse):
    settings.EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED = True
    return clickhouse


def both_learners(tmp_path):
    when = datetime.now(timezone.utc) - timedelta(hours=2)
    events = personal_events(ADA, BOB, when) + personal_events(BOB, ADA, when)
    deliver(events, tmp_path)
    return events


def test_nothing_personal_is_stored_without_pii(tracking_on, settings, tmp_path):
    settings.ASPECTS_ENABLE_PII = False
    clickhouse = tracking_on
    events = both_learners(tmp_path)
    assert scan(clickhouse, needles(ADA, BOB)) == set()

    # What stays is what analytics needs: who (by id), what, where, when; sessions countable.
    rows = clickhouse.query_dicts("SELECT * FROM tracking_events FINAL")
    assert len(rows) == len(events)
    assert {r["user_id"] for r in rows} == {ADA.user_id, BOB.user_id}
    assert {r["username"] for r in rows} == {""} and {r["ip"] for r in rows} == {""}
    assert len({r["session"] for r in rows}) == 2 and all(len(r["session"]) == 32 for r in rows)
    assert {r["agent"] for r in rows} == {"Chrome on Linux", "Firefox on macOS"}
    by_name = {r["name"]: r for r in rows if r["user_id"] == ADA.user_id}
    enrolled = json.loads(by_name["edx.course.enrollment.activated"]["event"])
    assert enrolled == {"course_id": COURSE, "mode": "audit", "user_id": ADA.user_id}
    assert json.loads(by_name["edx.forum.response.voted"]["event"])["vote_value"] == "up"
    language = [json.loads(r["event"]) for r in rows if r["name"] == "edx.user.settings.changed"
                and r["user_id"] == ADA.user_id and "language" in r["event"]]
    assert language == [{"setting": "language", "old": "en", "new": "fr", "user_id": ADA.user_id,
                         "table": "auth_userprofile"}]  # a setting that names nobody keeps its values
    submission = json.loads(by_name["openassessmentblock.create_submission"]["event"])
    assert submission["answer"] == {"parts": [{"text": "Write to me at [email]"}], "file_keys": ["k"]}
    assert by_name["/u/[user]"]["referer"] == "https://lms.example.com/u/[user]"
    assert all(json.loads(r["context"])["user_id"] == r["user_id"] for r in rows)
    # Rejects keep their reason, size, file and offset; the raw text is scrubbed.
    rejects = clickhouse.query("SELECT reason, raw, raw_size, source_file FROM tracking_rejects FINAL ORDER BY reason")
    assert [r[0].split(":")[0] for r in rejects] == ["malformed JSON"] * 2 + ["no time"] * 2
    assert all(r[2] > 100 and r[3] == "tracking.log" for r in rejects)
    assert sum(str(ADA.user_id) in r[1] for r in rejects) == 2  # still says whose line it was, by id


@pytest.mark.django_db(transaction=True)
def test_with_pii_the_values_are_where_the_docs_say(tracking_on, settings, tmp_path):
    from .sink_helpers import enable_all  # pylint: disable=import-outside-toplevel

    enable_all(settings, pii=True)
    clickhouse = tracking_on
    with_learners_in_the_lms()
    both_learners(tmp_path)
    assert scan(clickhouse, needles(ADA, BOB)) == STORED_WITH_PII


def test_live_and_loaded_copies_count_once_without_pii(tracking_on, settings, tmp_path):
    settings.ASPECTS_ENABLE_PII = False
    clickhouse = tracking_on
    events = personal_events(ADA, BOB, datetime.now(timezone.utc))
    deliver(events, tmp_path, live_share=1)  # every event arrives twice: live, then from the log
    clickhouse.command(f"OPTIMIZE TABLE {clickhouse.qualified('tracking_events')} FINAL")
    assert clickhouse.query("SELECT count() FROM tracking_events")[0][0] == len(events)  # physical rows
    sources = clickhouse.query("SELECT loaded_from, count() FROM tracking_events GROUP BY loaded_from")
    assert sum(n for _, n in sources) == len(events)


# -- retirement --------------------------------------------------------------------------------------
def with_learners_in_the_lms():
    """ADA and BOB as LMS users: profiles, external ids, enrollments and grades, delivered by the sinks."""
    make_course(COURSE)
    xapi = ExternalIdType.objects.get_or_create(name="xapi")[0]
    users = {}
    for person in (ADA, BOB):
        user = make_user(person.username, email=person.email, name=person.full_name, city="Paris")
        users[person.user_id] = user
        ExternalId.objects.create(user=user, external_id_type=xapi)
        CourseEnrollment.enroll(user, COURSE, mode="verified")
        PersistentCourseGrade.objects.create(user_id=user.id, course_id=COURSE, percent_grade=0.8, letter_grade="B",
                                             grading_policy_hash="h", course_version="v1")
        PERSISTENT_GRADE_SUMMARY_CHANGED.send_event(grade=PersistentCourseGradeData(
            user_id=user.id, course=CourseData(course_key=COURSE), course_edited_timestamp=datetime.now(timezone.utc),
            course_version="v1", grading_policy_hash="h", percent_grade=0.8, letter_grade="B", passed_timestamp=None))
    return users


@pytest.mark.django_db(transaction=True)
def test_retirement_reaches_every_copy_and_keeps_anonymous_activity(tracking_on, settings, tmp_path):
    from .sink_helpers import enable_all  # pylint: disable=import-outside-toplevel

    enable_all(settings, pii=True)  # the worst case: everything was copied with names
    clickhouse = tracking_on
    users = with_learners_in_the_lms()
    ada, bob = users[ADA.user_id], users[BOB.user_id]
    # The LMS's user ids are the ones the events carry.
    when = datetime.now(timezone.utc) - timedelta(hours=2)
    events = personal_events(ADA._replace(user_id=ada.id), BOB, when) + \
        personal_events(BOB._replace(user_id=bob.id), ADA, when)
    deliver(events, tmp_path)
    assert scan(clickhouse, needles(ADA)) == STORED_WITH_PII
    figures = "SELECT user_id, course_key, count() FROM tracking_events FINAL GROUP BY user_id, course_key ORDER BY 1"
    activity_before = clickhouse.query(figures)
    daily_before = clickhouse.query("SELECT sum(events), sum(active_learners) FROM tracking_daily_activity")

    USER_RETIRE_LMS_MISC.send(sender=None, user=ada)

    assert scan(clickhouse, needles(ADA)) == set()
    # Nothing of BOB's was touched, and ADA's activity still counts, by id and by course.
    assert scan(clickhouse, needles(BOB)) == STORED_WITH_PII
    assert clickhouse.query(figures) == activity_before
    assert clickhouse.query("SELECT sum(events), sum(active_learners) FROM tracking_daily_activity") == daily_before
    assert clickhouse.query("SELECT user_id, percent_grade FROM course_grades FINAL ORDER BY user_id") == [
        (ada.id, 0.8), (bob.id, 0.8)]
    assert clickhouse.query("SELECT user_id, mode, username FROM course_enrollment FINAL ORDER BY user_id") == [
        (ada.id, "verified", ""), (bob.id, "verified", BOB.username)]
    assert [r[0] for r in clickhouse.query("SELECT user_id FROM user_profile FINAL")] == [bob.id]
    # The scrubbed JSON is still JSON, and still says what happened.
    broken = clickhouse.query("SELECT count() FROM tracking_events WHERE user_id = {u:Int64} "
                              "AND NOT (isValidJSON(context) AND (event = '' OR isValidJSON(event)))", {"u": ada.id})
    assert broken == [(0,)]
    # Merging the parts (the old bytes leave the disk) keeps it that way.
    for (table,) in clickhouse.query("SELECT name FROM system.tables WHERE database = {db:String} "
                                     "AND engine LIKE '%MergeTree%'", {"db": clickhouse.database}):
        clickhouse.command(f"OPTIMIZE TABLE {clickhouse.qualified(table)} FINAL")
    assert scan(clickhouse, needles(ADA)) == set()


@pytest.fixture
def extra_tables(clickhouse):
    """Tables other migrations or operators add: an extra PII table and an analytics-style one."""
    names = ("extra_pii_notes", "learner_facts")
    clickhouse.command(f"CREATE TABLE {clickhouse.qualified(names[0])} (user_id Int64, note String) "
                       "ENGINE = MergeTree ORDER BY user_id")
    clickhouse.command(
        f"CREATE TABLE {clickhouse.qualified(names[1])} (user_id Int64, course_key String, events UInt64, "
        "username LowCardinality(String), display Nullable(String) COMMENT 'pii:blank', "
        "notes String COMMENT 'pii:scrub', tags Array(String) COMMENT 'pii:blank') "
        "ENGINE = ReplacingMergeTree ORDER BY (course_key, user_id)")
    yield names
    for name in names:
        clickhouse.command(f"DROP TABLE IF EXISTS {clickhouse.qualified(name)} SYNC")


def test_retirement_covers_extra_pii_models_and_discovered_tables(clickhouse, settings, extra_tables):
    settings.EVENT_SINK_CLICKHOUSE_PII_MODELS = ["user_profile", "external_id", "extra_pii_notes"]
    notes, facts = extra_tables
    clickhouse.insert(notes, [[ADA.user_id, f"call {ADA.full_name}"], [BOB.user_id, f"call {BOB.full_name}"]],
                      ["user_id", "note"])
    clickhouse.insert(facts, [
        [person.user_id, COURSE, 12, person.username, person.full_name, f'{{"email": "{person.email}"}}',
         [person.username]] for person in (ADA, BOB)] + [
        # Someone whose name *contains* ADA's and who mentions her: only the mention goes.
        [903, COURSE, 3, f"{ADA.username}x", "Carl", f'{{"voted_for": "{ADA.username}", "me": "{ADA.username}x"}}',
         []]],
        ["user_id", "course_key", "events", "username", "display", "notes", "tags"])

    statements = retire_users([ADA.user_id], clickhouse)

    assert clickhouse.query(f"SELECT user_id FROM {notes}") == [(BOB.user_id,)]
    rows = clickhouse.query(f"SELECT user_id, events, username, display, notes, tags FROM {facts} ORDER BY user_id")
    assert rows == [
        (ADA.user_id, 12, "", None, '{"email": ""}', []),
        (BOB.user_id, 12, BOB.username, BOB.full_name, f'{{"email": "{BOB.email}"}}', [BOB.username]),
        (903, 3, f"{ADA.username}x", "Carl", f'{{"voted_for": "[redacted]", "me": "{ADA.username}x"}}', [])]
    assert scan(clickhouse, needles(ADA)[1:]) == set()  # (her username is part of Carl's, which stays)
    # One statement per table for the batch, whatever the number of users.
    assert len(statements) == len(retire_users([ADA.user_id, BOB.user_id, 12345], clickhouse))


# -- rejects' retention --------------------------------------------------------------------------
def test_rejects_expire_by_the_setting_applied_by_migrate_clickhouse(clickhouse, settings):
    def migrate():
        out = StringIO()
        call_command("migrate_clickhouse", stdout=out)
        return out.getvalue()

    def ttl():
        ddl = clickhouse.query("SHOW CREATE TABLE tracking_rejects")[0][0]
        return ddl[ddl.index("TTL"):].split("\n")[0] if "TTL" in ddl else ""

    assert "rejected lines older than 30 days" in migrate()  # the default: 30 days, in every mode
    assert ttl() == "TTL toDateTime(received_at) + toIntervalDay(30)"
    settings.ASPECTS_TRACKING_REJECTS_TTL_DAYS = 7
    assert "rejected lines older than 7 days will be deleted" in migrate() and ttl().endswith("toIntervalDay(7)")
    assert "(unchanged)" in migrate()
    old = datetime.now(timezone.utc) - timedelta(days=8)
    clickhouse.insert("tracking_rejects", [["00000000-0000-0000-0000-000000000001", old, "old", "x", 1, "f", 0],
                                           ["00000000-0000-0000-0000-000000000002", datetime.now(timezone.utc),
                                            "new", "y", 1, "f", 1]],
                      ["reject_id", "received_at", "reason", "raw", "raw_size", "source_file", "source_offset"])
    clickhouse.command(f"OPTIMIZE TABLE {clickhouse.qualified('tracking_rejects')} FINAL")
    assert clickhouse.query("SELECT reason FROM tracking_rejects") == [("new",)]
    settings.ASPECTS_TRACKING_REJECTS_TTL_DAYS = None
    assert "TTL removed" in migrate() and ttl() == ""
    settings.ASPECTS_TRACKING_REJECTS_TTL_DAYS = 30
    migrate()


# -- the rules themselves --------------------------------------------------------------------------
def test_ip_network_session_key_and_agent_settings(settings):
    settings.ASPECTS_ENABLE_PII = False
    settings.ASPECTS_TRACKING_IP_NETWORK_BITS = {"ipv4": 24, "ipv6": 48}
    deidentifier = current()
    assert deidentifier.ip("203.0.113.77") == "203.0.113.0/24"
    assert deidentifier.ip("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert deidentifier.ip("not an address") == ""
    first = deidentifier.session(ADA.session)
    assert len(first) == 32 and ADA.session not in first and first == deidentifier.session(ADA.session)
    settings.ASPECTS_TRACKING_SESSION_HASH_KEY = "another key"
    assert current().session(ADA.session) != first  # a new key: sessions cannot be linked across it
    settings.ASPECTS_ENABLE_PII = True
    assert current() is None
    assert agent_family("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1") == "Safari on iOS"
    assert agent_family("Googlebot/2.1 (+http://www.google.com/bot.html)") == "bot"
    assert Deidentifier(b"k").ip("203.0.113.77") == ""  # no network asked: no IP at all


def test_nested_and_double_encoded_fields_are_found_and_the_event_is_left_untouched(settings):
    """The rules reach any depth and JSON inside JSON strings; the id is the original event's."""
    import copy  # pylint: disable=import-outside-toplevel

    from platform_plugin_aspects.tracking import events  # pylint: disable=import-outside-toplevel

    settings.ASPECTS_ENABLE_PII = False
    inner = json.dumps({"profile": {"user": {"username": ADA.username, "email": ADA.email}}, "note": "hi"})
    event = make_event("edx.custom.event", user_id=ADA.user_id, username=ADA.username, session=ADA.session,
                       payload={"items": [{"target_username": BOB.username}, {"data": inner}],
                                "free_text": f"mail {BOB.email} or ping {ADA.username}!",
                                "also": f"{ADA.username}x is someone else"})
    event["context"]["module"] = {"display_name": "Unit", "usage_key": block_key(COURSE, "problem", "p1")}
    event = events.loads(events.serialize(event))  # as the sender thread and the loader parse it
    original = copy.deepcopy(event)
    row = dict(zip(events.EVENT_COLUMNS, events.event_row(event)))
    assert event == original  # nothing mutated: other backends and the id see the event as sent
    assert row["event_id"] == events.event_id(original).int
    payload = json.loads(row["event"])
    assert payload["items"][0] == {}
    assert json.loads(payload["items"][1]["data"]) == {"profile": {"user": {}}, "note": "hi"}
    assert payload["free_text"] == "mail [email] or ping [user]!"
    assert payload["also"] == f"{ADA.username}x is someone else"  # a longer name is not the learner's
    assert json.loads(row["context"])["module"]["usage_key"] == block_key(COURSE, "problem", "p1")
    assert (row["username"], row["ip"]) == ("", "") and row["session"] != ADA.session

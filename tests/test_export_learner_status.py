"""
``aspects_export_learner_status`` on the real local ClickHouse: the CSV says what the query module
says, learner for learner; an export that fails leaves no file behind and an earlier file as it was;
text a learner chose cannot become a spreadsheet formula.
"""

import csv
import io
import stat
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from platform_plugin_aspects import analytics
from platform_plugin_aspects.clickhouse import ClickHouseQueryError

from .analytics_course import AS_OF, COURSE, _versioned
from .test_analytics import course, send  # noqa: F401  (the fixture and how it stores events)


def export(*args, **options):
    """``(CSV rows as dicts, what the command told the operator)``."""
    out, err = io.StringIO(), io.StringIO()
    call_command("aspects_export_learner_status", *args, stdout=out, stderr=err, **options)
    return list(csv.DictReader(io.StringIO(out.getvalue()))), err.getvalue()


def test_the_csv_says_what_the_query_module_says(course):  # noqa: F811
    rows, told = export(course=COURSE, as_of=AS_OF.isoformat(), page_size=3)
    status = analytics.learner_status(COURSE, AS_OF)
    assert [int(r["user_id"]) for r in rows] == [s.user_id for s in status] == list(range(1, 9))
    assert list(rows[0]) == list(analytics.LearnerStatus._fields)  # no identities without PII
    by_user = {int(r["user_id"]): r for r in rows}
    ada, cid, hal = by_user[1], by_user[3], by_user[8]
    assert (ada["percent_grade"], ada["grade_status"], ada["is_passing"], ada["engaged"]) == (
        "0.31", "below passing", "false", "true")
    assert ada["last_active_day"] == status[0].last_active_day.isoformat()
    assert ada["last_activity_at"] == status[0].last_activity_at.isoformat()
    assert (cid["percent_grade"], cid["letter_grade"], cid["at_risk"]) == ("", "", "true")
    assert cid["at_risk_reasons"] == status[2].at_risk_reasons != ""
    assert (hal["last_activity_at"], hal["days_inactive"], hal["active_days"]) == ("", "", "0")
    assert "Exported 8 learners of " + COURSE in told


def test_at_risk_only(course):  # noqa: F811
    rows, _ = export(course=COURSE, as_of=AS_OF.isoformat(), at_risk_only=True)
    at_risk = analytics.at_risk_learners(COURSE, AS_OF)
    assert sorted(int(r["user_id"]) for r in rows) == sorted(r.user_id for r in at_risk) == [3, 5]
    assert {r["at_risk"] for r in rows} == {"true"}


def test_identities_only_with_pii_and_never_as_a_formula(course, settings):  # noqa: F811
    course.insert("user_profile", [[3, 3, "=HYPERLINK(\"http://evil.example\",\"Cid\")", "cid", "+cid@example.com",
                                    *_versioned(2)]],
                  ["id", "user_id", "name", "username", "email", "dump_id", "time_last_dumped", "version",
                   "is_deleted"])
    settings.ASPECTS_ENABLE_PII = True
    rows, _ = export(course=COURSE, as_of=AS_OF.isoformat(), page_size=2)
    assert list(rows[0])[-3:] == ["username", "name", "email"]
    by_user = {int(r["user_id"]): r for r in rows}
    assert (by_user[5]["username"], by_user[5]["name"], by_user[5]["email"]) == ("eve", "Eve", "eve@example.com")
    assert by_user[3]["name"] == "'=HYPERLINK(\"http://evil.example\",\"Cid\")"
    assert by_user[3]["email"] == "'+cid@example.com"


def test_a_course_without_learners_is_a_header_and_a_hint(course):  # noqa: F811
    rows, told = export(course="course-v1:Nobody+None+2026")
    assert rows == []
    assert "Exported 0 learners" in told and "is the course key right" in told


@pytest.mark.parametrize("options, message", [
    ({"course": "not a course"}, "--course"),
    ({"course": COURSE, "as_of": "30/11/2026"}, "--as-of '30/11/2026' is not a date"),
])
def test_bad_arguments_are_one_clear_line(course, options, message):  # noqa: F811
    with pytest.raises(CommandError, match=message):
        export(**options)


def test_clickhouse_down_leaves_the_earlier_file_as_it_was(course, tmp_path):  # noqa: F811
    earlier = tmp_path / "status.csv"
    earlier.write_text("last week's export\n")
    with pytest.raises(CommandError, match="nothing was written"):
        export(course=COURSE, output=str(earlier), url="http://127.0.0.1:9", timeout_secs=2)
    assert earlier.read_text() == "last week's export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["status.csv"]


def test_a_failure_after_some_pages_writes_no_file(course, tmp_path, monkeypatch):  # noqa: F811
    """ClickHouse going away between two pages (injected: it cannot be timed for real)."""
    real_pages = analytics.learner_status_pages

    def failing_after_one_page(*args, **kwargs):
        pages = real_pages(*args, **kwargs)

        def pages_then_failure():
            yield next(pages)
            raise ClickHouseQueryError("ClickHouse went away")
        return pages_then_failure()

    monkeypatch.setattr(analytics, "learner_status_pages", failing_after_one_page)
    target = tmp_path / "status.csv"
    with pytest.raises(CommandError, match="went away"):
        export(course=COURSE, as_of=AS_OF.isoformat(), output=str(target), page_size=3)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    _, told = export(course=COURSE, as_of=AS_OF.isoformat(), output=str(target), page_size=3)
    assert len(target.read_text().splitlines()) == 9 and "to " + str(target) in told


def test_names_with_unicode_commas_quotes_and_newlines_read_back_as_written(course, settings):  # noqa: F811
    name = 'Zoë "Z", Smith\nJr. 学生'
    course.insert("user_profile", [[5, 5, name, "eve", "eve@example.com", *_versioned(2)]],
                  ["id", "user_id", "name", "username", "email", "dump_id", "time_last_dumped", "version",
                   "is_deleted"])
    settings.ASPECTS_ENABLE_PII = True
    rows, _ = export(course=COURSE, as_of=AS_OF.isoformat())
    assert {int(r["user_id"]): r["name"] for r in rows}[5] == name
    assert len(rows) == 8


def test_two_exports_at_once_to_one_file_leave_one_complete_file(course, tmp_path):  # noqa: F811
    target = tmp_path / "status.csv"
    errors = []

    def run():
        try:
            export(course=COURSE, as_of=AS_OF.isoformat(), output=str(target), page_size=2)
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert [int(r["user_id"]) for r in csv.DictReader(io.StringIO(target.read_text()))] == list(range(1, 9))
    assert [p.name for p in tmp_path.iterdir()] == ["status.csv"]
    # Only its owner may read it: the export may hold learners' names and emails.
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize("where, message", [("missing/status.csv", "No such file or directory"),
                                            (".", "Is a directory")])
def test_an_output_that_cannot_be_written_is_one_clear_line(course, tmp_path, where, message):  # noqa: F811
    with pytest.raises(CommandError, match=f"cannot write .*{message}"):
        export(course=COURSE, output=str(tmp_path / where))


class GoneAfterTheHeader(io.StringIO):
    """Standard output whose reader quits after the first line (`... | head -1`)."""

    def write(self, text):
        if self.tell():
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_a_reader_that_goes_away_stops_the_export_quietly(course):  # noqa: F811
    out = GoneAfterTheHeader()
    call_command("aspects_export_learner_status", course=COURSE, page_size=2, stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("user_id,") and out.getvalue().count("\n") == 1


def test_at_risk_only_with_nobody_at_risk_says_so_rather_than_doubting_the_course(course):  # noqa: F811
    rows, told = export(course=COURSE, as_of=(AS_OF - timedelta(days=40)).isoformat(), at_risk_only=True)
    assert rows == []
    assert "Exported 0 learners" in told and "none of the 8 learners read is at risk" in told
    assert "is the course key right" not in told

"""
The weekly course digest end to end: the synthetic course of ``digest_course`` in the stand-in LMS
and the real ClickHouse, a real SMTP server on loopback, and assertions on the MIME messages it
received.
"""

import io
import re
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.utils import timezone
from PIL import Image

from platform_plugin_aspects.digest.sending import DigestRun
from platform_plugin_aspects.models import DigestDelivery, DigestOptOut
from platform_plugin_aspects.tasks import send_course_digests
from tests.lms.user_api.models import UserPreference

from .celery_worker import real_worker, subprocess_env
from .digest_course import (
    COURSE,
    EXPECTED,
    NOT_RECIPIENTS,
    OTHER_COURSE,
    RECIPIENTS,
    WEEK,
    SyntheticCourse,
    digest_on,
    digest_on_for_org,
)
from .sink_helpers import enable_all, wait_for
from .smtp_server import reserve_port, smtp_server
from .test_digest_message import french  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free loopback port; the digest's backend is Django's SMTP backend."""
    with smtp_server() as (inbox, port):
        settings.ASPECTS_DIGEST_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        yield inbox


@pytest.fixture
def course(settings, clickhouse):
    enable_all(settings, pii=False)
    settings.ASPECTS_MIN_FLUSH_INTERVAL_SECS = 0  # eager flushes here: no cadence to keep
    return SyntheticCourse().build()


def received(inbox):
    """{recipient address: [messages]}."""
    out = {}
    for rcpt, message in inbox.messages:
        for address in rcpt:
            out.setdefault(address, []).append(message)
    return out


def text_of(message):
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_each_course_staff_member_gets_one_digest_with_the_hand_computed_figures(course, smtp):
    digest_on()
    report = DigestRun(WEEK).run()
    assert report.sent == 3 and report.retry == 0
    by_address = received(smtp)
    assert set(by_address) == RECIPIENTS
    assert not set(by_address) & NOT_RECIPIENTS
    assert not any(address.startswith("retired__user_") for address in by_address)
    message = by_address["instructor@example.com"][0]
    text = text_of(message)
    enrolled, unenrolled, active = EXPECTED["enrollments"], EXPECTED["unenrollments"], EXPECTED["active"]
    assert f"New enrollments: {enrolled[0]} (previous week: {enrolled[1]})" in text
    assert f"Unenrollments: {unenrolled[0]} (previous week: {unenrolled[1]})" in text
    assert f"Active learners: {active[0]} (previous week: {active[1]})" in text
    assert f"Passing learners: {EXPECTED['passing']} of {EXPECTED['enrolled']} enrolled" in text
    chart = re.findall(r"^  \w{3}\.? \d+: (\d+)$", text, re.M)
    assert [int(v) for v in chart] == EXPECTED["chart"]
    at_risk = re.findall(r"^  - (.+)$", text, re.M)
    ids = {name: f"#{course.people[name].id}" for name, *_ in EXPECTED["at_risk"]}
    assert at_risk == [f"{ids[name]}: inactive {days} days; {why}" for name, days, why in EXPECTED["at_risk"]]
    assert f"{len(EXPECTED['at_risk'])} learners at risk" in text
    for rank, (name, percent) in enumerate(EXPECTED["hardest"], 1):
        assert f"  {rank}. {name} ({EXPECTED['places'][name]}): {percent}% solved at the first attempt" in text
    video, place, percent, viewers = EXPECTED["video"]
    assert f"  {video} ({place}): {percent}% of its {viewers} viewers stopped before the end" in text
    assert f"/courses/{COURSE}/instructor#view-aspects" in text
    html = message.get_body(("html",)).get_content()
    assert "Statistics 101 🌍" in html and "Eigenvalues" in html
    (image,) = [part for part in message.walk() if part.get_content_type() == "image/png"]
    Image.open(io.BytesIO(image.get_content())).verify()  # decodes as a PNG


def per_recipient(inbox):
    return {address: len(messages) for address, messages in received(inbox).items()}


def test_a_second_run_in_the_same_week_sends_nothing_and_reads_no_figures(course, smtp):
    digest_on()
    assert DigestRun(WEEK).run().sent == 3
    again = DigestRun(WEEK).run()
    assert (again.sent, again.computed) == (0, 0)
    assert per_recipient(smtp) == dict.fromkeys(RECIPIENTS, 1)
    assert set(DigestDelivery.objects.values_list("status", flat=True)) == {DigestDelivery.SENT}


def test_two_runs_started_at_the_same_moment_send_each_recipient_one_email(course, smtp):
    """Two threads, each with its own database connection, released together by a barrier."""
    digest_on()
    barrier, reports, errors = threading.Barrier(2), [], []

    def run():
        try:
            barrier.wait(timeout=30)
            reports.append(DigestRun(WEEK).run())
        except Exception as exc:  # pylint: disable=broad-except  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sum(report.sent for report in reports) == 3
    assert per_recipient(smtp) == dict.fromkeys(RECIPIENTS, 1)


def test_two_worker_processes_at_once_send_each_recipient_one_email(course, smtp, settings):
    """The same with two `manage.py send_course_digests` processes on the test databases."""
    digest_on()
    env = {**subprocess_env(), "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(settings.EMAIL_PORT)}
    command = [sys.executable, "manage.py", "send_course_digests", "--week", str(WEEK)]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    assert per_recipient(smtp) == dict.fromkeys(RECIPIENTS, 1)
    assert sorted(int(re.search(r"sent (\d+)", out).group(1)) for out in outputs) in ([0, 3], [1, 2])


def unsubscribe_path(message):
    link = message["List-Unsubscribe"].strip().strip("<>")
    return link.split("localhost:8000", 1)[1]


def test_the_unsubscribe_link_works_without_login_and_next_weeks_run_skips_that_person(course, smtp, settings):
    digest_on()
    DigestRun(WEEK).run()
    path = unsubscribe_path(received(smtp)["staff@example.com"][0])
    anonymous = Client()
    page = anonymous.get(path)
    assert page.status_code == 200 and b'value="course"' in page.content and b'value="all"' in page.content
    assert not DigestOptOut.objects.exists()  # opening the link (a mail scanner) changes nothing
    done = anonymous.post(path, {"scope": "course"})
    assert done.status_code == 200 and b"no longer receive the weekly digest" in done.content
    settings.ASPECTS_DIGEST_SKIP_QUIET_COURSES = False  # week 47 has no activity: send it anyway
    smtp.messages.clear()
    assert DigestRun(WEEK.__class__(2026, 47)).run().sent == 2
    assert set(received(smtp)) == RECIPIENTS - {"staff@example.com"}


def test_unsubscribing_from_all_digests_stops_every_course_and_a_forged_link_does_nothing(course, smtp, settings):
    settings.ASPECTS_DIGEST_SKIP_QUIET_COURSES = False
    digest_on_for_org("DigestX")  # both courses of the org
    DigestRun(WEEK).run()
    assert per_recipient(smtp)["org_staff@example.com"] == 2  # org staff: both courses
    path = unsubscribe_path(received(smtp)["org_staff@example.com"][0])
    forged = path.replace(path.rstrip("/").rsplit(":", 1)[1], "x" * 43)
    assert Client().post(forged, {"scope": "all"}).status_code == 400
    assert not DigestOptOut.objects.exists()
    assert Client().post(path, {"scope": "all"}).status_code == 200
    one_click = unsubscribe_path(received(smtp)["instructor@example.com"][0])
    assert Client().post(one_click, "List-Unsubscribe=One-Click",
                         content_type="application/x-www-form-urlencoded").status_code == 200
    smtp.messages.clear()
    DigestRun(WEEK.__class__(2026, 47)).run()
    got = per_recipient(smtp)
    assert "org_staff@example.com" not in got
    assert got["other_staff@example.com"] == 1 and got["staff@example.com"] == 1  # the other course's staff too
    assert "instructor@example.com" not in got


def test_with_smtp_down_the_digest_goes_out_once_smtp_is_back_exactly_once(course, settings):
    """A real Celery worker: the task meets a closed port, retries on its own, and delivers after."""
    digest_on()
    reserved = reserve_port()
    port = reserved.getsockname()[1]
    with real_worker(env={"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port), "ASPECTS_DIGEST_RETRY_SECS": "1"}):
        send_course_digests.apply_async(kwargs={"week": str(WEEK)}, queue=settings.ASPECTS_CELERY_QUEUE)
        assert wait_for(lambda: DigestDelivery.objects.filter(status=DigestDelivery.RETRY).exists(), timeout=60)
        assert not DigestDelivery.objects.filter(status=DigestDelivery.SENT).exists()
        with smtp_server(port=port, reserved=reserved) as (inbox, _):
            inbox.wait_for(3, timeout=60)
            assert wait_for(lambda: DigestDelivery.objects.filter(status=DigestDelivery.SENT).count() == 3, timeout=60)
            assert per_recipient(inbox) == dict.fromkeys(RECIPIENTS, 1)
            again = DigestRun(WEEK).run()  # what any later retry would do
            assert again.sent == 0 and per_recipient(inbox) == dict.fromkeys(RECIPIENTS, 1)
    first = DigestDelivery.objects.order_by("claimed_at").first()
    assert first.attempts >= 2 and first.last_error == ""


@pytest.mark.parametrize("batch_size", [1, 100])  # each course read alone, or a busy and a quiet one together
def test_a_course_without_activity_sends_nothing_unless_configured(course, smtp, settings, batch_size):
    settings.ASPECTS_DIGEST_BATCH_SIZE = batch_size
    digest_on(OTHER_COURSE)
    digest_on()
    busy_before = DigestRun(WEEK.__class__(2026, 47)).run()  # the synthetic course was busy the week before only
    assert (busy_before.sent, busy_before.quiet) == (0, 2) and not smtp.messages
    report = DigestRun(WEEK).run()
    assert (report.sent, report.quiet) == (3, 1) and set(received(smtp)) == RECIPIENTS
    assert not DigestDelivery.objects.filter(course_key=OTHER_COURSE).exists()
    settings.ASPECTS_DIGEST_SKIP_QUIET_COURSES = False
    smtp.messages.clear()
    assert DigestRun(WEEK).run().sent == 2  # the other course: org staff and its own staff
    assert set(received(smtp)) == {"org_staff@example.com", "other_staff@example.com"}
    assert "New enrollments: 0 (previous week: 0)" in text_of(received(smtp)["other_staff@example.com"][0])


def test_the_digest_is_off_by_default_and_course_overrides_beat_org_overrides(course, smtp):
    assert DigestRun(WEEK).run().courses == 0 and not smtp.messages
    digest_on_for_org("DigestX")
    digest_on(OTHER_COURSE, on=False)
    report = DigestRun(WEEK).run()
    assert report.courses == 1 and set(received(smtp)) == RECIPIENTS


def test_names_only_with_pii_on_and_a_retired_learner_never_appears(course, smtp, settings):
    digest_on()
    retired = course.people["R"]
    DigestRun(WEEK).run()
    without_pii = text_of(received(smtp)["instructor@example.com"][0])
    assert "Ada Lovelace" not in without_pii and "learner_l2" not in without_pii
    assert f"#{retired.id}:" not in without_pii
    assert f"#{course.people['L2'].id}: inactive 12 days" in without_pii
    settings.ASPECTS_ENABLE_PII = True
    smtp.messages.clear()
    DigestRun(WEEK.__class__(2026, 46)).run()  # same week: nothing new
    assert not smtp.messages
    DigestDelivery.objects.all().delete()
    DigestRun(WEEK).run()
    with_pii = text_of(received(smtp)["instructor@example.com"][0])
    assert "Ada Lovelace: inactive 12 days; grade 0.30, below 0.50" in with_pii
    for message in (m for _, m in smtp.messages):
        whole = text_of(message) + message.get_body(("html",)).get_content()
        assert f"#{retired.id}:" not in whole and "Learner R" not in whole and "learner_r@" not in whole


def test_a_recipient_the_server_refuses_is_failed_for_good_and_the_others_get_theirs(course, settings):
    digest_on()
    with smtp_server(refuse={"staff@example.com"}) as (inbox, port):
        settings.ASPECTS_DIGEST_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        report = DigestRun(WEEK).run()
        assert (report.sent, report.failed, report.retry) == (2, 1, 0)
        refused = DigestDelivery.objects.get(status=DigestDelivery.FAILED)
        assert refused.user.email == "staff@example.com" and "550" in refused.last_error
        assert DigestRun(WEEK).run().sent == 0
        assert set(received(inbox)) == RECIPIENTS - {"staff@example.com"}
    out = io.StringIO()
    call_command("send_course_digests", "--week", str(WEEK), "--list-failed", stdout=out)
    assert f"user {refused.user_id}\tfailed" in out.getvalue() and "550" in out.getvalue()


def test_a_claim_left_by_a_dead_run_is_taken_over_after_the_timeout_only(course, smtp):
    digest_on()
    staff = course.people["staff"]
    row = DigestDelivery.objects.create(course_key=COURSE, week=str(WEEK), user=staff, claim="dead")
    assert DigestRun(WEEK).run().sent == 2  # a fresh claim belongs to a run still sending
    DigestDelivery.objects.filter(id=row.id).update(claimed_at=timezone.now() - timedelta(hours=2))
    assert DigestRun(WEEK).run().sent == 1
    assert per_recipient(smtp) == dict.fromkeys(RECIPIENTS, 1)


def test_each_recipient_reads_the_digest_in_their_language(course, smtp, french):  # noqa: F811
    digest_on()
    UserPreference.objects.create(user=course.people["instructor"], key="pref-lang", value="fr")
    UserPreference.objects.create(user=course.people["staff"], key="pref-lang", value="xx-unknown")
    DigestRun(WEEK).run()
    french_text = text_of(received(smtp)["instructor@example.com"][0])
    assert "Nouvelles inscriptions: 5 (semaine précédente: 2)" in french_text
    assert '<html lang="fr"' in received(smtp)["instructor@example.com"][0].get_body(("html",)).get_content()
    assert "New enrollments: 5 (previous week: 2)" in text_of(received(smtp)["staff@example.com"][0])


def test_the_command_dry_run_preview_and_bad_input(course, smtp, capsys):
    digest_on()
    call_command("send_course_digests", "--week", str(WEEK), "--dry-run")
    out = capsys.readouterr().out
    assert all(f"would send {COURSE} to {address}" in out for address in RECIPIENTS)
    assert not smtp.messages and not DigestDelivery.objects.exists()
    call_command("send_course_digests", "--week", str(WEEK), "--course", OTHER_COURSE, "--to", "me@example.com")
    assert not smtp.messages  # the other course is quiet: nothing to preview
    call_command("send_course_digests", "--week", str(WEEK), "--course", COURSE, "--to", "me@example.com")
    [(rcpt, preview)] = smtp.messages
    assert rcpt == ["me@example.com"] and preview["List-Unsubscribe"] is None
    assert not DigestDelivery.objects.exists()
    with pytest.raises(CommandError, match="not a course key"):
        call_command("send_course_digests", "--course", "nonsense")
    with pytest.raises(CommandError, match="no ISO week 54"):
        call_command("send_course_digests", "--week", "2026-W54")


def test_with_clickhouse_down_nothing_is_claimed_and_the_next_run_sends_everything(course, smtp, clickhouse_server):
    from .clickhouse_server import TEST_DATABASE, point_settings_at  # pylint: disable=import-outside-toplevel

    digest_on()
    dead = reserve_port()
    try:
        point_settings_at(f"http://127.0.0.1:{dead.getsockname()[1]}", TEST_DATABASE, retries=0)
        report = DigestRun(WEEK).run()
        assert report.clickhouse_down and report.needs_retry and report.sent == 0
        assert not smtp.messages and not DigestDelivery.objects.exists()
        with pytest.raises(CommandError, match="ClickHouse unavailable"):
            call_command("send_course_digests", "--week", str(WEEK))
    finally:
        dead.close()
        point_settings_at(clickhouse_server, TEST_DATABASE)
    assert DigestRun(WEEK).run().sent == 3
    assert per_recipient(smtp) == dict.fromkeys(RECIPIENTS, 1)


def test_an_address_smtp_cannot_take_fails_that_digest_only(course, smtp):
    digest_on()
    staff = course.people["staff"]
    staff.email = "two@signs@example.com"
    staff.save()
    report = DigestRun(WEEK).run()
    assert (report.sent, report.failed) == (2, 1)
    assert DigestDelivery.objects.get(user=staff).status == DigestDelivery.FAILED
    assert set(received(smtp)) == RECIPIENTS - {"staff@example.com"}

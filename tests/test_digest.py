"""
The weekly course digest end to end: the synthetic course of ``digest_course`` in the stand-in LMS
and the real ClickHouse, a real SMTP server on loopback, and assertions on the MIME messages it
received.
"""

import io
import re

import pytest
from PIL import Image

from platform_plugin_aspects.digest.sending import DigestRun

from .digest_course import COURSE, EXPECTED, NOT_RECIPIENTS, RECIPIENTS, WEEK, SyntheticCourse, digest_on
from .sink_helpers import enable_all
from .smtp_server import smtp_server

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

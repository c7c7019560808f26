"""
The course digest part of ``aspects_demo``: the demo course's weekly digest for its instructor,
sent by the real sending path (claim in the LMS database, SMTP) to an SMTP server on loopback, and
written as ``.eml`` (open it in any mail client) and as HTML (open it in a browser) under ``var/``.
"""

from pathlib import Path

from django.contrib.auth.models import User
from django.test import override_settings
from opaque_keys.edx.keys import CourseKey

from platform_plugin_aspects.digest.sending import DigestRun
from platform_plugin_aspects.digest.weeks import Week
from platform_plugin_aspects.models import DigestDelivery
from platform_plugin_aspects.waffle import COURSE_DIGEST_FLAG
from tests.lms.student.models import CourseAccessRole
from tests.lms.waffle_utils.models import WaffleFlagCourseOverrideModel
from tests.smtp_server import smtp_server


def run_digest_demo(stdout, course_key, out_dir):
    """Mail last week's digest of ``course_key`` to a demo instructor; write it under ``out_dir``."""
    key = CourseKey.from_string(str(course_key))
    instructor, _ = User.objects.get_or_create(username="demo_instructor",
                                               defaults={"email": "demo_instructor@example.com"})
    CourseAccessRole.objects.get_or_create(user=instructor, org=key.org, course_id=key, role="instructor")
    if WaffleFlagCourseOverrideModel.override_value(COURSE_DIGEST_FLAG, key) != "on":
        WaffleFlagCourseOverrideModel.objects.create(waffle_flag=COURSE_DIGEST_FLAG, course_id=key,
                                                     override_choice="on", enabled=True)
    week = Week.last_complete()
    # A digest goes out once per week: forget the demo's own earlier one so a rerun shows it again.
    DigestDelivery.objects.filter(course_key=str(key), week=str(week), user=instructor).delete()
    with smtp_server() as (inbox, port), override_settings(
            ASPECTS_DIGEST_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1", EMAIL_PORT=port, ASPECTS_DIGEST_SKIP_QUIET_COURSES=False):
        report = DigestRun(week, [str(key)]).run()
        inbox.wait_for(report.sent, timeout=30)
    [message] = inbox.to(instructor.email)
    out = Path(out_dir) / "digest"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{key.org}-{key.course}-{week}"
    eml, html_file, png_file = out / f"{stem}.eml", out / f"{stem}.html", out / f"{stem}-chart.png"
    eml.write_bytes(message.as_bytes())
    [image] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    png_file.write_bytes(image.get_content())
    cid = image["Content-ID"].strip("<>")
    html_file.write_text(message.get_body(("html",)).get_content().replace(f"cid:{cid}", png_file.name),
                         encoding="utf-8")
    stdout.write(f"\nWeekly digest of {key} for {week} (send_course_digests, real SMTP on loopback port {port}): "
                 f"{report.sent} sent to {', '.join(sorted({a for rcpt, _ in inbox.messages for a in rcpt}))}\n"
                 f"  Subject: {str(message['Subject']).strip()}\n"
                 f"  email: {eml.resolve()}\n  HTML:  {html_file.resolve()} (chart: {png_file.name})\n")

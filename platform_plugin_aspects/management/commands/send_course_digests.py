"""``manage.py lms send_course_digests``: mail (or preview) the weekly course digests now."""

from django.core.management.base import BaseCommand, CommandError

from ...digest.sending import DigestRun, SmtpDown
from ...digest.weeks import Week
from ...models import DigestDelivery
from ...platform import course_key_from_text
from ..arguments import RawHelpMixin


def _week(text):
    import argparse  # pylint: disable=import-outside-toplevel

    try:
        return Week.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(RawHelpMixin, BaseCommand):
    help = (
        "Mail the weekly course digest to the staff and instructors of every course whose digest is on "
        "(waffle flag aspects.course_digest.enabled, with course or org overrides).\n\n"
        "The Celery task platform_plugin_aspects.tasks.send_course_digests does the same on a schedule. "
        "Each digest goes out once per course, week and person, however often this runs: run it again "
        "after an SMTP outage and only what was not sent goes out. Courses with no activity in the week "
        "send nothing (ASPECTS_DIGEST_SKIP_QUIET_COURSES).\n\n"
        "Examples:\n"
        "  manage.py lms send_course_digests                          # last week's digests, every enabled course\n"
        "  manage.py lms send_course_digests --dry-run                # who would get one, and the figures cost\n"
        "  manage.py lms send_course_digests --course course-v1:Org+X+2026 --to me@example.com  # a preview\n"
        "  manage.py lms send_course_digests --week 2026-W48          # a given ISO week (catch up)\n"
        "  manage.py lms send_course_digests --list-failed            # digests SMTP refused for good"
    )

    def add_arguments(self, parser):
        parser.add_argument("--course", action="append", metavar="KEY", dest="courses",
                            help="only this course (repeat for several); the flag must still be on, except "
                                 "with --to")
        parser.add_argument("--dry-run", action="store_true",
                            help="compute the figures and list recipients; send nothing, record nothing")
        parser.add_argument("--to", metavar="EMAIL",
                            help="send each course's digest to this address only (a preview: no unsubscribe "
                                 "link, nothing recorded, the flag ignored)")
        parser.add_argument("--week", type=_week, metavar="YYYY-Www",
                            help="ISO week to report on (default: the last complete week, Monday to Sunday UTC)")
        parser.add_argument("--list-failed", action="store_true",
                            help="show digests marked failed (or waiting for a retry), with the SMTP error")

    def handle(self, *args, **options):
        week = options["week"] or Week.last_complete()
        if options["list_failed"]:
            rows = DigestDelivery.objects.filter(status__in=[DigestDelivery.FAILED, DigestDelivery.RETRY])
            for row in rows.filter(week=str(week)).order_by("course_key", "user_id"):
                self.stdout.write(f"{row.week}\t{row.course_key}\tuser {row.user_id}\t{row.status}\t"
                                  f"attempts {row.attempts}\t{row.last_error}")
            return
        try:
            for key in options["courses"] or ():
                course_key_from_text(key)
            run = DigestRun(week, options["courses"], dry_run=options["dry_run"], to=options["to"])
            report = run.run()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except SmtpDown as exc:
            raise CommandError(f"SMTP unavailable: {exc}") from exc
        for course_key, reason in report.errors:
            self.stderr.write(f"{course_key}: figures not read: {reason}")
        for course_key, email, language in report.planned:
            self.stdout.write(f"would send {course_key} to {email} ({language})")
        self.stdout.write(
            f"{week}: {report.courses} courses with the digest on, figures read for {report.computed} "
            f"({report.quiet} quiet, skipped) in {report.read_secs:.1f} s; sent {report.sent}, to retry "
            f"{report.retry}, failed {report.failed}")
        if report.clickhouse_down:
            raise CommandError(f"ClickHouse unavailable, the remaining courses were not sent; run again later "
                               f"(what was sent is not sent twice): {report.clickhouse_down}")
        if report.needs_retry:
            raise CommandError("SMTP did not take every digest; run again later (only those will be sent)")
        if report.errors:
            raise CommandError(f"{len(report.errors)} course(s) had no digest (see above)")

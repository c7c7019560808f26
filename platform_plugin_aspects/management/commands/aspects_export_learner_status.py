"""``manage.py lms aspects_export_learner_status``: a course's learner status (at-risk flag and reasons) as CSV."""

import contextlib
import csv
import io
import os
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ... import analytics
from ...clickhouse import ClickHouseError
from ..arguments import RawHelpMixin, positive_int
from ..options import add_connection_arguments, clickhouse_for

IDENTITY_FIELDS = ("username", "name", "email")


def _as_of(text):
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None


# A cell a spreadsheet would run as a formula: a learner may name themselves "=HYPERLINK(...)".
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_value(value):
    """
    A value as a spreadsheet should read it: '' for none, true/false, ISO 8601 times and days, and
    text that would start a formula kept as text (a leading apostrophe, which spreadsheets hide).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_rows(records):
    """
    The rows of ``records`` as :func:`csv_value` writes them, converted a column at a time: numbers
    (and None, which the csv module writes as '') pass as they are, so a MOOC's 50,000 learners
    do not cost a Python call per value.
    """
    columns = []
    for column in zip(*records):
        kinds = set(map(type, column)) - {type(None)}
        if kinds <= {int, float}:
            columns.append(column)
        else:
            columns.append(list(map(csv_value, column)))
    return zip(*columns)


class Command(RawHelpMixin, BaseCommand):
    help = (
        "Write one course's learner status as CSV: every enrollment (active or not) with its mode, last "
        "activity, active days in the past 7 and 30 days, grade, problems and videos, and the at-risk flag "
        "with its reasons, as the Reports tab and the weekly digest compute them "
        "(docs/reference/analytics.rst). With ASPECTS_ENABLE_PII on, each row also carries the learner's "
        "username, name and email; otherwise learners are user ids only.\n\n"
        "Reads the course analytics model a page of learners at a time, so memory stays bounded on a MOOC. "
        "With --output, the file appears only once complete: an export that fails or is interrupted "
        "leaves any earlier file of that name as it was; the file is readable by its owner only. "
        "Text a spreadsheet would run as a formula "
        "(a name starting with =, +, - or @) is written with a leading apostrophe.\n\n"
        "Examples:\n"
        "  manage.py lms aspects_export_learner_status --course course-v1:OpenedX+DemoX+2026 > status.csv\n"
        "  manage.py lms aspects_export_learner_status --course course-v1:OpenedX+DemoX+2026 --at-risk-only "
        "--output at-risk.csv\n"
        "  manage.py lms aspects_export_learner_status --course course-v1:OpenedX+DemoX+2026 --as-of 2026-11-30"
    )

    def add_arguments(self, parser):
        parser.add_argument("--course", required=True, help="the course key, e.g. course-v1:OpenedX+DemoX+2026")
        parser.add_argument("--output", help="write to this file instead of standard output")
        parser.add_argument("--as-of", help="status as of this day (YYYY-MM-DD, UTC; default today)")
        parser.add_argument("--at-risk-only", action="store_true", help="only the learners at risk")
        parser.add_argument("--page-size", type=positive_int, default=10_000,
                            help="learners read per query (default 10000)")
        add_connection_arguments(parser)

    def handle(self, *args, **options):
        as_of = _as_of(options["as_of"]) if options["as_of"] else None
        clickhouse = clickhouse_for(options)
        try:
            pages = analytics.learner_status_pages(options["course"], as_of, options["page_size"], clickhouse)
        except ValueError as exc:
            raise CommandError(f"--course: {exc}") from None
        started = time.monotonic()
        output = options["output"]
        try:
            if output:
                read, written = self._to_file(Path(output), options["course"], pages, options["at_risk_only"],
                                              clickhouse)
            else:
                read, written = self._write(self.stdout, options["course"], pages, options["at_risk_only"],
                                            clickhouse)
        except BrokenPipeError:
            # The reader went away (`... | head`): what it wanted was written; stop without a traceback
            # (and without another one when Python flushes standard output on the way out).
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        except ClickHouseError as exc:
            raise CommandError(f"{exc} (nothing was written to {output})" if output else str(exc)) from exc
        where = f" to {output}" if output else ""
        note = ("" if written else f" (none of the {read:,} learners read is at risk)" if read
                else " (none: is the course key right, and its enrollments sent to ClickHouse?)")
        self.stderr.write(f"Exported {written:,} learners of {options['course']}{where} in "
                          f"{time.monotonic() - started:.1f} s{note}")

    def _to_file(self, path, course_key, pages, at_risk_only, clickhouse):
        """
        Write a file of its own next to ``path`` and rename it when complete, so ``path`` is never
        a partial export and two exports at once never write into each other. Readable by its owner
        only (mkstemp's mode), as an export may hold learners' names and emails.
        """
        try:
            descriptor, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
        try:
            with open(descriptor, "w", encoding="utf-8", newline="") as out:
                counts = self._write(out, course_key, pages, at_risk_only, clickhouse)
            os.replace(partial, path)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return counts

    @staticmethod
    def _write(out, course_key, pages, at_risk_only, clickhouse):
        """
        The header, then each page's rows (with the identities of the page's learners when PII is
        on); ``(learners read, learners written)``.
        """
        with_identities = bool(getattr(settings, "ASPECTS_ENABLE_PII", False))
        out.write(_csv_text([analytics.LearnerStatus._fields + (IDENTITY_FIELDS if with_identities else ())]))
        read = written = 0
        for page in pages:
            read += len(page)
            rows = [record for record in page if record.at_risk or not at_risk_only]
            if not rows:
                continue
            if with_identities:
                identities = analytics.learner_identities(course_key, [r.user_id for r in rows], clickhouse)
                rows = [record + tuple(getattr(identities.get(record.user_id), field, None)
                                       for field in IDENTITY_FIELDS) for record in rows]
            out.write(_csv_text(csv_rows(rows)))
            written += len(rows)
        return read, written


def _csv_text(rows):
    """``rows`` as CSV text (one write per page: standard output may be a pipe)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()

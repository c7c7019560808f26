"""
Sending the week's digests: each (course, week, recipient) claimed in the LMS database, then mailed.

A digest goes out at most once per course, week and recipient, however many runs overlap:

1. A run inserts a ``DigestDelivery`` row (unique on course, week, user) *before* it talks to SMTP.
   The insert commits at once; a second run, or another worker at the same moment, hits the unique
   constraint and moves on. A row may also be taken over with one conditional UPDATE (only one
   updater can match) when it is due for a retry, or when its claimer died (claimed longer than
   ASPECTS_DIGEST_CLAIM_TIMEOUT_SECS ago).
2. SMTP accepts: the row becomes ``sent``. SMTP is down or answers 4xx: ``retry``, due after
   ASPECTS_DIGEST_RETRY_SECS (doubled per attempt); the Celery task schedules its own retry and the
   next run sends it. The recipient refused with 5xx, or ASPECTS_DIGEST_MAX_ATTEMPTS used up:
   ``failed``, listed by ``send_course_digests --list-failed``.

The only duplicate left possible is a worker killed between SMTP's acceptance and step 2's update
(milliseconds); its copy carries the same Message-ID. Figures are read from ClickHouse only for a
course that still has someone to mail this week, so a second run costs a few LMS queries per course.
"""

import logging
import smtplib
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from ..clickhouse import ClickHouseError, ClickHouseUnavailable
from ..models import DigestDelivery
from ..platform import course_key_from_text, get_model
from .content import assemble, fetch_figures_batch
from .message import Renderer
from .recipients import course_recipients, digest_enabled, languages

log = logging.getLogger(__name__)

MAX_RETRY_SECS = 6 * 3600


def retry_delay(attempts):
    """Seconds before attempt ``attempts + 1`` of a digest SMTP did not take."""
    return min(float(settings.ASPECTS_DIGEST_RETRY_SECS) * 2 ** max(attempts - 1, 0), MAX_RETRY_SECS)


@dataclass
class RunReport:
    """What one run did, for the command's output, the task's retry decision and the benchmark."""

    week: object
    courses: int = 0  # courses whose digest is on (or named)
    computed: int = 0  # courses whose figures were read from ClickHouse
    quiet: int = 0  # courses skipped for no activity
    sent: int = 0
    retry: int = 0  # SMTP failures, to be tried again
    failed: int = 0
    planned: list = field(default_factory=list)  # dry run: (course_key, email, language)
    read_secs: float = 0.0  # reading figures from ClickHouse, every batch together

    smtp_down: bool = False  # the run stopped early: SMTP could not be reached
    clickhouse_down: str = ""  # the run stopped early: ClickHouse could not be reached (the error)
    errors: list = field(default_factory=list)  # (course_key, reason): courses whose figures could not be read

    @property
    def needs_retry(self):
        """Some digest is still to be sent: run again after the retry delay."""
        return self.retry > 0 or self.smtp_down or bool(self.clickhouse_down)


class SmtpDown(Exception):
    """The SMTP server cannot be reached: stop sending in this run, retry later."""


class DigestRun:
    """One pass over the courses for one week (the Celery task and the command both use it)."""

    def __init__(self, week, course_keys=None, dry_run=False, to=None, now=None):
        self.week = week
        self.course_keys = course_keys
        self.dry_run = dry_run
        self.to = to
        self.now = now or timezone.now()
        self.claim_token = uuid.uuid4().hex
        self.report = RunReport(week)
        self._connection = None
        self._smtp_down = False

    # -- which courses ----------------------------------------------------------------------
    def courses(self):
        """Course keys to consider: the named ones, or every course the LMS knows, whose digest is on."""
        if self.course_keys:
            keys = [course_key_from_text(key) for key in self.course_keys]
        else:
            overviews = get_model("course_overviews")
            keys = [] if overviews is None else list(overviews.objects.order_by("id").values_list("id", flat=True))
        preview = self.to is not None
        return [key for key in keys if preview or digest_enabled(key)]

    def run(self):
        """
        Send (or plan) every due digest of the week; returns the RunReport.

        Figures are read for ASPECTS_DIGEST_BATCH_SIZE courses at a time, one query per figure for
        the whole batch, in a second thread: while it reads the next batch, this thread does the LMS
        work, renders, claims and sends the current one, course after course.
        """
        pending = deque()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aspects-digest") as pool:
            try:
                for batch in self._due_batches():
                    pending.append((batch, pool.submit(self._fetch, [key for key, _ in batch])))
                    if len(pending) > 1:
                        self._finish_batch(*pending.popleft())
                    if self._stopped:
                        break  # the rest waits for the retry
                while pending and not self._stopped:
                    self._finish_batch(*pending.popleft())
            finally:
                for _, future in pending:
                    future.cancel()
                self._close()
        return self.report

    def _due_batches(self):
        """Lists of (course key, recipients still due), ASPECTS_DIGEST_BATCH_SIZE courses long."""
        size = max(int(settings.ASPECTS_DIGEST_BATCH_SIZE), 1)
        batch = []
        for due in self._due_courses():
            batch.append(due)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    @property
    def _stopped(self):
        return self._smtp_down or bool(self.report.clickhouse_down)

    def _due_courses(self):
        """(course key, recipients still due) for each course with someone to mail (recipients None: --to)."""
        for course_key in self.courses():
            self.report.courses += 1
            if self.to is not None:
                yield course_key, None
                continue
            recipients = self.due(course_key, course_recipients(course_key))
            if recipients:
                yield course_key, recipients

    def _fetch(self, course_keys):
        """``({course_key: Figures or None, or the exception that stopped it}, seconds)`` for a batch."""
        started = time.perf_counter()
        skip_quiet = settings.ASPECTS_DIGEST_SKIP_QUIET_COURSES
        try:
            figures = fetch_figures_batch(course_keys, self.week, skip_quiet=skip_quiet)
        except ClickHouseUnavailable:
            raise
        except (ClickHouseError, ValueError):
            if len(course_keys) == 1:
                raise
            figures = {}  # a query of the batch was refused: one course at a time, to find the culprit
            for key in course_keys:
                try:
                    figures.update(fetch_figures_batch([key], self.week, skip_quiet=skip_quiet))
                except (ClickHouseError, ValueError) as exc:
                    figures[str(key)] = exc
        return figures, time.perf_counter() - started

    # -- one batch, one course --------------------------------------------------------------
    def _finish_batch(self, batch, future):
        """Mail each course's digest of ``batch`` once the batch's figures are in."""
        try:
            figures, seconds = future.result()
        except ClickHouseUnavailable as exc:
            self.report.clickhouse_down = str(exc)
            log.warning("Course digests for %s stopped, ClickHouse is unavailable: %s", self.week, exc)
            return
        except (ClickHouseError, ValueError) as exc:  # a batch of one course that could not be read
            figures, seconds = {str(batch[0][0]): exc}, 0.0
        self.report.read_secs += seconds
        for course_key, recipients in batch:
            if self._stopped:
                return
            self._finish(course_key, recipients, figures.get(str(course_key)))

    def _finish(self, course_key, recipients, figures):
        """Mail ``course_key``'s digest to each recipient who has not had it."""
        if isinstance(figures, Exception):  # this course only (a query refused, a key the model rejects)
            self.report.errors.append((str(course_key), str(figures)))
            log.error("Course digest of %s for %s not computed: %s", course_key, self.week, figures)
            return
        self.report.computed += 1
        if figures is None:
            self.report.quiet += 1
            return
        digest = assemble(course_key, self.week, figures)
        if recipients is None:  # a --to preview
            if not self.dry_run:
                self._send(Renderer(digest).email(self.to, settings.LANGUAGE_CODE))
                self.report.sent += 1
            return
        langs = languages(recipients)
        if self.dry_run:
            self.report.planned += [(str(course_key), user.email, langs[user.id]) for user in recipients]
            return
        renderer = Renderer(digest)
        for user in recipients:
            if self._smtp_down:
                return
            row = self.claim(course_key, user)
            if row is not None:
                self._deliver(row, renderer.email(user.email, langs[user.id], user.id))

    def due(self, course_key, recipients):
        """The recipients whose digest this run may claim (no row yet, or one this run can take over)."""
        rows = DigestDelivery.objects.filter(course_key=str(course_key), week=str(self.week),
                                             user_id__in=[user.id for user in recipients])
        blocked = set(rows.exclude(self._claimable()).values_list("user_id", flat=True))
        return [user for user in recipients if user.id not in blocked]

    def _claimable(self):
        stale = self.now - timedelta(seconds=settings.ASPECTS_DIGEST_CLAIM_TIMEOUT_SECS)
        return (Q(status=DigestDelivery.RETRY, next_attempt_at__lte=self.now)
                | Q(status=DigestDelivery.CLAIMED, claimed_at__lt=stale))

    def claim(self, course_key, user):
        """The row this run now holds for (course, week, user), or None when another run has it."""
        key = {"course_key": str(course_key), "week": str(self.week), "user_id": user.id}
        try:
            with transaction.atomic():
                return DigestDelivery.objects.create(**key, claim=self.claim_token, claimed_at=timezone.now())
        except IntegrityError:
            pass
        taken = DigestDelivery.objects.filter(self._claimable(), **key).update(
            status=DigestDelivery.CLAIMED, claim=self.claim_token, claimed_at=timezone.now(),
            attempts=F("attempts") + 1)
        return DigestDelivery.objects.get(**key) if taken else None

    # -- SMTP -------------------------------------------------------------------------------
    def _deliver(self, row, email):
        """Send one claimed digest and record the outcome on its row (only while this run holds it)."""
        mine = DigestDelivery.objects.filter(id=row.id, claim=self.claim_token)
        try:
            self._send(email)
        except SmtpDown as exc:
            self._failed(mine, row, exc, permanent=False)
            return
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            self._failed(mine, row, exc, permanent=all(code >= 500 for code in codes))
            return
        except ValueError as exc:  # an address Django cannot even write into a header
            self._failed(mine, row, exc, permanent=True)
            return
        except (smtplib.SMTPException, OSError) as exc:
            self._close()
            self._failed(mine, row, exc, permanent=False)
            return
        mine.update(status=DigestDelivery.SENT, sent_at=timezone.now(), last_error="", next_attempt_at=None)
        self.report.sent += 1

    def _failed(self, mine, row, exc, permanent):
        out_of_attempts = row.attempts >= settings.ASPECTS_DIGEST_MAX_ATTEMPTS
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if permanent or out_of_attempts:
            mine.update(status=DigestDelivery.FAILED, last_error=error, next_attempt_at=None)
            self.report.failed += 1
            log.error("Course digest %s for user %s refused for good: %s", row.course_key, row.user_id, error)
        else:
            mine.update(status=DigestDelivery.RETRY, last_error=error,
                        next_attempt_at=timezone.now() + timedelta(seconds=retry_delay(row.attempts)))
            self.report.retry += 1
            log.warning("Course digest %s for user %s not sent, will retry: %s", row.course_key, row.user_id, error)

    def _send(self, email):
        if self._connection is None:
            backend = getattr(settings, "ASPECTS_DIGEST_EMAIL_BACKEND", None) or settings.EMAIL_BACKEND
            connection = get_connection(backend, fail_silently=False)
            try:
                connection.open()
            except (smtplib.SMTPException, OSError) as exc:
                self._smtp_down = self.report.smtp_down = True
                raise SmtpDown(str(exc) or type(exc).__name__) from exc
            self._connection = connection
        try:
            self._connection.send_messages([email])
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError) as exc:
            self._close()
            self._smtp_down = self.report.smtp_down = True
            raise SmtpDown(str(exc) or type(exc).__name__) from exc

    def _close(self):
        if self._connection is not None:
            try:
                self._connection.close()
            except (smtplib.SMTPException, OSError):
                pass
            self._connection = None

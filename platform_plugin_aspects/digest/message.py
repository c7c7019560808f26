"""
The digest email for one recipient: plain text and HTML (with the chart inline), in their language.

MIME layout: multipart/alternative [text/plain, multipart/related [text/html, image/png]], so mail
clients that show HTML find the chart by its Content-ID, and those that do not show the text part,
which carries every figure the chart does. The Message-ID is derived from (course, week, user): in
the rare case a digest is sent twice (a worker killed between SMTP's acceptance and recording it),
mail clients file both copies as one message.
"""

import hashlib
from email.mime.image import MIMEImage
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import dateformat, translation
from django.utils.translation import gettext as _

from .chart import weekly_chart
from .unsubscribe import unsubscribe_url

CHART_CID = "weekly-active-learners"


class DigestEmail(EmailMultiAlternatives):
    """EmailMultiAlternatives whose HTML alternative carries inline images (``related``: [(cid, png)])."""

    def __init__(self, *args, related=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.related = list(related)

    def message(self):
        """Wrap the HTML part and the images in a multipart/related, inside the alternative."""
        msg = super().message()
        if not self.related:
            return msg
        from django.core.mail.message import SafeMIMEMultipart  # pylint: disable=import-outside-toplevel

        for container in msg.walk():
            if container.get_content_type() != "multipart/alternative":
                continue
            parts = container.get_payload()
            for index, part in enumerate(parts):
                if part.get_content_type() == "text/html":
                    related = SafeMIMEMultipart(_subtype="related", encoding=self.encoding or settings.DEFAULT_CHARSET)
                    related.attach(part)
                    for cid, png in self.related:
                        image = MIMEImage(png, "png")
                        image.add_header("Content-ID", f"<{cid}>")
                        image.add_header("Content-Disposition", "inline", filename=f"{cid}.png")
                        related.attach(image)
                    parts[index] = related
            break
        return msg


def sender():
    """The From address of the digests."""
    return getattr(settings, "ASPECTS_DIGEST_FROM_EMAIL", None) or settings.DEFAULT_FROM_EMAIL


def reports_url(course_key):
    """The Reports tab of the course (ASPECTS_DIGEST_REPORTS_URL)."""
    return settings.ASPECTS_DIGEST_REPORTS_URL.format(
        lms_root_url=getattr(settings, "LMS_ROOT_URL", "").rstrip("/"), course_id=course_key)


def message_id(digest, user_id):
    """The same Message-ID for every copy of one digest."""
    domain = parseaddr(sender())[1].rpartition("@")[2] or "localhost"
    course = hashlib.sha256(digest.course_key.encode()).hexdigest()[:16]
    return f"<aspects-digest.{digest.week}.{course}.{user_id}@{domain}>"


class Renderer:
    """Renders one course's digest for each recipient; the chart is drawn once per language."""

    def __init__(self, digest):
        self.digest = digest
        self._charts = {}

    def chart(self, language):
        """(png bytes, alt text) of the weekly-active chart, labels in ``language``."""
        if language not in self._charts:
            with translation.override(language):
                points = [(dateformat.format(week.start, "M j"), count) for week, count in self.digest.weekly_active]
                alt = _("Bar chart of weekly active learners over the last {weeks} weeks: {values}.").format(
                    weeks=len(points), values="; ".join(
                        _("week of {date}: {count}").format(date=label, count=count) for label, count in points))
            self._charts[language] = (weekly_chart(points), alt)
        return self._charts[language]

    def email(self, to_address, language, user_id=None):
        """The DigestEmail for ``to_address``; ``user_id`` None (a --to preview) leaves out the unsubscribe link."""
        digest = self.digest
        png, alt = self.chart(language)
        with translation.override(language):
            context = {
                "d": digest,
                "LANGUAGE_CODE": language,
                "LANGUAGE_BIDI": translation.get_language_bidi(),
                "week_start": dateformat.format(digest.week.start, "N j, Y"),
                "reports_url": reports_url(digest.course_key),
                "unsubscribe_url": unsubscribe_url(user_id, digest.course_key) if user_id else "",
                "chart_cid": CHART_CID,
                "chart_alt": alt,
                "pii": bool(getattr(settings, "ASPECTS_ENABLE_PII", False)),
            }
            # One line, whatever the course is called: a line break in a header would end it there.
            subject = " ".join(_("Weekly digest for the week of {date} — {course}").format(
                course=digest.course_name, date=context["week_start"]).split())
            text = render_to_string("platform_plugin_aspects/digest_email.txt", context)
            html = render_to_string("platform_plugin_aspects/digest_email.html", {**context, "subject": subject})
        headers = {"Message-ID": message_id(digest, user_id or 0), "Auto-Submitted": "auto-generated",
                   "Content-Language": language}
        if user_id:
            headers["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email = DigestEmail(subject=subject, body=text, from_email=sender(), to=[to_address], headers=headers,
                            related=[(CHART_CID, png)])
        email.attach_alternative(html, "text/html")
        return email

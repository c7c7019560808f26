"""
The digest email itself, rendered from figures given by hand: both parts, the chart as an inline PNG,
what a screen reader needs, the recipient's language, and the signed unsubscribe link.
"""

import email
import email.policy
import io
import subprocess
from pathlib import Path

import pytest
from django.utils.translation import trans_real
from PIL import Image

from platform_plugin_aspects.digest.content import AtRiskLearner, BlockFigure, Change, CourseDigest
from platform_plugin_aspects.digest.message import CHART_CID, Renderer
from platform_plugin_aspects.digest.unsubscribe import make_token, read_token
from platform_plugin_aspects.digest.weeks import Week

CATALOG = Path(__file__).resolve().parents[1] / "platform_plugin_aspects" / "conf" / "locale" / "en" / "LC_MESSAGES"
WEEK = Week(2026, 48)


def sample_digest(**overrides):
    """A digest with distinctive figures (each appears once in the text part)."""
    fields = {
        "course_key": "course-v1:OrgX+Digest+2026", "course_name": "Digest 101 🌍", "week": WEEK,
        "enrollments": Change(17, 11), "unenrollments": Change(3, 5), "active_learners": Change(41, 37),
        "passing_learners": 23, "enrolled_learners": 96, "at_risk_count": 12,
        "at_risk": [AtRiskLearner(501, "Ada Lovelace", 12, "below passing", 0.31, 0.5),
                    AtRiskLearner(502, "", 9, "not graded yet", None, 0.5)],
        "hardest_problems": [BlockFigure("Eigenvalues", "Week 2 › Homework", 0.18, 40),
                             BlockFigure("Fourier", "Week 3 › Quiz", 0.27, 33)],
        "abandoned_video": BlockFigure("Welcome video", "Week 1 › Intro", 0.64, 58),
        "weekly_active": [(WEEK.previous(7 - i), v) for i, v in enumerate([5, 8, 13, 21, 34, 29, 37, 41])],
    }
    return CourseDigest(**{**fields, **overrides})


def parts(digest_email):
    """(parsed message, text, html, image parts) of a rendered DigestEmail, as a mail client parses it."""
    return message_parts(email.message_from_bytes(digest_email.message().as_bytes(), policy=email.policy.default))


def message_parts(message):
    """(message, text, html, image parts) of a parsed message."""
    text = message.get_body(("plain",)).get_content()
    html_part = message.get_body(("html",))
    html = html_part.get_content()
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    return message, text, html, images


def test_the_email_has_a_text_and_an_html_part_with_the_chart_inline(db):
    message, text, html, images = parts(Renderer(sample_digest()).email("staff@example.com", "en", user_id=7))
    assert message.get_content_type() == "multipart/alternative"
    related = [p for p in message.walk() if p.get_content_type() == "multipart/related"]
    assert related and [p.get_content_type() for p in related[0].iter_parts()] == ["text/html", "image/png"]
    for figure in ("New enrollments: 17 (previous week: 11)", "Unenrollments: 3 (previous week: 5)",
                   "Active learners: 41 (previous week: 37)", "Passing learners: 23 of 96 enrolled",
                   "12 learners at risk", "Ada Lovelace: inactive 12 days; grade 0.31, below 0.50",
                   "#502: inactive 9 days; not graded yet", "1. Eigenvalues (Week 2 › Homework): 18% solved",
                   "Welcome video (Week 1 › Intro): 64% of its 58 viewers"):
        assert figure in text, figure
    assert "<td style=\"text-align:right;padding:4px\">17</td>" in html and "Eigenvalues" in html
    (image,) = images
    assert image["Content-ID"] == f"<{CHART_CID}>" and f'src="cid:{CHART_CID}"' in html
    png = image.get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(png)).size == (600, 220)


def test_a_screen_reader_gets_the_language_table_headers_and_the_chart_in_words(db):
    _, _, html, _ = parts(Renderer(sample_digest()).email("staff@example.com", "en", user_id=7))
    assert '<html lang="en" dir="ltr">' in html
    assert html.count('<th scope="col"') >= 7 and html.count('<th scope="row"') >= 7
    alt = html.split('alt="', 1)[1].split('"', 1)[0]
    assert alt.startswith("Bar chart of weekly active learners over the last 8 weeks")
    for value in (5, 8, 13, 21, 34, 29, 37, 41):
        assert f": {value}" in alt


def test_the_unsubscribe_link_and_headers_name_the_recipient_and_course(db):
    message, text, html, _ = parts(Renderer(sample_digest()).email("staff@example.com", "en", user_id=7))
    link = message["List-Unsubscribe"].strip().strip("<>")
    assert link in text and link in html and message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert read_token(token) == (7, "course-v1:OrgX+Digest+2026")
    assert read_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None  # tampered
    assert read_token(make_token(8, "course-v1:OrgX+Digest+2026")) != read_token(token)
    preview, text, _, _ = parts(Renderer(sample_digest()).email("me@example.com", "en"))
    assert preview["List-Unsubscribe"] is None and "/digest/unsubscribe/" not in text
    assert message["Message-ID"] != preview["Message-ID"]
    again, _, _, _ = parts(Renderer(sample_digest()).email("staff@example.com", "en", user_id=7))
    assert again["Message-ID"] == message["Message-ID"]  # copies of one digest thread as one


@pytest.fixture
def french(tmp_path, settings):
    """A French catalog built from ours with a few digest strings translated (compiled with msgfmt)."""
    source = (CATALOG / "django.po").read_text(encoding="utf-8")
    translations = {"New enrollments": "Nouvelles inscriptions", "previous week": "semaine précédente",
                    "Hardest problems": "Problèmes les plus difficiles", "Unsubscribe": "Se désabonner"}
    for msgid, msgstr in translations.items():
        assert f'msgid "{msgid}"\nmsgstr ""' in source, f"{msgid!r} is not in the catalog: make extract_translations"
        source = source.replace(f'msgid "{msgid}"\nmsgstr ""', f'msgid "{msgid}"\nmsgstr "{msgstr}"')
    source = source.replace('"Language: \\n"', '"Language: fr\\n"').replace("#, fuzzy\n", "", 1)
    directory = tmp_path / "fr" / "LC_MESSAGES"
    directory.mkdir(parents=True)
    (directory / "django.po").write_text(source, encoding="utf-8")
    subprocess.run(["msgfmt", "-o", str(directory / "django.mo"), str(directory / "django.po")], check=True)
    settings.LOCALE_PATHS = [str(tmp_path)]
    trans_real._translations = {}  # pylint: disable=protected-access
    yield
    trans_real._translations = {}  # pylint: disable=protected-access


def test_the_email_speaks_the_recipients_language(db, french):
    message, text, html, _ = parts(Renderer(sample_digest()).email("staff@example.com", "fr", user_id=7))
    assert "Nouvelles inscriptions: 17 (semaine précédente: 11)" in text
    assert '<html lang="fr"' in html and "Problèmes les plus difficiles" in html and "Se désabonner" in html
    assert message["Content-Language"] == "fr"
    _, english, _, _ = parts(Renderer(sample_digest()).email("staff@example.com", "en", user_id=7))
    assert "New enrollments: 17 (previous week: 11)" in english


def test_a_course_name_cannot_add_headers_or_markup(db):
    evil = sample_digest(course_name='Evil\r\nBcc: attacker@example.com <script>alert(1)</script>')
    message, text, html, _ = parts(Renderer(evil).email("staff@example.com", "en", user_id=7))
    assert message["Bcc"] is None and "\n" not in message["Subject"] and "Evil Bcc:" in message["Subject"]
    assert "<script>" not in html and "&lt;script&gt;" in html

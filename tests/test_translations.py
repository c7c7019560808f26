"""
The plugin's text is ready for translators: the source catalog holds every marked string, and a
translation reaches what staff see.
"""

import ast
import os
import shutil
import subprocess
from pathlib import Path

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import trans_real

PACKAGE = Path(__file__).resolve().parents[1] / "platform_plugin_aspects"
CATALOG = PACKAGE / "conf" / "locale" / "en" / "LC_MESSAGES" / "django.po"
DJANGO_ADMIN = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "django-admin"


def messages(po_text):
    """``{msgid: msgstr}`` of a .po file's text (the header entry left out)."""
    entries, field, parts = {}, None, {"msgid": [], "msgstr": []}
    for line in po_text.splitlines() + [""]:
        if line.startswith(("msgid ", "msgstr ")):
            field, _, quoted = line.partition(" ")
            if field == "msgid" and parts["msgstr"]:
                entries["".join(parts["msgid"])] = "".join(parts["msgstr"])
                parts = {"msgid": [], "msgstr": []}
            parts[field] = [ast.literal_eval(quoted)]
        elif line.startswith('"') and field:
            parts[field].append(ast.literal_eval(line))
    if parts["msgid"]:
        entries["".join(parts["msgid"])] = "".join(parts["msgstr"])
    entries.pop("", None)
    return entries


def extract(tmp_path):
    """Run `make extract_translations`' makemessages on a copy of the package; returns the new catalog's text."""
    copy = tmp_path / "platform_plugin_aspects"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "static", "conf"))
    (copy / "locale").mkdir()
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}  # as `make` runs it
    done = subprocess.run([str(DJANGO_ADMIN), "makemessages", "-l", "en", "-d", "django"], cwd=copy, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return (copy / "locale" / "en" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")


def test_the_source_catalog_holds_every_marked_string(tmp_path):
    """If this fails, run `make extract_translations` and commit the catalog."""
    committed, current = messages(CATALOG.read_text(encoding="utf-8")), messages(extract(tmp_path))
    assert "Reports" in current and "Loading the dashboard…" in current
    assert sorted(current) == sorted(committed)


def test_a_translation_reaches_the_reports_page(tmp_path, settings):
    """A French catalog built from ours changes what the page says (strings are translated at render time)."""
    source = CATALOG.read_text(encoding="utf-8")
    french = source.replace('msgid "Loading the dashboard…"\nmsgstr ""',
                            'msgid "Loading the dashboard…"\nmsgstr "Chargement du tableau de bord…"')
    french = french.replace('msgid "No dashboards are configured."\nmsgstr ""',
                            'msgid "No dashboards are configured."\nmsgstr "Aucun tableau de bord n’est configuré."')
    french = french.replace('"Language: \\n"', '"Language: fr\\n"').replace("#, fuzzy\n", "", 1)
    messages_dir = tmp_path / "fr" / "LC_MESSAGES"
    messages_dir.mkdir(parents=True)
    (messages_dir / "django.po").write_text(french, encoding="utf-8")
    subprocess.run(["msgfmt", "-o", str(messages_dir / "django.mo"), str(messages_dir / "django.po")], check=True)
    settings.LOCALE_PATHS = [str(tmp_path)]
    trans_real._translations = {}  # pylint: disable=protected-access  # (catalogs are cached per process)
    try:
        context = {"dom_id": "r", "superset_url": "http://superset.example/", "superset_dashboards": []}
        with translation.override("fr"):
            page = render_to_string("platform_plugin_aspects/reports_embed.html", context)
        assert "Chargement du tableau de bord…" in page and "Aucun tableau de bord n’est configuré." in page
        with translation.override("en"):
            assert "Loading the dashboard…" in render_to_string("platform_plugin_aspects/reports_embed.html", context)
    finally:
        trans_real._translations = {}  # pylint: disable=protected-access

"""
Sphinx configuration for the platform-plugin-aspects documentation (``make docs``).

The reference pages are generated from the code at build time (``_ext/aspects_reference.py``):
the build imports the plugin with the stand-in LMS settings, the same way the tests do.
"""

import os
import sys
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parent
REPO_ROOT = DOCS_DIR.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(DOCS_DIR / "_ext"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")

project = "platform-plugin-aspects"
author = "The platform-plugin-aspects authors"
copyright = "2026, " + author  # noqa: A001 -- Sphinx's name
release = (REPO_ROOT / "platform_plugin_aspects" / "__init__.py").read_text().split('"')[1]
version = release

extensions = ["aspects_reference"]

# Every page is in a toctree through the ``:glob:`` index pages, so new pages need no edit here.
exclude_patterns = ["_build", "_ext"]
root_doc = "index"
nitpicky = True
# Option names such as --max-age stay as written (no en dashes).
smartquotes = False
# Python objects are named in prose (``literal``), never cross-referenced: nothing to ignore.
nitpick_ignore = []

html_theme = "sphinx_book_theme"
html_title = "platform-plugin-aspects"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
}
html_static_path = ["_static"]
html_css_files = ["aspects.css"]
html_last_updated_fmt = None

# code-annotations' settings and toggles directives scan the package; the project has no public
# repository URL yet, so sources are shown as "file, line" text (settings_repo_url empty).
settings_source_path = str(REPO_ROOT)
settings_repo_url = ""
featuretoggles_source_path = str(REPO_ROOT / "platform_plugin_aspects")
featuretoggles_repo_url = ""

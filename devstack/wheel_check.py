"""
What an operator's ``pip install`` gets, checked from a clean export (``make wheel-check``, run by ``make test``).

1. Export what git tracks (the commit plus tracked changes, never untracked or ignored files such as
   ``node_modules`` or ``var/``) into a temporary directory.
2. Build the sdist and a wheel from that sdist (``python -m build``), and a wheel straight from the
   export (``pip wheel``, what ``pip install git+https://...`` does); the two wheels hold the same files.
3. Check the wheel: exactly the package's files (the vendored embedded SDK matching package-lock.json,
   the SQL migrations, templates, static files, message catalogs); no dev launchers (``devstack``), no
   tests; the entry points; the version; the dependencies of ``requirements/base.in``.
4. Install it into a fresh venv that holds only ``requirements/base.txt``, run ``pip check``, and, from
   a directory outside the checkout, configure Django with the plugin and import what the platform
   imports (apps, urls, views, the XBlock, tasks, commands), find the SDK through the static-files
   finders, load the templates and the migrations.

Seconds, not minutes: no build isolation (the venv's setuptools), and the runtime wheels come from
``var/wheelhouse`` (filled once per ``base.txt`` from pip's cache) without asking the package index.
"""

import argparse
import configparser
import email
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devstack import vendor_sdk

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "platform_plugin_aspects"
SDK = f"{PACKAGE}/static/{PACKAGE}/vendor/superset-embedded-sdk.js"
SDK_MANIFEST = f"{PACKAGE}/static/{PACKAGE}/vendor/superset-embedded-sdk.json"
SDK_LICENSE = f"{PACKAGE}/static/{PACKAGE}/vendor/superset-embedded-sdk.LICENSE.txt"
ENTRY_POINTS = {
    "lms.djangoapp": {"platform_plugin_aspects": "platform_plugin_aspects.apps:PlatformPluginAspectsConfig"},
    "cms.djangoapp": {"platform_plugin_aspects": "platform_plugin_aspects.apps:PlatformPluginAspectsConfig"},
    "xblock.v1": {"superset": "platform_plugin_aspects.xblock:SupersetXBlock"},
}

# Run by the fresh venv's Python, from a directory outside the checkout.
INSTALLED_CHECK = r'''
import hashlib, importlib, importlib.metadata, importlib.util, json, sys, types
from pathlib import Path

assert importlib.util.find_spec("devstack") is None, "the dev launchers are importable"
assert importlib.util.find_spec("tests") is None, "the test suite is importable"

import django
from django.conf import settings
from platform_plugin_aspects.settings import common

site = types.ModuleType("lms_settings")
site.INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.staticfiles",
                       "platform_plugin_aspects"]
site.DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
site.STATIC_URL = "/static/"
site.SECRET_KEY = "wheel-check"
site.ROOT_URLCONF = "platform_plugin_aspects.urls"
site.USE_TZ = True
site.TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
site.FEATURES = {}
common.plugin_settings(site)  # as edx-platform's plugin loader applies the plugin's defaults
settings.configure(**{name: value for name, value in vars(site).items() if name.isupper()})
django.setup()

import platform_plugin_aspects
where = Path(platform_plugin_aspects.__file__).resolve().parent
assert "site-packages" in where.parts, where
for module in ("apps", "urls", "views", "xblock", "tasks", "signals", "superset.dashboards", "clickhouse.migrate",
               "extensions.filters"):
    importlib.import_module(f"platform_plugin_aspects.{module}")
commands = sorted(p.stem for p in (where / "management" / "commands").glob("*.py") if p.stem != "__init__")
for command in commands:
    importlib.import_module(f"platform_plugin_aspects.management.commands.{command}")

from django.contrib.staticfiles import finders
sdk = finders.find("platform_plugin_aspects/vendor/superset-embedded-sdk.js")
assert sdk, "the static-files finders do not find the embedded SDK"
from django.template.loader import get_template
templates = sorted(str(p.relative_to(where / "templates")) for p in (where / "templates").rglob("*.html"))
for name in templates:
    get_template(name)
from platform_plugin_aspects.clickhouse.migrate import load_migrations
migrations = [m.name for m in load_migrations()]
assert migrations, "no ClickHouse migrations"
from xblock.core import XBlock
assert XBlock.load_class("superset").__name__ == "SupersetXBlock"
groups = {group: sorted(ep.name for ep in importlib.metadata.entry_points(group=group))
          for group in ("lms.djangoapp", "cms.djangoapp", "xblock.v1")}
print(json.dumps({"sdk_sha256": hashlib.sha256(Path(sdk).read_bytes()).hexdigest(), "templates": templates,
                  "migrations": migrations, "commands": commands, "entry_points": groups}))
'''


class WheelCheckError(Exception):
    """The package an operator would install is not right."""


def run(*command, cwd=None):
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise WheelCheckError(f"{' '.join(map(str, command))} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def export(repo, target):
    """What git tracks in ``repo`` (HEAD plus tracked changes, staged new files included) into ``target``."""
    tree = run("git", "stash", "create", cwd=repo).strip() or "HEAD"
    archive = subprocess.run(["git", "archive", "--format=tar", tree], cwd=repo, capture_output=True, check=True)
    target.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def wheelhouse(requirements):
    """A directory of wheels for ``requirements`` (built once per content in var/wheelhouse, from pip's cache).

    Installing from it with ``--no-index`` takes seconds; asking the package index for ~40 pins
    takes a minute.
    """
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    directory = ROOT / "var" / "wheelhouse" / digest
    if not (directory / ".complete").exists():
        run(sys.executable, "-m", "pip", "wheel", "-q", "-w", directory, "-r", requirements)
        (directory / ".complete").touch()
    return directory


def runtime_venv(requirements, venv):
    """A fresh venv holding only ``requirements`` (no pip of its own: the caller's pip drives it)."""
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python"]
    run(*pip, "install", "-q", "--no-compile", "--no-index", "--find-links", wheelhouse(requirements), "-r",
        requirements)
    return venv, pip


def wheel_files(wheel):
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if not name.endswith("/")}


def _requirement(text):
    """``(name, specifiers)`` of a requirement line, normalised (the wheel may reorder specifiers)."""
    requirement = Requirement(text.strip())
    return canonicalize_name(requirement.name), str(sorted(str(s) for s in requirement.specifier))


def check_wheel(wheel, source):
    """The wheel holds exactly the package's files, the right SDK, metadata and entry points."""
    names = wheel_files(wheel)
    dist_info = {n for n in names if n.split("/")[0].endswith(".dist-info")}
    package_files = names - dist_info
    expected = {str(p.relative_to(source)) for p in (source / PACKAGE).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    if package_files != expected:
        raise WheelCheckError(f"the wheel's files are not the package's: missing {sorted(expected - package_files)}, "
                              f"extra {sorted(package_files - expected)}")
    strays = [n for n in names if re.search(r"(^|/)(devstack|tests|benchmarks)/|local_server|test_settings", n)]
    if strays:
        raise WheelCheckError(f"the wheel ships development files: {strays}")
    for required, what in ((SDK, "embedded SDK"), (SDK_MANIFEST, "SDK manifest"), (SDK_LICENSE, "SDK licenses")):
        if required not in names:
            raise WheelCheckError(f"the wheel has no {what} ({required})")
    for kind, pattern in (("SQL migrations", r"/clickhouse/migrations/\d+_.*\.sql$"), ("templates", r"/templates/"),
                          ("message catalogs", r"/conf/locale/[^/]+/LC_MESSAGES/django\.po$")):
        if not any(re.search(pattern, n) for n in names):
            raise WheelCheckError(f"the wheel has no {kind}")
    with zipfile.ZipFile(wheel) as archive:
        vendor_sdk.check(archive.read(SDK), json.loads(archive.read(SDK_MANIFEST)), root=source)
        info = next(n for n in dist_info if n.endswith("/METADATA"))
        metadata = email.message_from_bytes(archive.read(info))
        entry_points = configparser.ConfigParser(delimiters=("=",))
        entry_points.optionxform = str
        entry_points.read_string(archive.read(info.replace("METADATA", "entry_points.txt")).decode())
    version = re.search(r'__version__ = "([^"]+)"', (source / PACKAGE / "__init__.py").read_text()).group(1)
    if metadata["Version"] != version:
        raise WheelCheckError(f"the wheel is version {metadata['Version']}, the package says {version}")
    found = {group: {k: v.strip() for k, v in entry_points[group].items()} for group in entry_points.sections()}
    if found != ENTRY_POINTS:
        raise WheelCheckError(f"entry points {found}, expected {ENTRY_POINTS}")
    wanted = {_requirement(line.split("#")[0]) for line in
              (source / "requirements" / "base.in").read_text().splitlines() if line.split("#")[0].strip()}
    declared = {_requirement(line) for line in metadata.get_all("Requires-Dist") or []}
    if declared != wanted:
        raise WheelCheckError(f"the wheel requires {sorted(declared)}, requirements/base.in says {sorted(wanted)}")
    return names


def check_sdist(sdist):
    """The sdist can build the same wheel: package data, SDK and what the build reads are in it."""
    import tarfile  # pylint: disable=import-outside-toplevel

    with tarfile.open(sdist) as archive:
        names = {"/".join(n.split("/")[1:]) for n in archive.getnames()}
    for required in (SDK, SDK_MANIFEST, SDK_LICENSE, "pyproject.toml", "requirements/base.in", "package-lock.json",
                     "README.rst"):
        if required not in names:
            raise WheelCheckError(f"the sdist has no {required}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--repo", default=str(ROOT), help="the git checkout to export (default: this one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and say where it is")
    args = parser.parse_args(argv)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="aspects-wheel-check-"))
    python = sys.executable
    try:
        source = export(Path(args.repo), tmp / "export")
        # The runtime venv fills (disk-bound) while the package builds (CPU-bound).
        with ThreadPoolExecutor(1) as pool:
            venv_ready = pool.submit(runtime_venv, source / "requirements" / "base.txt", tmp / "venv")
            run(python, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", tmp / "dist", source)
            sdist, wheel = next((tmp / "dist").glob("*.tar.gz")), next((tmp / "dist").glob("*.whl"))
            run(python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "direct",
                source)
            direct = next((tmp / "direct").glob("*.whl"))
            check_sdist(sdist)
            names = check_wheel(wheel, source)
            if wheel_files(direct) != names:
                raise WheelCheckError(f"a wheel built from the checkout differs from the sdist's: "
                                      f"{sorted(wheel_files(direct) ^ names)}")
            venv, pip = venv_ready.result()
        run(*pip, "install", "-q", "--no-deps", wheel)
        run(*pip, "check")
        outside = tmp / "outside"
        outside.mkdir()
        report = run(venv / "bin" / "python", "-c", INSTALLED_CHECK, cwd=outside)
        installed = json.loads(report.strip().splitlines()[-1])
        if installed["sdk_sha256"] != hashlib.sha256((source / SDK).read_bytes()).hexdigest():
            raise WheelCheckError("the installed SDK is not the vendored one")
        sdk_version = vendor_sdk.locked(source)["version"]
    except (WheelCheckError, vendor_sdk.VendorError) as exc:
        print(f"wheel-check FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"wheel-check ok in {time.monotonic() - started:.1f}s: {wheel.name} and {sdist.name} from a clean export; "
          f"{len(names)} files, SDK {sdk_version} matching package-lock.json, "
          f"{len(installed['migrations'])} migrations, {len(installed['templates'])} templates, "
          f"{len(installed['commands'])} commands; no devstack, no tests; imports fine in a venv with only "
          "requirements/base.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())

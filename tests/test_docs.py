"""
The documentation cannot drift from the code: its references are generated at build time, and
whatever they could not show (a setting without its annotation, an option without help, a column a
migration adds, an endpoint error its docstring does not name) fails the build (``make docs``, run
by ``make test``) and these tests.
"""

import io
import shutil
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from xblock.exceptions import JsonHandlerError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import aspects_reference as reference  # noqa: E402 -- lives with the docs, found through the path above

SPHINX_BUILD = Path(sys.executable).with_name("sphinx-build")


def package_copy(tmp_path):
    """A copy of the plugin's source to break without touching the real one."""
    copy = tmp_path / reference.PACKAGE
    shutil.copytree(reference.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "static", "conf"))
    return copy


def remove_annotation(package_dir, name):
    """Delete the annotation block of ``name`` (its ``# ..`` comment lines) from settings/common.py."""
    common = package_dir / "settings" / "common.py"
    lines = common.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == f"# .. setting_name: {name}")
    end = start
    while lines[end].lstrip().startswith("#"):
        end += 1
    common.write_text("".join(lines[:start] + lines[end:]))


def test_the_code_is_fully_documented():
    """Every setting, toggle, command option, table column and endpoint of the real tree is shown."""
    assert reference.find_problems() == []


def test_the_settings_reference_lists_every_setting_the_code_defines():
    annotated = reference.annotated_settings()
    for name in ("EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG", "ASPECTS_MIN_FLUSH_INTERVAL_SECS",
                 "ASPECTS_TRACKING_TTL_DAYS", "IN_CONTEXT_DASHBOARD_BLOCK_ID_COLUMN", "ASPECTS_ENABLE_PII",
                 "event_sink_clickhouse.<model>.enabled"):
        assert name in annotated
    assert set(reference.settings_in_code()) >= {"ASPECTS_FLUSH_DELAY_SECS", "SUPERSET_CONFIG"}


def test_removing_an_annotation_is_reported(tmp_path):
    copy = package_copy(tmp_path)
    assert reference.settings_problems(copy) == []
    remove_annotation(copy, "ASPECTS_CELERY_QUEUE")
    problems = reference.settings_problems(copy)
    assert len(problems) == 1
    assert "setting ASPECTS_CELERY_QUEUE has no '.. setting_name:'" in problems[0]
    assert "settings/common.py:" in problems[0]


def test_a_setting_read_without_annotation_is_reported(tmp_path):
    """A new setting read straight from django.conf.settings, never given a default, still counts."""
    copy = package_copy(tmp_path)
    (copy / "digest_sender.py").write_text(
        "from django.conf import settings\n\n\ndef limit():\n    return getattr(settings, 'ASPECTS_NEW_LIMIT', 3)\n"
    )
    assert [p for p in reference.settings_problems(copy) if "ASPECTS_NEW_LIMIT" in p] == [
        f"{reference.PACKAGE}/digest_sender.py:5: setting ASPECTS_NEW_LIMIT has no '.. setting_name:' or "
        "'.. toggle_name:' annotation, so the settings reference does not list it"
    ]


def test_an_incomplete_annotation_is_reported(tmp_path):
    """code-annotations' own lint: a setting annotation needs its default and its description."""
    copy = package_copy(tmp_path)
    common = copy / "settings" / "common.py"
    common.write_text(common.read_text().replace("    # .. setting_default: 5000\n", "", 1))
    problems = reference.settings_problems(copy)
    assert len(problems) == 1 and "missing non-optional annotation: '.. setting_default:'" in problems[0]


def test_an_annotation_for_a_setting_that_does_not_exist_is_reported(tmp_path):
    copy = package_copy(tmp_path)
    common = copy / "settings" / "common.py"
    common.write_text(common.read_text().replace("# .. setting_name: ASPECTS_OUTBOX_BATCH_SIZE",
                                                 "# .. setting_name: ASPECTS_OUTBOX_BATCH_SIZ", 1))
    problems = reference.settings_problems(copy)
    assert any("annotation for 'ASPECTS_OUTBOX_BATCH_SIZ', which the code never defines" in p for p in problems)
    assert any("setting ASPECTS_OUTBOX_BATCH_SIZE has no" in p for p in problems)


class _Command(BaseCommand):
    help = "Do a thing.\n\nExamples:\n  manage.py lms thing --fast\n"

    def add_arguments(self, parser):
        parser.add_argument("--fast", action="store_true", help="go fast")
        parser.add_argument("--frobnicate", type=int)


def test_an_option_without_help_is_reported():
    assert reference.command_problems("thing", _Command()) == [
        "command thing: option --frobnicate has no help text, so the commands reference cannot document it"
    ]


def test_every_command_and_option_is_in_the_reference():
    """The reference lists each command's options from its own parser (Django's own left out)."""
    names = reference.command_names()
    assert {"dump_data_to_clickhouse", "migrate_clickhouse", "aspects_status"} <= set(names)
    options = {action.option_strings[0] for _, action in
               reference.documented_options(reference.command_parser("dump_data_to_clickhouse"))}
    assert {"--object", "--all", "--dry_run", "--url", "--timeout_secs"} <= options
    assert "--verbosity" not in options


def test_every_column_of_a_migrated_database_is_in_the_reference(clickhouse):
    """A database migrated by the real ``migrate_clickhouse`` on the suite's ClickHouse has exactly the
    tables and columns the reference shows (built separately, from the migrations, in a throwaway session)."""
    _migrations, tables, problems = reference.clickhouse_schema()
    assert problems == []
    documented = {(table["name"], column["name"], column["type"]) for table in tables for column in table["columns"]}
    database = "docs_reference_check"  # its own database: other tests' tables never leak in
    try:
        call_command("migrate_clickhouse", database=database, stdout=io.StringIO())
        real = set(clickhouse.query(
            "SELECT table, name, type FROM system.columns WHERE database = {db:String}", {"db": database}))
    finally:
        clickhouse.command(f"DROP DATABASE IF EXISTS {database}")
    assert real and real == documented
    assert ("course_enrollment", "user_id", "Int32") in documented


def _error(status, message):
    return JsonResponse({"error": message}, status=status)


def gone(request):
    """Answers nothing useful. Errors: 403 when not staff."""
    if not request.user.is_staff:
        return _error(403, "no")
    return _error(410, "gone")


@require_GET
def cached(request):
    """Never 405 by hand: Django's decorator says which methods."""


def test_the_methods_of_a_view_come_from_djangos_decorators():
    assert reference.view_methods(cached) == ["GET"]
    assert reference._readable_route(r"^a/(?P<key>[^/]+(?:/[^/)]+/(x|y))?)/(?P<n>\d+)/$") == "a/<key>/<n>/"


def test_an_endpoint_error_missing_from_its_docstring_is_reported():
    assert reference.view_statuses(gone) == [403, 410]
    assert reference.endpoint_problems([("/aspects/gone/", "gone", gone)]) == [
        "endpoint /aspects/gone/ (gone): its docstring does not say when it answers 410"
    ]


def test_every_endpoint_is_in_the_reference():
    routes = {route: view for route, _name, view in reference.endpoints()}
    assert {"/aspects/superset_guest_token/<course_id>/", "/aspects/superset_in_context_dashboard/<usage_id>/",
            "/aspects/<path>"} <= set(routes)
    assert reference.view_statuses(routes["/aspects/superset_guest_token/<course_id>/"]) == [400, 403, 404, 405]
    handlers = {(block, name): handler for block, name, handler in reference.xblock_handlers()}
    assert list(handlers) == [("superset", "get_superset_guest_token")]  # not the inherited Studio save
    assert reference.view_statuses(handlers["superset", "get_superset_guest_token"]) == [403, 404, 503]


def refuse(self, data, suffix=""):
    """An XBlock handler. Errors: 403 for learners."""
    if not data:
        raise JsonHandlerError(403, "no")
    raise JsonHandlerError(409, "busy")


def test_an_xblock_handler_error_missing_from_its_docstring_is_reported():
    assert reference.endpoint_problems([("<x>/handler/refuse", "refuse", refuse)]) == [
        "endpoint <x>/handler/refuse (refuse): its docstring does not say when it answers 409"
    ]


def test_every_sink_is_in_the_reference():
    names = [sink.name for sink in reference.sinks()]
    assert {"course_overviews", "course_enrollment", "user_profile", "auth_user"} <= set(names)
    assert reference.sink_problems() == []


def sphinx_build(tmp_path, *overrides):
    return subprocess.run(
        [str(SPHINX_BUILD), "-E", "-W", "--keep-going", "-n", "-q", "-b", "dummy", str(ROOT / "docs"),
         str(tmp_path / "out"), *overrides],
        capture_output=True, text=True, timeout=300, check=False)


def test_the_docs_build_with_no_warnings(tmp_path):
    result = sphinx_build(tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_docs_build_fails_when_a_setting_loses_its_annotation(tmp_path):
    copy = package_copy(tmp_path)
    remove_annotation(copy, "ASPECTS_SWITCH_CACHE_SECS")
    result = sphinx_build(tmp_path, "-D", f"aspects_package_dir={copy}")
    assert result.returncode != 0
    assert "setting ASPECTS_SWITCH_CACHE_SECS has no '.. setting_name:'" in result.stderr

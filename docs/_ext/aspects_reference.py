"""
The reference pages, generated from the code at build time so they cannot drift from it.

* Settings and toggles: code-annotations' own ``.. settings::`` and ``.. featuretoggles::``
  directives read the ``.. setting_name:`` / ``.. toggle_name:`` annotations (OEP-17), as every
  Open edX repository does. We only make each entry linkable (``:setting:``, ``:toggle:``) and show
  the source file and line as text, since the project has no public repository URL to link to.
* ``.. aspects-commands::`` documents every management command from its own argument parser
  (``create_parser``): the description, the usage line, every option with its help and default.
* ``.. aspects-tables::`` applies the plugin's ClickHouse migrations to a throwaway in-process
  chdb session and lists every table, view and column from ``system.tables``/``system.columns``.
* ``.. aspects-endpoints::`` walks ``platform_plugin_aspects.urls`` and shows each view's
  docstring with its methods and error statuses.

The coverage checks (``find_problems``) turn everything the references cannot show into Sphinx
warnings, so ``make docs`` (``-W``) fails: a setting the code defines or reads without an
annotation, an annotation missing a required field, a command or option without help, a
migration that does not apply, an endpoint whose docstring misses a status its code returns.
Tests call the same functions (tests/test_docs.py).
"""

import argparse
import ast
import functools
import inspect
import os
import re
import tempfile
import textwrap
from pathlib import Path

from code_annotations.base import AnnotationConfig
from code_annotations.contrib.config import (
    FEATURE_TOGGLE_ANNOTATIONS_CONFIG_PATH,
    SETTING_ANNOTATIONS_CONFIG_PATH,
)
from code_annotations.contrib.sphinx.extensions import featuretoggles as ca_toggles
from code_annotations.contrib.sphinx.extensions import settings as ca_settings
from code_annotations.find_static import StaticSearch
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

log = logging.getLogger(__name__)

PACKAGE = "platform_plugin_aspects"
REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_ROOT / PACKAGE

# Settings that belong to the plugin, however the code reaches them (settings.X, getattr(settings, "X")).
PLUGIN_SETTING_RE = re.compile(r"^(ASPECTS|SUPERSET|EVENT_SINK_CLICKHOUSE|IN_CONTEXT_DASHBOARD)_[A-Z0-9_]+$")
# Options every Django command has; Django documents them.
DJANGO_OPTIONS = {"help", "version", "verbosity", "settings", "pythonpath", "traceback", "no_color",
                  "force_color", "skip_checks"}


# --- settings and toggles ---------------------------------------------------------------------

def annotated_settings(package_dir=PACKAGE_DIR):
    """``{name: annotation}`` of every ``.. setting_name:`` and ``.. toggle_name:`` under ``package_dir``."""
    found = dict(ca_settings.find_settings(str(package_dir)))
    found.update(ca_toggles.find_feature_toggles(str(package_dir)))
    return found


def _name_matcher(annotated_name):
    """A regex for an annotated name: ``<model>`` stands for any part (EVENT_SINK_CLICKHOUSE_<MODEL>_ENABLED)."""
    parts = re.split(r"<[^>]+>", annotated_name)
    return re.compile("^" + "[A-Za-z0-9_]+".join(re.escape(p) for p in parts) + "$")


def settings_in_code(package_dir=PACKAGE_DIR):
    """``{name: "file:line"}`` of every plugin setting the code defines, overrides or reads.

    Defined: ``_default(settings, "NAME", ...)`` and ``setattr(settings, "NAME", ...)``; overridable:
    the names listed in ``OVERRIDABLE_SETTINGS``; read: ``settings.NAME`` and ``getattr(settings,
    "NAME")`` for names with the plugin's prefixes (the platform's own settings are not ours to document).
    """
    defined, read = {}, {}
    for path in sorted(Path(package_dir).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = f"{path.relative_to(Path(package_dir).parent)}:"

        def note(name, node, ours=False, where=where):
            if isinstance(name, str) and (ours or PLUGIN_SETTING_RE.match(name)):
                (defined if ours else read).setdefault(name, f"{where}{node.lineno}")

        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if func == "_default" or (func in ("setattr", "getattr") and _is_settings(node.args[0])):
                    note(node.args[1].value, node, ours=func == "_default")
            elif isinstance(node, ast.Attribute) and _is_settings(node.value):
                note(node.attr, node)
            elif isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "OVERRIDABLE_SETTINGS" for t in node.targets):
                for element in getattr(node.value, "elts", []):
                    if isinstance(element, ast.Constant):
                        note(element.value, element, ours=True)
    return {**read, **defined}  # where it is defined, when it is


def _is_settings(node):
    return isinstance(node, ast.Name) and node.id == "settings"


def annotation_errors(package_dir=PACKAGE_DIR):
    """code-annotations' own lint (required fields, allowed choices) for both annotation kinds."""
    errors = []
    for config_path in (SETTING_ANNOTATIONS_CONFIG_PATH, FEATURE_TOGGLE_ANNOTATIONS_CONFIG_PATH):
        config = AnnotationConfig(config_path, verbosity=-1, source_path_override=str(package_dir))
        search = StaticSearch(config)
        search.check_results(search.search())
        errors += [str(error).strip() for error in search.errors]
    return errors


def settings_problems(package_dir=PACKAGE_DIR):
    """Why the settings reference would be incomplete or wrong (empty when it is complete)."""
    annotated = annotated_settings(package_dir)
    matchers = [_name_matcher(name) for name in annotated]
    in_code = settings_in_code(package_dir)
    problems = [
        f"{where}: setting {name} has no '.. setting_name:' or '.. toggle_name:' annotation, so the "
        f"settings reference does not list it"
        for name, where in sorted(in_code.items())
        if not any(m.match(name) for m in matchers)
    ]
    for name, annotation in sorted(annotated.items()):
        if name.isupper() and "<" not in name and name not in in_code:
            problems.append(f"{PACKAGE}/{annotation['filename']}:{annotation['line_number']}: annotation for "
                            f"{name!r}, which the code never defines or reads (one annotation per name)")
    return problems + annotation_errors(package_dir)


def _source_text(annotation, folder):
    return f"{folder}/{annotation['filename']}, line {annotation['line_number']}"


def _linkable(directive, sections, objtype, prefix):
    """Register each generated section so ``:setting:`NAME``` (or ``:toggle:``) links to it."""
    std = directive.env.get_domain("std")
    for section in sections:
        section_id = section["ids"][0]
        name = section_id[len(prefix):]
        std.note_object(objtype, name, section_id, location=directive.get_location())
        for reference in list(section.findall(nodes.reference)):
            if "/blob/" in reference.get("refuri", "") and not directive.config.settings_repo_url:
                # No public repository to link to: show the file and line as text.
                match = re.match(r"(.*) \(line (\d+)\)$", reference.astext())
                text = f"{PACKAGE}/{match[1]}, line {match[2]}" if match else reference.astext()
                reference.replace_self(nodes.literal(text=text))
        for paragraph in list(section.findall(nodes.paragraph)):
            if any(i.startswith("description-") for i in paragraph["ids"]):
                # Annotation continuation lines keep their comment indentation: one space is enough.
                paragraph.replace_self(nodes.paragraph(text=" ".join(paragraph.astext().split()),
                                                       ids=paragraph["ids"]))
    return sections


class Settings(ca_settings.Settings):
    """code-annotations' ``.. settings::``, each entry a ``:setting:`` target."""

    def run(self):
        return _linkable(self, super().run(), "setting", "setting-")


class FeatureToggles(ca_toggles.FeatureToggles):
    """code-annotations' ``.. featuretoggles::``, each entry a ``:toggle:`` target."""

    def run(self):
        return _linkable(self, super().run(), "toggle", "featuretoggle-")


# --- management commands ----------------------------------------------------------------------

def command_names():
    """Every management command the plugin ships, by name."""
    from django.core.management import find_commands

    return sorted(find_commands(str(PACKAGE_DIR / "management")))


def load_command(name):
    from django.core.management import load_command_class

    return load_command_class(PACKAGE, name)


def command_parser(name, command=None):
    """The command's own argument parser, exactly as ``manage.py <name> --help`` builds it."""
    command = command or load_command(name)
    return command.create_parser("manage.py", name)


def documented_options(parser):
    """``[(group title, action)]`` for every option the command adds (Django's own left out)."""
    listed = []
    for group in parser._action_groups:
        for action in group._group_actions:
            if action.dest not in DJANGO_OPTIONS:
                listed.append((group.title, action))
    return listed


def command_problems(name, command=None):
    """Why the command's reference would teach nothing (no description, an option without help)."""
    command = command or load_command(name)
    problems = [] if (command.help or "").strip() else [f"command {name} has no help text"]
    for _group, action in documented_options(command_parser(name, command)):
        label = ", ".join(action.option_strings) or action.dest
        if not action.help or action.help == argparse.SUPPRESS:
            problems.append(f"command {name}: option {label} has no help text, so the commands reference "
                            f"cannot document it")
    return problems


def _option_label(action):
    if not action.option_strings:
        return action.metavar or action.dest
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar or (("{" + ",".join(map(str, action.choices)) + "}") if action.choices
                                 else action.dest.upper())
    suffix = f" {metavar} ..." if action.nargs in ("+", "*") else f" {metavar}"
    return ", ".join(option + suffix for option in action.option_strings)


def _help_text(parser, action):
    formatter = parser._get_formatter()
    return formatter._expand_help(action) if action.help else ""


class Commands(SphinxDirective):
    """``.. aspects-commands::``: every management command, from its own parser."""

    def run(self):
        sections = []
        std = self.env.get_domain("std")
        for name in command_names():
            try:
                command = load_command(name)
                parser = command_parser(name, command)
            except Exception:  # noqa: BLE001 -- find_problems() reports it as a warning
                continue
            section = nodes.section("", ids=[f"command-{name}"])
            section += nodes.title(text=name)
            std.note_object("command", name, f"command-{name}", location=self.get_location())
            section += _help_nodes(command.help or "")
            section += nodes.literal_block(text=parser.format_usage().strip(), language="text")
            for group, actions in _by_group(documented_options(parser)):
                if group not in ("options", "optional arguments", "positional arguments"):
                    section += nodes.rubric(text=group[:1].upper() + group[1:])
                definitions = nodes.definition_list()
                for action in actions:
                    definitions += _option_item(parser, action)
                section += definitions
            sections.append(section)
        return sections


def _by_group(options):
    """``[(group title, [actions])]`` in the parser's order."""
    groups = {}
    for group, action in options:
        groups.setdefault(group, []).append(action)
    return list(groups.items())


def _option_item(parser, action):
    """One option: its flags and metavar, its help, and what the help does not already say."""
    item = nodes.definition_list_item()
    item += nodes.term("", "", nodes.literal(text=_option_label(action)))
    body = nodes.definition()
    text = _help_text(parser, action)
    body += nodes.paragraph(text=text)
    details = []
    if action.required:
        details.append("required")
    if action.choices:
        details.append("one of " + ", ".join(map(str, action.choices)))
    if action.default not in (None, False, argparse.SUPPRESS) and action.nargs != 0 and "default" not in text:
        details.append(f"default: {action.default}")
    if details:
        body += nodes.paragraph(text="(" + "; ".join(details) + ")")
    item += body
    return item


def _help_nodes(text):
    """The command's description: paragraphs as text, indented lines (examples) as a literal block."""
    result, block, paragraph = [], [], []

    def flush():
        if paragraph:
            result.append(nodes.paragraph(text=" ".join(paragraph)))
            paragraph.clear()
        if block:
            result.append(nodes.literal_block(text="\n".join(block).rstrip(), language="text"))
            block.clear()

    for line in text.splitlines():
        if line.startswith(" "):
            if paragraph:
                flush()
            block.append(line[2:] if line.startswith("  ") else line)
        elif not line.strip():
            flush()
        else:
            if block:
                flush()
            paragraph.append(line.strip())
    flush()
    return result


# --- ClickHouse tables -------------------------------------------------------------------------

DOCS_DATABASE = "event_sink"


@functools.lru_cache(maxsize=1)
def clickhouse_schema():
    """Apply every migration to a throwaway chdb session and read what it built.

    Returns ``(migrations, tables, problems)``: ``migrations`` is ``[(name, leading comment)]``,
    ``tables`` ``[{name, engine, engine_full, sorting_key, partition_key, migration, columns}]`` with
    ``columns`` ``[{name, type, default, comment, migration}]``, and ``problems`` the statements
    ClickHouse refused. Cached: chdb allows one session per process.
    """
    import chdb

    from platform_plugin_aspects.clickhouse.migrate import bootstrap_statements, load_migrations

    problems, created, added = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="aspects-docs-chdb-") as data_dir:
        session = chdb.connect(f"file:{data_dir}")
        cursor = session.cursor()

        def rows(sql):
            cursor.execute(sql)
            return cursor.fetchall()

        def apply(name, statements):
            for statement in statements:
                try:
                    cursor.execute(statement)
                except Exception as exc:  # noqa: BLE001 -- any refusal is reported, with the statement
                    problems.append(f"migration {name}: ClickHouse refused {statement[:80]!r}...: {exc}")
            for table, column in rows(f"SELECT table, name FROM system.columns WHERE database = '{DOCS_DATABASE}'"):
                created.setdefault(table, name)
                added.setdefault((table, column), name)

        apply("(ledger)", bootstrap_statements(DOCS_DATABASE))
        migrations = load_migrations()
        for migration in migrations:
            apply(migration.name, migration.statements(DOCS_DATABASE))
        columns = rows(
            "SELECT table, name, type, default_kind, default_expression, comment FROM system.columns "
            f"WHERE database = '{DOCS_DATABASE}' ORDER BY table, position")
        tables = []
        for name, engine, engine_full, sorting_key, partition_key, comment in rows(
                "SELECT name, engine, engine_full, sorting_key, partition_key, comment FROM system.tables "
                f"WHERE database = '{DOCS_DATABASE}' ORDER BY name"):
            tables.append({
                "name": name, "engine": engine, "engine_full": engine_full, "sorting_key": sorting_key,
                "partition_key": partition_key, "comment": comment, "migration": created.get(name, ""),
                "columns": [
                    {"name": c[1], "type": c[2], "default": f"{c[3]} {c[4]}".strip(), "comment": c[5],
                     "migration": added.get((name, c[1]), "")}
                    for c in columns if c[0] == name
                ],
            })
        session.close()
    leading = [(m.name, _leading_comment(m.sql)) for m in migrations]
    return leading, tables, problems


def _leading_comment(sql):
    """The ``--`` comment block a migration file starts with (why it exists)."""
    lines = []
    for line in sql.splitlines():
        if not line.strip().startswith("--"):
            break
        lines.append(line.strip()[2:].removeprefix(" "))
    return "\n".join(lines).strip()


def _table(headers, body, widths):
    table = nodes.table()
    group = nodes.tgroup(cols=len(headers))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += _row(headers)
    tbody = nodes.tbody()
    group += tbody
    for values in body:
        tbody += _row(values)
    return table


def _row(values):
    row = nodes.row()
    for value in values:
        entry = nodes.entry()
        if isinstance(value, nodes.Node):
            entry += nodes.paragraph("", "", value)
        else:
            entry += nodes.paragraph(text=str(value))
        row += entry
    return row


class Tables(SphinxDirective):
    """``.. aspects-tables::``: every table and view the migrations create, with every column."""

    def run(self):
        migrations, tables, problems = clickhouse_schema()
        for problem in problems:
            log.warning(problem, location=self.get_location())
        std = self.env.get_domain("std")
        result = []
        for table in tables:
            section = nodes.section("", ids=[f"table-{table['name']}"])
            section += nodes.title(text=table["name"])
            std.note_object("table", table["name"], f"table-{table['name']}", location=self.get_location())
            facts = [("Engine", table["engine_full"] or table["engine"]),
                     ("Created by migration", table["migration"])]
            if table["comment"]:
                facts.insert(0, ("About", table["comment"]))
            fields = nodes.field_list()
            for label, value in facts:
                field = nodes.field()
                field += nodes.field_name(text=label)
                body = nodes.field_body()
                body += nodes.paragraph("", "", nodes.literal(text=value) if label == "Engine"
                                        else nodes.Text(value))
                field += body
                fields += field
            section += fields
            rows = [[nodes.literal(text=c["name"]), nodes.literal(text=c["type"]), c["default"], c["comment"]]
                    for c in table["columns"]]
            headers, widths = ["Column", "Type", "Default", "Comment"], [20, 24, 20, 36]
            if any(c["migration"] != table["migration"] for c in table["columns"]):
                # Columns a later migration added say which one.
                headers, widths = headers + ["Added by"], widths + [14]
                for row, column in zip(rows, table["columns"]):
                    row.append("" if column["migration"] == table["migration"] else column["migration"])
            section += _table(headers, rows, widths)
            result.append(section)
        return result


class Migrations(SphinxDirective):
    """``.. aspects-migrations::``: every migration file in order, with the comment that says why."""

    def run(self):
        migrations, _tables, _problems = clickhouse_schema()
        items = nodes.definition_list()
        for name, comment in migrations:
            item = nodes.definition_list_item()
            item += nodes.term("", "", nodes.literal(text=f"{name}.sql"))
            body = nodes.definition()
            body += (nodes.literal_block(text=comment, language="text", classes=["aspects-wrap"]) if comment
                     else nodes.paragraph(text="(no leading comment)"))
            item += body
            items += item
        return [items]


# --- sinks -------------------------------------------------------------------------------------

def sinks():
    """Every registered sink (the plugin's receivers are connected, so the registry is complete)."""
    from platform_plugin_aspects.sinks import all_sinks

    return all_sinks()


def sink_problems():
    return [f"sink {sink.name} ({type(sink).__module__}.{type(sink).__qualname__}) has no docstring saying what "
            f"it writes" for sink in sinks() if not inspect.getdoc(type(sink))]


def _switch(sink, sink_flag_name):
    """The sink's flag and setting, or the rule of a sink that decides for itself (auth_user)."""
    from platform_plugin_aspects.sinks.base import Sink

    if type(sink).is_enabled is not Sink.is_enabled:
        return inspect.getdoc(type(sink).is_enabled) or "its own rule"
    return nodes.literal(text=f"{sink_flag_name(sink.name)} / EVENT_SINK_CLICKHOUSE_{sink.name.upper()}_ENABLED")


class Sinks(SphinxDirective):
    """``.. aspects-sinks::``: every sink, what it writes, and the switches that turn it on."""

    def run(self):
        from platform_plugin_aspects.waffle import sink_flag_name

        rows = []
        try:
            registered = sinks()
        except Exception:  # noqa: BLE001 -- find_problems() reports it as a warning
            return []
        for sink in registered:
            personal = "yes (a PII sink)" if sink.pii else (
                ", ".join(getattr(sink, "pii_columns", ())) + " (only with ASPECTS_ENABLE_PII)"
                if getattr(sink, "pii_columns", ()) else "no")
            rows.append([
                nodes.literal(text=sink.name),
                (inspect.getdoc(type(sink)) or "").split("\n\n")[0].replace("\n", " "),
                personal,
                "yes" if sink.dumpable else "no",
                _switch(sink, sink_flag_name),
            ])
        return [_table(["Sink (--object)", "What it writes", "Personal data", "Backfill", "Waffle flag / setting"],
                       rows, [14, 34, 16, 8, 28])]


# --- HTTP endpoints ----------------------------------------------------------------------------

def url_prefix():
    """Where edx-platform mounts the plugin's URLs (``/aspects/``), from the app's plugin_app."""
    from platform_plugin_aspects.apps import PlatformPluginAspectsConfig

    config = PlatformPluginAspectsConfig.plugin_app["url_config"]["lms.djangoapp"]
    return "/" + config["regex"].lstrip("^")


def endpoints():
    """``[(route, url name, view)]`` for every URL pattern of the plugin (includes followed)."""
    from django.urls import URLPattern, URLResolver

    from platform_plugin_aspects import urls

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + _readable_route(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route, pattern.name, pattern.callback

    return list(walk(urls.urlpatterns, url_prefix()))


def _readable_route(pattern):
    """``^guest/(?P<course_id>[^/]+(?:/x)?)/$`` → ``guest/<course_id>/`` (``path()`` routes stay as written)."""
    text, out, i = str(pattern), [], 0
    while i < len(text):
        match = re.match(r"\(\?P<(\w+)>", text[i:])
        if not match:
            out.append(text[i])
            i += 1
            continue
        out.append(f"<{match[1]}>")
        i, depth, in_class = i + match.end(), 1, False
        while i < len(text) and depth:  # skip to the group's closing parenthesis
            char = text[i]
            if char == "\\":
                i += 1
            elif char == "[":
                in_class = True
            elif char == "]":
                in_class = False
            elif not in_class:
                depth += {"(": 1, ")": -1}.get(char, 0)
            i += 1
    return "".join(out).removeprefix("^").removesuffix("$")


def view_methods(view):
    """HTTP methods a view accepts (from ``require_http_methods`` and its shortcuts), or None for any."""
    current = view
    while current is not None:
        closure = inspect.getclosurevars(current).nonlocals if current.__closure__ else {}
        if "request_method_list" in closure:
            return list(closure["request_method_list"])
        if hasattr(current, "view_class"):  # a class-based view: the handlers it defines
            cls = current.view_class
            return [m.upper() for m in cls.http_method_names if m != "options" and hasattr(cls, m)]
        current = getattr(current, "__wrapped__", None)
    return None


def _unwrap(view):
    """The function (or, for ``View.as_view()``, the class) that holds the view's code and docstring."""
    while hasattr(view, "__wrapped__"):
        view = view.__wrapped__
    return getattr(view, "view_class", view)


STATUS_CALLS = ("_error", "JsonHandlerError")  # helpers whose first argument is the status they answer


def view_statuses(view):
    """Error statuses the view's code can answer with: ``_error(403, ...)``, ``JsonHandlerError(404, ...)``,
    ``status=404``, followed through the module-level functions and classes it names."""
    function = _unwrap(view)
    module = inspect.getmodule(function)
    definitions = {node.name: node for node in ast.parse(inspect.getsource(module)).body
                   if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    seen, statuses = set(), set()
    todo = [ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]]
    while todo:
        tree = todo.pop()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in definitions and node.id not in seen:
                seen.add(node.id)
                todo.append(definitions[node.id])
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and (getattr(node.func, "id", "") or getattr(node.func, "attr", "")) in STATUS_CALLS:
                statuses.add(node.args[0].value)
            elif isinstance(node, ast.keyword) and node.arg == "status" and isinstance(node.value, ast.Constant):
                statuses.add(node.value.value)
    return sorted(s for s in statuses if isinstance(s, int) and s >= 400)


def xblock_handlers():
    """``[(block name, handler name, handler)]`` of the XBlocks the package registers (``xblock.v1``)."""
    from importlib.metadata import distribution

    handlers = []
    for entry_point in distribution("platform-plugin-aspects").entry_points.select(group="xblock.v1"):
        block = entry_point.load()
        for name in sorted(dir(block)):
            handler = getattr(block, name, None)
            # Handlers the block inherits from XBlock's own mixins (Studio's save) are documented there.
            if getattr(handler, "_is_xblock_handler", False) and _unwrap(handler).__module__.startswith(PACKAGE):
                handlers.append((entry_point.name, name, handler))
    return handlers


def _handler_route(block, name):
    return f"<{block} XBlock usage key>/handler/{name}"


def endpoint_problems(patterns=None):
    """Why the endpoints reference would be incomplete: a view without a docstring, or one whose
    docstring does not name a status its code returns. ``patterns``: ``endpoints()`` by default."""
    problems = []
    if patterns is None:
        patterns = endpoints() + [(_handler_route(block, name), name, handler)
                                  for block, name, handler in xblock_handlers()]
    for route, name, view in patterns:
        doc = inspect.getdoc(_unwrap(view)) or ""
        if not doc:
            problems.append(f"endpoint {route} ({name}): its view has no docstring")
        # Errors common to a module's views may be documented once, in the module's docstring.
        documented = doc + (inspect.getdoc(inspect.getmodule(_unwrap(view))) or "")
        missing = [str(s) for s in view_statuses(view) if str(s) not in documented]
        if missing:
            problems.append(f"endpoint {route} ({name}): its docstring does not say when it answers "
                            f"{', '.join(missing)}")
    return problems


class Endpoints(SphinxDirective):
    """``.. aspects-endpoints::``: every URL of the plugin with its view's docstring."""

    def run(self):
        result, modules = [], {}
        try:
            patterns, handlers = endpoints(), xblock_handlers()
        except Exception:  # noqa: BLE001 -- find_problems() reports it as a warning
            return []
        for route, name, view in patterns:
            function = _unwrap(view)
            module = inspect.getmodule(function)
            if module.__name__ not in modules:
                # One section per views module: its docstring holds what its endpoints share (errors).
                modules[module.__name__] = nodes.section("", ids=[f"endpoints-{module.__name__}"])
                modules[module.__name__] += nodes.title(text=module.__name__)
                modules[module.__name__] += self._parse(inspect.getdoc(module) or "", inspect.getsourcefile(module))
                result.append(modules[module.__name__])
            section = nodes.section("", ids=[f"endpoint-{name or function.__name__}"])
            section += nodes.title(text=route)
            methods = view_methods(view)  # None when a decorator of the project's own decides (see the docstrings)
            section += self._fields([("URL name", f"{PACKAGE}:{name}" if name else "(unnamed)")]
                                    + ([("Methods", ", ".join(methods) + " (others: 405)")] if methods else [])
                                    + [("View", f"{function.__module__}.{function.__qualname__}")])
            section += self._parse(inspect.getdoc(function) or "", inspect.getsourcefile(function))
            modules[module.__name__] += section
        if handlers:
            blocks = nodes.section("", ids=["xblock-handlers"])
            blocks += nodes.title(text="XBlock handlers")
            blocks += nodes.paragraph(text=(
                "Called by a block's own script at the URL the runtime gives it (runtime.handler_url); "
                "in the LMS: /courses/<course id>/xblock/<usage key>/handler/<handler>."))
            for block, name, handler in handlers:
                function = _unwrap(handler)
                section = nodes.section("", ids=[f"xblock-handler-{block}-{name}"])
                section += nodes.title(text=f"{block} XBlock: {name}")
                json = "json_handler" in handler.__code__.co_qualname
                section += self._fields([
                    ("URL", _handler_route(block, name)),
                    ("Methods", "POST, a JSON body (XBlock.json_handler)" if json else "any (XBlock.handler)"),
                    ("Handler", f"{function.__module__}.{function.__qualname__}"),
                ])
                section += self._parse(inspect.getdoc(function) or "", inspect.getsourcefile(function))
                blocks += section
            result.append(blocks)
        return result

    @staticmethod
    def _fields(pairs):
        fields = nodes.field_list()
        for label, value in pairs:
            field = nodes.field()
            field += nodes.field_name(text=label)
            body = nodes.field_body()
            body += nodes.paragraph("", "", nodes.literal(text=value))
            field += body
            fields += field
        return fields

    def _parse(self, text, source):
        """Docstrings are reStructuredText: parsed, so a broken one is a warning like any page's."""
        container = nodes.container()
        self.state.nested_parse(StringList(text.splitlines(), source=source), self.content_offset, container)
        return container.children


# --- wiring ------------------------------------------------------------------------------------

def find_problems(package_dir=PACKAGE_DIR):
    """Everything the generated references cannot show; each one is a Sphinx warning (and -W fails)."""
    problems = settings_problems(package_dir)
    for name in command_names():
        problems += _guarded(f"command {name}", command_problems, name)
    problems += _guarded("the endpoints", endpoint_problems)
    problems += _guarded("the sinks", sink_problems)
    problems += _guarded("the ClickHouse migrations", lambda: clickhouse_schema()[2])
    return problems


def _guarded(what, check, *args):
    """``check(*args)``, or one problem saying why it could not run (an import error, say), so one
    broken part is reported with the rest instead of stopping the build."""
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001 -- reported as a problem, with its type
        return [f"{what} could not be documented: {type(exc).__name__}: {exc}"]


def _report_problems(app):
    for problem in find_problems(Path(app.config.aspects_package_dir)):
        log.warning("incomplete reference: %s", problem, type="aspects", subtype="reference")


def _django_setup(app):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")
    import django

    django.setup()


def setup(app):
    app.setup_extension("code_annotations.contrib.sphinx.extensions.settings")
    app.setup_extension("code_annotations.contrib.sphinx.extensions.featuretoggles")
    app.add_directive("settings", Settings, override=True)
    app.add_directive("featuretoggles", FeatureToggles, override=True)
    for objtype in ("setting", "toggle", "command", "table"):
        app.add_crossref_type(objtype, objtype)
    app.add_directive("aspects-commands", Commands)
    app.add_directive("aspects-tables", Tables)
    app.add_directive("aspects-migrations", Migrations)
    app.add_directive("aspects-endpoints", Endpoints)
    app.add_directive("aspects-sinks", Sinks)
    # Where the settings checks look (tests point it at a modified copy of the package).
    app.add_config_value("aspects_package_dir", str(PACKAGE_DIR), "env")
    app.connect("builder-inited", _django_setup, priority=100)
    app.connect("builder-inited", _report_problems, priority=900)
    return {"version": "1.0", "parallel_read_safe": False, "parallel_write_safe": True}

"""
The shipped Superset assets (``superset/assets/``) and the bundle ``aspects_superset_sync`` imports.

The asset files are Superset's own v1 export format (YAML: ``databases/``, ``datasets/<db>/``,
``charts/``, ``dashboards/``; objects refer to each other by uuid), written without numeric ids or
secrets so a change is a readable diff. ``manifest.yaml`` says what Superset's format cannot: which
dashboards are embedded for guest tokens, which are translated, which need ``ASPECTS_ENABLE_PII``.

Rendering a bundle is a pure function of the files and the settings:

* the ClickHouse connection comes from settings (``ASPECTS_SUPERSET_CLICKHOUSE``, falling back to the
  sink's connection); its password never enters a file: the import sends it separately;
* datasets get the configured ClickHouse database as their schema;
* with ``ASPECTS_ENABLE_PII`` off, PII-only dashboards, charts and datasets are left out (and their
  charts taken off the layouts), so no dataset a guest token reaches holds names or emails;
* each translated dashboard gets one copy per ``SUPERSET_DASHBOARD_LOCALES`` locale, with the uuid
  derivation the LMS already uses (``dashboards.localized_uuid``) for the dashboard and its charts,
  and titles and labels from the plugin's message catalog.

``normalize`` is the other direction: it turns what Superset exports into the same shape as the
files (no numeric ids, no secrets, stable order), for ``aspects_superset_export`` and for the sync's
"did anything change?" comparison.
"""

import copy
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import yaml
from django.conf import settings
from django.utils import translation

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
MANIFEST = "manifest.yaml"
PASSWORD_MASK = "XXXXXXXXXX"  # what Superset writes in place of a password in an export
RLS_COLUMNS = ("org", "course_key")  # what the guest token's default clauses name (superset.rls)
BUNDLE_ROOT = "aspects_assets"

# Keys whose text is shown to people, per kind of file: translated in each locale's copy.
_CHART_PARAM_TEXTS = ("subheader", "x_axis_title", "y_axis_title")


class AssetError(Exception):
    """The shipped assets (or the settings they are rendered with) are inconsistent."""


def _load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


class _AssetDumper(yaml.SafeDumper):
    """Multi-line strings (dataset SQL, Markdown) as literal blocks, so a diff shows lines."""


def _represent_str(dumper, text):
    style = "|" if "\n" in text and not text.endswith((" ", "\t")) and " \n" not in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_AssetDumper.add_representer(str, _represent_str)


def dump_yaml(config):
    """YAML the way the asset files are written: sorted keys, unicode kept, no line wrapping."""
    return yaml.dump(config, Dumper=_AssetDumper, sort_keys=True, allow_unicode=True, width=4096,
                     default_flow_style=False)


@dataclass
class DashboardSpec:
    """One shipped dashboard, as the manifest describes it."""

    name: str
    path: str
    embed: bool = False
    translate: bool = False
    pii: bool = False


@dataclass
class Assets:
    """Every shipped file (path → parsed YAML) and the manifest's facts about them."""

    files: dict
    dashboards: dict
    database_path: str
    pii_files: set = field(default_factory=set)

    # -- lookups ------------------------------------------------------------------------------
    def by_uuid(self, prefix):
        """``{uuid: path}`` of the files under ``prefix`` (``charts/``, ``datasets/``...)."""
        return {str(c["uuid"]): p for p, c in self.files.items() if p.startswith(prefix)}

    def chart_uuids(self, dashboard_path):
        """The uuids of the charts a dashboard's layout places, in layout order."""
        position = self.files[dashboard_path].get("position", {})
        return [item["meta"]["uuid"] for _, item in sorted(position.items())
                if isinstance(item, dict) and item.get("type") == "CHART"]

    def dataset_paths(self, dashboard_path):
        """The dataset files a dashboard reads: its charts' datasets and its native filters' targets."""
        charts = self.by_uuid("charts/")
        datasets = self.by_uuid("datasets/")
        uuids = [self.files[charts[u]]["dataset_uuid"] for u in self.chart_uuids(dashboard_path)]
        for native_filter in self.files[dashboard_path].get("metadata", {}).get("native_filter_configuration", []):
            uuids += [t["datasetUuid"] for t in native_filter.get("targets", []) if t.get("datasetUuid")]
        return sorted({datasets[str(u)] for u in uuids})

    def guest_dataset_paths(self, pii=False):
        """Datasets some embedded dashboard reads: what a guest token can reach (and the guest role may read)."""
        paths = set()
        for spec in self.dashboards.values():
            if spec.embed and (pii or not spec.pii):
                paths.update(self.dataset_paths(spec.path))
        return sorted(p for p in paths if pii or p not in self.pii_files)

    def validate(self):
        """Refuse assets that would break at import or leak past row-level security."""
        charts, datasets = self.by_uuid("charts/"), self.by_uuid("datasets/")
        for spec in self.dashboards.values():
            if spec.path not in self.files:
                raise AssetError(f"manifest names {spec.path}, which does not exist")
            for chart_uuid in self.chart_uuids(spec.path):
                if chart_uuid not in charts:
                    raise AssetError(f"{spec.path} places chart {chart_uuid}, which no file defines")
            for path in self.dataset_paths(spec.path):
                if str(self.files[path]["database_uuid"]) != str(self.files[self.database_path]["uuid"]):
                    raise AssetError(f"{path} does not use the shipped database")
        for path, chart in self.files.items():
            if path.startswith("charts/") and str(chart["dataset_uuid"]) not in datasets:
                raise AssetError(f"{path} reads dataset {chart['dataset_uuid']}, which no file defines")
        for path in self.guest_dataset_paths(pii=True):
            columns = {c["column_name"] for c in self.files[path].get("columns", [])}
            missing = [c for c in RLS_COLUMNS if c not in columns]
            if missing:
                raise AssetError(f"{path} is reachable with a guest token but lacks {', '.join(missing)}: "
                                 "row-level security could not limit it to one course")
        return self


def load_assets(directory=ASSETS_DIR):
    """Read the manifest and every asset file under ``directory``."""
    directory = Path(directory)
    manifest = _load_yaml(directory / MANIFEST)
    files = {}
    for path in sorted(directory.rglob("*.yaml")):
        relative = path.relative_to(directory).as_posix()
        if relative != MANIFEST:
            files[relative] = _load_yaml(path)
    dashboards = {name: DashboardSpec(name=name, **spec) for name, spec in manifest["dashboards"].items()}
    return Assets(files=files, dashboards=dashboards, database_path=manifest["database"],
                  pii_files=set(manifest.get("pii_files", []))).validate()


# -- the ClickHouse connection Superset uses ---------------------------------------------------------

def superset_clickhouse():
    """
    ``{"url", "username", "password", "database"}`` for Superset's ClickHouse connection.

    ``ASPECTS_SUPERSET_CLICKHOUSE`` overrides the sink's connection key by key, so an operator
    names just a read-only user (and its password) and keeps the URL and database.
    """
    sink = settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG
    merged = {key: sink.get(key, "") for key in ("url", "username", "password", "database")}
    merged.update({k: v for k, v in (settings.ASPECTS_SUPERSET_CLICKHOUSE or {}).items() if v is not None})
    return merged


def sqlalchemy_uri(connection, masked=True):
    """The ``clickhousedb://`` URI (clickhouse-connect's SQLAlchemy dialect), password masked."""
    url = urlsplit(connection["url"])
    if url.scheme not in ("http", "https") or not url.hostname:
        raise AssetError(f"ClickHouse URL {connection['url']!r} must be http(s)://host[:port]")
    port = url.port or (8443 if url.scheme == "https" else 8123)
    user = quote(str(connection["username"] or "default"), safe="")
    password = connection.get("password") or ""
    credentials = f"{user}:{PASSWORD_MASK if masked else quote(password, safe='')}" if password else user
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    query = "?secure=true" if url.scheme == "https" else ""
    return f"clickhousedb://{credentials}@{host}:{port}/{quote(connection['database'], safe='')}{query}"


# -- rendering -----------------------------------------------------------------------------------------

def _translated(text, locale):
    if not text or locale is None:
        return text
    with translation.override(locale):
        return translation.gettext(text)


def translatable_strings(assets):
    """Every text of the assets a person reads (titles, tab names, labels), for the message catalog."""
    found = set()
    for path, config in assets.files.items():
        _translate_file(path, config, lambda text, found=found: found.add(text) or text)
    return sorted(t for t in found if t)


def _translate_file(path, config, translate):
    """Apply ``translate`` to each human-readable text of one asset file (in place)."""
    if path.startswith("dashboards/"):
        config["dashboard_title"] = translate(config["dashboard_title"])
        for item in config.get("position", {}).values():
            if isinstance(item, dict) and item.get("type") in ("TAB", "HEADER") and "text" in item.get("meta", {}):
                item["meta"]["text"] = translate(item["meta"]["text"])
            if isinstance(item, dict) and item.get("type") == "CHART" and item.get("meta", {}).get("sliceNameOverride"):
                item["meta"]["sliceNameOverride"] = translate(item["meta"]["sliceNameOverride"])
        for native_filter in config.get("metadata", {}).get("native_filter_configuration", []):
            native_filter["name"] = translate(native_filter["name"])
    elif path.startswith("charts/"):
        config["slice_name"] = translate(config["slice_name"])
        params = config.get("params", {})
        for key in _CHART_PARAM_TEXTS:
            if params.get(key):
                params[key] = translate(params[key])
        for key in ("metric", "metrics", "percent_metrics"):
            value = params.get(key)
            for metric in value if isinstance(value, list) else [value]:
                if isinstance(metric, dict) and metric.get("label"):
                    metric["label"] = translate(metric["label"])
        for column in params.get("column_config", {}).values() if isinstance(params.get("column_config"), dict) else ():
            if column.get("label"):
                column["label"] = translate(column["label"])


def localized_path(path, locale):
    """Where a locale's copy of a file goes in the bundle (``charts/x.yaml`` → ``charts/x.fr.yaml``)."""
    return path if locale is None else re.sub(r"\.yaml$", f".{locale}.yaml", path)


@dataclass
class Bundle:
    """A rendered bundle: ``files`` (bundle path → config) plus what the sync needs to know about them."""

    files: dict
    database_path: str
    password: str
    embedded: list  # (name, locale or None, dashboard uuid, slug) of the dashboards to embed
    guest_datasets: list  # table names of the datasets the guest role may read
    skipped: list  # (path, why) of shipped files left out (PII off, --only)
    removed: list = field(default_factory=list)  # (path, uuid) of PII-only files to delete while PII is off

    def zip_bytes(self):
        """The ZIP ``POST /api/v1/assets/import/`` takes (with ``metadata.yaml``)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{BUNDLE_ROOT}/metadata.yaml", dump_yaml(
                {"version": "1.0.0", "type": "assets", "timestamp": "2026-01-01T00:00:00+00:00"}))
            for path, config in sorted(self.files.items()):
                archive.writestr(f"{BUNDLE_ROOT}/{path}", dump_yaml(config))
        return buffer.getvalue()


def _with_chart_ids(position, charts_kept):
    """The layout without dropped charts (and rows left empty), with the ``chartId`` Superset's importer needs."""
    position = copy.deepcopy(position)
    dropped = [key for key, item in position.items() if isinstance(item, dict) and item.get("type") == "CHART"
               and item["meta"]["uuid"] not in charts_kept]
    while dropped:
        key = dropped.pop()
        item = position.pop(key, None)
        for parent in (position.get(p) for p in (item or {}).get("parents", [])):
            if parent and key in parent.get("children", []):
                parent["children"].remove(key)
                if not parent["children"] and parent.get("type") == "ROW":
                    dropped.append(parent["id"])
    for number, (_, item) in enumerate(sorted(position.items()), start=1):
        if isinstance(item, dict) and item.get("type") == "CHART":
            item["meta"]["chartId"] = number  # replaced by Superset's own id at import
    return position


def render_bundle(assets=None, only=None, pii=None, locales=None):
    """
    The bundle for this site: ``only`` limits it to some dashboards (names from the manifest).

    The database file is always in the bundle, since Superset resolves datasets' ``database_uuid``
    within the bundle. Raises AssetError for an unknown name or a bad ClickHouse URL.
    """
    assets = assets or load_assets()
    pii = settings.ASPECTS_ENABLE_PII if pii is None else pii
    locales = settings.SUPERSET_DASHBOARD_LOCALES if locales is None else locales
    from .dashboards import DEFAULT_LOCALE, localized_uuid, normalize_locale  # pylint: disable=import-outside-toplevel

    unknown = sorted(set(only or ()) - set(assets.dashboards))
    if unknown:
        raise AssetError(f"unknown dashboard(s) {', '.join(unknown)}; shipped: {', '.join(sorted(assets.dashboards))}")
    connection = superset_clickhouse()
    database = copy.deepcopy(assets.files[assets.database_path])
    database["sqlalchemy_uri"] = sqlalchemy_uri(connection)
    files = {assets.database_path: database}
    skipped, embedded = [], []
    chart_paths = assets.by_uuid("charts/")
    translated_locales = [loc for loc in dict.fromkeys(normalize_locale(x) for x in locales) if loc != DEFAULT_LOCALE]

    for name, spec in sorted(assets.dashboards.items()):
        if only and name not in only:
            skipped.append((spec.path, "not in --only"))
            continue
        if spec.pii and not pii:
            skipped.append((spec.path, "needs ASPECTS_ENABLE_PII"))
            continue
        charts_kept = []
        for chart_uuid in assets.chart_uuids(spec.path):
            path = chart_paths[chart_uuid]
            if path in assets.pii_files and not pii:
                skipped.append((path, "needs ASPECTS_ENABLE_PII"))
            else:
                charts_kept.append(chart_uuid)
        for path in assets.dataset_paths(spec.path):
            if path in assets.pii_files and not pii:
                skipped.append((path, "needs ASPECTS_ENABLE_PII"))
                continue
            dataset = copy.deepcopy(assets.files[path])
            dataset["schema"] = connection["database"]
            files[path] = dataset
        for locale in [None] + (translated_locales if spec.translate else []):
            uuid_for = (lambda u: str(u)) if locale is None else (lambda u, loc=locale: localized_uuid(u, loc))
            dashboard = copy.deepcopy(assets.files[spec.path])
            dashboard["position"] = _with_chart_ids(dashboard.get("position", {}), charts_kept)
            for item in dashboard["position"].values():
                if isinstance(item, dict) and item.get("type") == "CHART":
                    item["meta"]["uuid"] = uuid_for(item["meta"]["uuid"])
            dashboard["uuid"] = uuid_for(dashboard["uuid"])
            if locale is not None:
                dashboard["slug"] = f"{dashboard['slug']}-{locale}"
            _translate_file(spec.path, dashboard, lambda text, loc=locale: _translated(text, loc))
            files[localized_path(spec.path, locale)] = dashboard
            for chart_uuid in charts_kept:
                chart = copy.deepcopy(assets.files[chart_paths[chart_uuid]])
                chart["uuid"] = uuid_for(chart["uuid"])
                _translate_file(chart_paths[chart_uuid], chart, lambda text, loc=locale: _translated(text, loc))
                files[localized_path(chart_paths[chart_uuid], locale)] = chart
            if spec.embed:
                embedded.append((name, locale, str(dashboard["uuid"]), dashboard["slug"]))
    guest = [assets.files[p]["table_name"] for p in assets.guest_dataset_paths(pii=pii)]
    removed = []
    if not pii:  # what an earlier sync with PII on installed must go (dashboards first, then charts, datasets)
        pii_paths = {s.path for s in assets.dashboards.values() if s.pii} | assets.pii_files
        order = {"dashboards": 0, "charts": 1, "datasets": 2}
        for path in sorted(pii_paths, key=lambda p: (order[p.split("/", 1)[0]], p)):
            for locale in [None] + translated_locales:
                uuid = str(assets.files[path]["uuid"])
                removed.append((localized_path(path, locale), uuid if locale is None else localized_uuid(uuid, locale)))
    return Bundle(files=files, database_path=assets.database_path, password=connection.get("password") or "",
                  embedded=embedded, guest_datasets=guest, skipped=sorted(set(skipped)), removed=removed)


# -- normalizing what Superset exports ---------------------------------------------------------------

# Keys Superset adds or changes on its own (ids, timestamps, cached query contexts, layout state):
# never part of a shipped file, so neither of an exported one.
_VOLATILE = {
    "charts/": ("query_context", "id", "dashboards"),
    "dashboards/": ("id",),
    "datasets/": ("id", "database_id"),
    "databases/": ("id",),
}
_VOLATILE_PARAMS = ("datasource", "slice_id", "dashboards", "url_params", "extra_form_data")
_VOLATILE_METADATA = ("positions", "timed_refresh_immune_slices", "filter_scopes", "expanded_slices",
                      "default_filters", "chart_configuration", "global_chart_configuration", "shared_label_colors",
                      "map_label_colors", "color_scheme_domain", "label_colors", "cross_filters_enabled")


def normalize(path, config):
    """One exported file in the shape of the shipped ones: no numeric ids, no secrets."""
    config = copy.deepcopy(config)
    for prefix, keys in _VOLATILE.items():
        if path.startswith(prefix):
            for key in keys:
                config.pop(key, None)
    if path.startswith("databases/"):
        config["sqlalchemy_uri"] = re.sub(r"(://[^:/@]+:)[^@]*@", rf"\g<1>{PASSWORD_MASK}@", config["sqlalchemy_uri"])
        config.pop("password", None)
        config.pop("masked_encrypted_extra", None)
        config.pop("encrypted_extra", None)
    if path.startswith("charts/"):
        for key in _VOLATILE_PARAMS:
            config.get("params", {}).pop(key, None)
    if path.startswith("dashboards/"):
        for item in config.get("position", {}).values():
            if isinstance(item, dict) and item.get("type") == "CHART":
                item["meta"].pop("chartId", None)
        metadata = config.get("metadata", {})
        for key in _VOLATILE_METADATA:
            metadata.pop(key, None)
        for native_filter in metadata.get("native_filter_configuration", []):
            native_filter.get("scope", {}).pop("excluded", None)
            for target in native_filter.get("targets", []):
                target.pop("datasetId", None)
    if path.startswith("datasets/"):
        config["columns"] = sorted(config.get("columns") or [], key=lambda c: c["column_name"])
        config["metrics"] = sorted(config.get("metrics") or [], key=lambda m: m["metric_name"])
    return config


def differences(ours, theirs, where=""):
    """
    Where ``theirs`` (normalized export) departs from ``ours`` (rendered file): a list of key paths.

    Only keys we ship are compared (Superset fills in defaults for the rest), except layouts and
    column/metric lists, which must match one for one: a chart added by hand is a difference.
    """
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = []
        exact = where.endswith(("position", "columns", "metrics"))
        if exact and set(ours) != set(theirs):
            return [where or "."]
        for key, value in ours.items():
            if key not in theirs:
                if value not in (None, "", [], {}, False):
                    found.append(f"{where}.{key}".lstrip("."))
                continue
            found += differences(value, theirs[key], f"{where}.{key}".lstrip("."))
        return found
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [where]
        found = []
        for index, (mine, other) in enumerate(zip(ours, theirs)):
            found += differences(mine, other, f"{where}[{index}]")
        return found
    if isinstance(ours, str) and isinstance(theirs, str):
        return [] if ours.strip() == theirs.strip() else [where]
    return [] if ours == theirs or str(ours) == str(theirs) else [where]


# -- the message catalog ----------------------------------------------------------------------------

MESSAGES_MODULE = Path(__file__).resolve().parent / "asset_messages.py"
_MESSAGES_DOC = '''"""
The shipped dashboards' titles, tab names and labels, marked for translation so that
``make extract_translations`` puts them in the plugin's message catalog (makemessages cannot read
the YAML asset files). ``aspects_superset_sync`` translates each SUPERSET_DASHBOARD_LOCALES copy
with that catalog.

Generated from the asset files by ``python -m platform_plugin_aspects.superset.bundle messages``
(``make extract_translations`` runs it); a test fails while it is out of date. Do not edit.
"""
'''


def messages_module(strings):
    """The text of ``asset_messages.py`` for ``strings``."""
    lines = "".join(f"    gettext_noop({text!r}),\n" for text in strings)
    return f"{_MESSAGES_DOC}\nfrom django.utils.translation import gettext_noop\n\nMESSAGES = (\n{lines})\n"


if __name__ == "__main__":  # pragma: no cover
    import os
    import sys

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")
    django.setup()
    if sys.argv[1:] == ["messages"]:
        MESSAGES_MODULE.write_text(messages_module(translatable_strings(load_assets())), encoding="utf-8")

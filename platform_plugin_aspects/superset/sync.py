"""
Install or upgrade the shipped assets in Superset through its public REST API only.

``SupersetSync(client).run(bundle)`` does, in order, and reports every change it makes:

1. **Compare** the bundle with what Superset has: the shipped dashboards are exported
   (``GET /api/v1/dashboard/export/``), normalized like the asset files, and compared file by file.
2. **Import** the whole bundle (``POST /api/v1/assets/import/`` with ``overwrite``, the ClickHouse
   password as a separate form field) only when a file is new or different, so a second run
   changes nothing.
3. **Check the connection**: Superset lists the ClickHouse databases with the credentials it stored.
   If that fails without an import, the bundle is imported once more (a rotated password), then
   the failure is an error naming ClickHouse's URL.
4. **Embed** each embeddable dashboard (and its locale copies) with the allowed domains from
   settings; Superset picks the embedded uuid and keeps it across updates.
5. **Guest role**: the role guest tokens act as gets exactly the view permissions the embedded
   page needs plus ``datasource_access`` on the datasets embedded dashboards read, nothing else
   (the Operator dashboard's datasets in particular).

``dry_run`` stops before anything is written and reports what would change.
"""

import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import yaml
from django.conf import settings

from .bundle import PASSWORD_MASK, differences, dump_yaml, normalize
from .client import SupersetError
from .rison import rison

log = logging.getLogger(__name__)

# What an embedded dashboard page asks of Superset as a guest (found by loading the shipped
# dashboards in Chromium with a role holding only these): read the dashboard, its charts and
# their data, the time-range helper, and the filter state the native filters keep.
GUEST_VIEW_PERMISSIONS = (
    ("can_read", "CurrentUserRestApi"),
    ("can_read", "Dashboard"),
    ("can_read", "Chart"),
    ("can_dashboard", "Superset"),
    ("can_explore_json", "Superset"),
    ("can_time_range", "Api"),
    ("can_read", "DashboardFilterStateRestApi"),
    ("can_write", "DashboardFilterStateRestApi"),
    ("can_read", "DashboardPermalinkRestApi"),
)


class SyncError(Exception):
    """The sync cannot go on; the message names the Superset (or ClickHouse) URL and the cause."""


@dataclass
class SyncReport:
    """What the sync found and did, as lines for the operator."""

    changes: list = field(default_factory=list)  # ("create"|"update"|"embed"|"role"|..., what)
    unchanged: int = 0

    def add(self, action, what):
        self.changes.append((action, what))


def _require(response, what, ok=(200,)):
    if response.status_code not in ok:
        try:
            reason = response.json().get("message") or response.json().get("errors") or response.text
        except ValueError:
            reason = response.text
        raise SyncError(f"Superset answered {response.status_code} to {what}: {str(reason)[:300]}")
    return response


class SupersetSync:
    """One sync run against the Superset ``client`` (a logged-in SupersetClient)."""

    def __init__(self, client, allowed_domains=(), guest_role="Aspects Guest", dry_run=False, force=False):
        self.client = client
        self.force = force
        self.allowed_domains = sorted(set(allowed_domains))
        self.guest_role = guest_role
        self.dry_run = dry_run
        self.report = SyncReport()

    # -- REST helpers --------------------------------------------------------------------------
    def _get(self, path, what=None, ok=(200,)):
        return _require(self.client.request("GET", path), what or f"GET {path}", ok)

    def _find(self, resource, uuid):
        """The numeric id of the ``resource`` (chart, dataset, dashboard, database) with ``uuid``, or None."""
        if resource == "dashboard":
            response = self._get(f"api/v1/dashboard/{uuid}", ok=(200, 404))
            return response.json()["result"]["id"] if response.status_code == 200 else None
        query = rison({"filters": [{"col": "uuid", "opr": "eq", "value": str(uuid)}], "columns": ["id", "uuid"]})
        if resource == "database":
            query = rison({"columns": ["id", "uuid"], "page_size": 100})
        result = self._get(f"api/v1/{resource}/?q={query}").json()["result"]
        return next((row["id"] for row in result if str(row.get("uuid")) == str(uuid)), None)

    # -- 1. compare ----------------------------------------------------------------------------
    def exported(self, bundle):
        """What Superset has for the bundle's dashboards: ``{path: normalized config}`` keyed by uuid."""
        ids = [i for i in (self._find("dashboard", c["uuid"]) for p, c in bundle.files.items()
                           if p.startswith("dashboards/")) if i is not None]
        found = {}
        if ids:
            response = self._get(f"api/v1/dashboard/export/?q={rison(ids)}", "the dashboard export")
            found.update(read_export(response.content))
        return found

    def plan(self, bundle):
        """``[(action, path, details)]`` for every bundle file that is new or differs in Superset."""
        theirs_by_uuid = {str(c.get("uuid")): (p, c) for p, c in self.exported(bundle).items()}
        plan = []
        for path, ours in sorted(bundle.files.items()):
            match = theirs_by_uuid.get(str(ours["uuid"]))
            if path == bundle.database_path and match is None:
                database_id = self._find("database", ours["uuid"])
                if database_id is not None:  # exported only along with a dashboard
                    match = (path, ours)
            if match is None:
                plan.append(("create", path, []))
                continue
            changed = differences(normalize(path, ours), normalize(path, match[1]))
            if changed:
                plan.append(("update", path, changed))
            else:
                self.report.unchanged += 1
        return plan

    # -- 2. import -----------------------------------------------------------------------------
    def import_bundle(self, bundle):
        """``POST /api/v1/assets/import/`` the whole bundle with overwrite."""
        passwords = {f"databases/{bundle.database_path.split('/', 1)[1]}": bundle.password} if bundle.password else {}
        response = self.client.request(
            "POST", "api/v1/assets/import/",
            files={"bundle": ("aspects_assets.zip", bundle.zip_bytes(), "application/zip")},
            data={"overwrite": "true", "passwords": json.dumps(passwords)},
        )
        _require(response, "the asset import (POST /api/v1/assets/import/)")

    # -- 3. connection -------------------------------------------------------------------------
    def credentials_problem(self, bundle):
        """None when ClickHouse accepts the configured connection (tested by Superset), else why not."""
        database = bundle.files[bundle.database_path]
        uri = database["sqlalchemy_uri"].replace(f":{PASSWORD_MASK}@", f":{quote(bundle.password, safe='')}@")
        response = self.client.request("POST", "api/v1/database/test_connection/", json={
            "database_name": database["database_name"], "sqlalchemy_uri": uri, "impersonate_user": False})
        if response.status_code == 200:
            return None
        try:
            body = response.json()
            reason = body.get("message") or "; ".join(e.get("message", "") for e in body.get("errors", []))
        except ValueError:
            reason = response.text
        return str(reason).replace(bundle.password, "***")[:300] if bundle.password else str(reason)[:300]

    def connection_problem(self, bundle):
        """None when Superset can query ClickHouse with what it stored, else Superset's reason."""
        database_id = self._find("database", bundle.files[bundle.database_path]["uuid"])
        if database_id is None:
            return "the database is not in Superset"
        response = self.client.request("GET", f"api/v1/database/{database_id}/schemas/?q={rison({'force': True})}")
        if response.status_code == 200:
            return None
        try:
            return str(response.json().get("message") or response.json())[:300]
        except ValueError:
            return response.text[:300]

    # -- 4. embedding --------------------------------------------------------------------------
    def embed(self, bundle):
        """Enable embedding (allowed domains from settings) on each embeddable dashboard that needs it."""
        for name, locale, uuid, slug in bundle.embedded:
            label = f"{name}" + (f" ({locale})" if locale else "")
            if self._find("dashboard", uuid) is None:
                self.report.add("embed", f"{label}: after import")
                continue
            response = self._get(f"api/v1/dashboard/{uuid}/embedded", ok=(200, 404))
            current = response.json()["result"] if response.status_code == 200 else None
            if current and sorted(current.get("allowed_domains") or []) == self.allowed_domains:
                continue
            self.report.add("embed", f"{label}: allowed domains {self.allowed_domains or 'any'}")
            if not self.dry_run:
                _require(self.client.request("POST", f"api/v1/dashboard/{uuid}/embedded",
                                             json={"allowed_domains": self.allowed_domains}),
                         f"enabling embedding of {slug}")

    # -- 5. the guest role ---------------------------------------------------------------------
    def _permission_ids(self, wanted_views, wanted_datasets):
        """Ids of the permission-views granting ``wanted_views`` and datasource_access on ``wanted_datasets``."""
        database = None
        ids, found_views, found_datasets, page = set(), set(), set(), 0
        while True:
            query = rison({"page": page, "page_size": 100})
            result = self._get(f"api/v1/security/permissions-resources/?q={query}",
                               "the permission list (GET /api/v1/security/permissions-resources/)").json()["result"]
            for row in result:
                pair = (row["permission"]["name"], row["view_menu"]["name"])
                if pair in wanted_views:
                    ids.add(row["id"])
                    found_views.add(pair)
                elif pair[0] == "datasource_access":
                    for table_name, prefix in wanted_datasets.items():
                        if pair[1].startswith(prefix):
                            ids.add(row["id"])
                            found_datasets.add(table_name)
                            database = database or pair[1]
            if len(result) < 100:
                break
            page += 1
        missing = sorted(set(wanted_views) - found_views)
        if missing:
            raise SyncError(f"Superset has no permission {missing[0]} (is this Superset 6.1 with `superset init` run?)")
        return ids, sorted(set(wanted_datasets) - found_datasets)

    def guest_role_sync(self, bundle, database_name):
        """Create the guest role if needed and give it exactly the permissions guests need."""
        query = rison({"filters": [{"col": "name", "opr": "eq", "value": self.guest_role}]})
        roles = self._get(f"api/v1/security/roles/?q={query}", "the role list (GET /api/v1/security/roles/)").json()
        role_id = next((r["id"] for r in roles["result"] if r["name"] == self.guest_role), None)
        wanted_datasets = {t: f"[{database_name}].[{t}](id:" for t in bundle.guest_datasets}
        ids, not_yet = self._permission_ids(set(GUEST_VIEW_PERMISSIONS), wanted_datasets)
        if role_id is None:
            self.report.add("role", f"create {self.guest_role!r}")
            if self.dry_run:
                return
            role_id = _require(self.client.request("POST", "api/v1/security/roles/", json={"name": self.guest_role}),
                               f"creating role {self.guest_role!r}", ok=(200, 201)).json()["id"]
        current = {p["id"] for p in self._get(f"api/v1/security/roles/{role_id}/permissions/").json()["result"]}
        if current != ids:
            self.report.add("role", f"{self.guest_role!r}: {len(ids)} permissions "
                                    f"({len(current - ids)} removed, {len(ids - current)} added)")
            if not self.dry_run:
                _require(self.client.request("POST", f"api/v1/security/roles/{role_id}/permissions",
                                             json={"permission_view_menu_ids": sorted(ids)}),
                         f"setting the permissions of {self.guest_role!r}")
        # With --only, datasets of dashboards not synced yet may be missing; the bundle's own may not.
        in_bundle = {c["table_name"] for p, c in bundle.files.items() if p.startswith("datasets/")}
        missing = sorted(set(not_yet) & in_bundle)
        if missing and not self.dry_run:
            raise SyncError(f"datasets {', '.join(missing)} have no datasource_access permission in Superset")

    # -- the whole run ---------------------------------------------------------------------------
    def run(self, bundle):
        """Compare, import when needed, check the connection, embed, set the guest role."""
        problem = self.credentials_problem(bundle)
        if problem:
            raise SyncError(f"ClickHouse refuses the connection Superset would use "
                            f"({bundle.files[bundle.database_path]['sqlalchemy_uri']}): {problem}")
        plan = self.plan(bundle)
        if self.force and not plan:
            plan = [("update", bundle.database_path, ["--force"])]
        for action, path, details in plan:
            self.report.add(action, path + (f" ({', '.join(details[:4])})" if details else ""))
        imported = False
        if plan and not self.dry_run:
            self.import_bundle(bundle)
            imported = True
        if not self.dry_run:
            problem = self.connection_problem(bundle)
            if problem and not imported:
                self.import_bundle(bundle)  # the stored password may be stale
                self.report.add("update", f"{bundle.database_path} (credentials re-sent: {problem})")
                problem = self.connection_problem(bundle)
            if problem:
                raise SyncError(f"Superset cannot query ClickHouse at "
                                f"{bundle.files[bundle.database_path]['sqlalchemy_uri']}: {problem}")
        self.embed(bundle)
        self.guest_role_sync(bundle, bundle.files[bundle.database_path]["database_name"])
        self.remove(bundle)
        return self.report

    def remove(self, bundle):
        """Delete what only PII mode installs (names and emails) once ASPECTS_ENABLE_PII is off."""
        for path, uuid in bundle.removed:
            kind = {"dashboards": "dashboard", "charts": "chart", "datasets": "dataset"}[path.split("/", 1)[0]]
            found = self._find(kind, uuid)
            if found is None:
                continue
            self.report.add("remove", f"{path} (needs ASPECTS_ENABLE_PII)")
            if not self.dry_run:
                _require(self.client.request("DELETE", f"api/v1/{kind}/{found}"), f"deleting {path}")


def read_export(content):
    """``{path without the root folder: parsed YAML}`` of an export ZIP (metadata.yaml left out)."""
    found = {}
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for name in archive.namelist():
                path = name.split("/", 1)[1] if "/" in name else name
                if path.endswith(".yaml") and path != "metadata.yaml":
                    found[path] = yaml.safe_load(archive.read(name))
    except zipfile.BadZipFile as exc:
        raise SupersetError(f"Superset's export is not a ZIP file: {exc}") from None
    return found


def _origin(url):
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def allowed_domains():
    """Origins allowed to embed the dashboards: ASPECTS_SUPERSET_ALLOWED_DOMAINS, else the LMS and Studio."""
    configured = settings.ASPECTS_SUPERSET_ALLOWED_DOMAINS
    if configured is not None:
        return list(configured)
    found = (_origin(getattr(settings, name, None)) for name in ("LMS_ROOT_URL", "CMS_ROOT_URL"))
    return sorted({origin for origin in found if origin})


def _file_name(title):
    return (re.sub(r"[^A-Za-z0-9]+", "_", str(title)).strip("_") or "untitled") + ".yaml"


def export_assets(client, assets, output, only=None):
    """
    Export the shipped dashboards from Superset into ``output`` as normalized asset files.

    Existing files keep their names (matched by uuid); values rendered at install time (the
    ClickHouse URI, the datasets' database) are written back as shipped. Returns ``[(path, state)]``
    with state "created", "updated" or "unchanged".
    """
    sync = SupersetSync(client)
    shipped = {str(c["uuid"]): p for p, c in assets.files.items()}
    ids, written = [], []
    for name, spec in sorted(assets.dashboards.items()):
        if only and name not in only:
            continue
        dashboard_id = sync._find("dashboard", assets.files[spec.path]["uuid"])  # pylint: disable=protected-access
        if dashboard_id is None:
            written.append((spec.path, "not in Superset"))
        else:
            ids.append(dashboard_id)
    if not ids:
        return written
    exported = read_export(sync._get(f"api/v1/dashboard/export/?q={rison(ids)}").content)  # pylint: disable=protected-access
    for exported_path, config in sorted(exported.items()):
        kind = exported_path.split("/", 1)[0]
        title = config.get("table_name") or config.get("slice_name") or config.get("dashboard_title") or \
            config.get("database_name")
        folder = f"datasets/{Path(assets.database_path).stem}" if kind == "datasets" else kind
        path = shipped.get(str(config.get("uuid"))) or f"{folder}/{_file_name(title)}"
        config = normalize(path, config)
        if path in assets.files:
            for key in ("sqlalchemy_uri", "schema"):  # rendered from settings at install time
                if key in config and key in assets.files[path]:
                    config[key] = assets.files[path][key]
        if path.startswith("dashboards/"):
            # Drop what Superset adds to the layout on its own (chart names it can look up).
            for item in config.get("position", {}).values():
                if isinstance(item, dict) and item.get("type") == "CHART":
                    item["meta"].pop("sliceName", None)
        target = Path(output) / path
        text = dump_yaml(config)
        state = "unchanged" if target.exists() and target.read_text(encoding="utf-8") == text else (
            "updated" if target.exists() else "created")
        if state != "unchanged":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        written.append((path, state))
    return written

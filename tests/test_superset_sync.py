"""
The shipped dashboards: the asset files, ``aspects_superset_sync`` into a REAL (empty) Superset 6.1,
``aspects_superset_export`` back, and what a site that has not synced sees.
"""

import io
import re

import pytest
import requests
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import Client

from devstack.local_superset import ADMIN_PASSWORD, ADMIN_USERNAME
from devstack.ports import free_port
from platform_plugin_aspects.settings.common import DEFAULT_INSTRUCTOR_DASHBOARDS
from platform_plugin_aspects.superset.bundle import (
    ASSETS_DIR,
    RLS_COLUMNS,
    load_assets,
    render_bundle,
    sqlalchemy_uri,
)
from platform_plugin_aspects.superset.client import SupersetClient
from platform_plugin_aspects.superset.dashboards import (
    DashboardNotInstalled,
    embeddable,
    embedded_uuid,
    localized_uuid,
)
from platform_plugin_aspects.superset.sync import GUEST_VIEW_PERMISSIONS, allowed_domains

from .superset_fixtures import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import

PII_COLUMNS = {"username", "name", "email", "full_name"}


def shipped_paths():
    return sorted(p.relative_to(ASSETS_DIR).as_posix() for p in ASSETS_DIR.rglob("*.yaml") if p.name != "manifest.yaml")


# --- the files ------------------------------------------------------------------------------------

def test_asset_files_hold_no_secret_and_no_numeric_id():
    for path in shipped_paths():
        text = (ASSETS_DIR / path).read_text(encoding="utf-8")
        config = yaml.safe_load(text)
        assert "id" not in config, path
        assert not re.search(r"\b(chartId|datasetId|slice_id|datasource_id)\b", text), path
        if path.startswith("databases/"):
            assert ":XXXXXXXXXX@" in config["sqlalchemy_uri"] and "password" not in config, path


def test_every_dataset_a_guest_token_reaches_exposes_the_rls_columns():
    assets = load_assets()
    guest = assets.guest_dataset_paths(pii=True)
    assert guest
    for path in guest:
        assert set(RLS_COLUMNS) <= {c["column_name"] for c in assets.files[path]["columns"]}, path


def test_operator_datasets_are_never_guest_datasets():
    assets = load_assets()
    operator = set()
    for spec in assets.dashboards.values():
        if not spec.embed:
            operator.update(assets.dataset_paths(spec.path))
    assert operator, "the Operator dashboard reads datasets of its own"
    assert not operator & set(assets.guest_dataset_paths(pii=True))


def test_without_pii_no_bundle_file_has_a_name_or_email(settings):
    bundle = render_bundle(pii=False)
    for path, config in bundle.files.items():
        if path.startswith("datasets/"):
            columns = {c["column_name"] for c in config["columns"]}
            assert not columns & PII_COLUMNS, path
            assert not re.search(r"\b(email|username)\b", config.get("sql") or ""), path
    assert not [p for p in bundle.files if "Individual_Learner" in p]
    with_pii = render_bundle(pii=True)
    assert [p for p in with_pii.files if "Individual_Learner" in p]


def test_locale_copies_use_the_lms_uuid_derivation():
    bundle = render_bundle(locales=["en", "fr_CA"])
    course = next(c for p, c in bundle.files.items() if p == "dashboards/Course_Dashboard.yaml")
    copy = bundle.files["dashboards/Course_Dashboard.fr_ca.yaml"]
    assert copy["uuid"] == localized_uuid(course["uuid"], "fr_CA")
    assert copy["slug"] == "course-dashboard-fr_ca"
    chart_uuids = {item["meta"]["uuid"] for item in copy["position"].values()
                   if isinstance(item, dict) and item.get("type") == "CHART"}
    originals = {item["meta"]["uuid"] for item in course["position"].values()
                 if isinstance(item, dict) and item.get("type") == "CHART"}
    assert chart_uuids == {localized_uuid(u, "fr_CA") for u in originals}
    assert chart_uuids <= {c["uuid"] for p, c in bundle.files.items() if p.startswith("charts/") and ".fr_ca." in p}


def test_the_connection_uri_is_built_from_settings_and_masks_the_password():
    connection = {"url": "https://ch.example.com", "username": "report@x", "password": "p@ss:w/rd", "database": "ev"}
    assert sqlalchemy_uri(connection) == "clickhousedb://report%40x:XXXXXXXXXX@ch.example.com:8443/ev?secure=true"
    assert sqlalchemy_uri({**connection, "password": ""}) == "clickhousedb://report%40x@ch.example.com:8443/ev?secure=true"


# --- the sync ------------------------------------------------------------------------------------------

def test_first_sync_creates_everything_and_the_second_changes_nothing(superset):
    (first_status, first), (second_status, second) = SYNC_RUNS
    assert first_status == 0, first
    created = set(re.findall(r"^\s+create\s+(\S+)$", first, re.M))
    assert created == set(render_bundle().files), first
    assert re.search(r"^\s+embed\s+course:", first, re.M)
    assert re.search(r"^\s+role\s+create 'Aspects Guest'", first, re.M)
    assert second_status == 0, second
    assert re.search(r"^0 changed, \d+ unchanged", second.splitlines()[-1]), second
    assert not re.search(r"^\s+(create|update|embed|role)\s", second, re.M), second


def test_dry_run_reports_without_changing(superset, superset_admin, settings):
    settings.SUPERSET_CONFIG = superset_config_for(superset)
    settings.ASPECTS_SUPERSET_CLICKHOUSE = dict(REPORT_USER)
    chart = next(c for p, c in render_bundle().files.items() if p.startswith("charts/"))
    chart_id = superset_admin.request("GET", f"api/v1/chart/?q=(filters:!((col:uuid,opr:eq,value:'{chart['uuid']}')))"
                                      ).json()["result"][0]["id"]
    assert superset_admin.request("PUT", f"api/v1/chart/{chart_id}", json={"slice_name": "Edited by hand"}
                                  ).status_code == 200

    status, output = run_sync("--dry-run")
    assert status == 0 and re.search(r"^\s+update\s+charts/\S+ \(slice_name\)$", output, re.M), output
    assert superset_admin.request("GET", f"api/v1/chart/{chart_id}").json()["result"]["slice_name"] == "Edited by hand"

    status, output = run_sync()
    assert status == 0 and re.search(r"^\s+update\s+charts/", output, re.M), output
    assert superset_admin.request("GET", f"api/v1/chart/{chart_id}").json()["result"]["slice_name"] == \
        chart["slice_name"]
    assert run_sync()[1].splitlines()[-1].startswith("0 changed")


def test_the_guest_role_gets_exactly_the_shipped_guest_datasets(superset, superset_admin, settings):
    settings.SUPERSET_CONFIG = superset_config_for(superset)
    settings.ASPECTS_SUPERSET_CLICKHOUSE = dict(REPORT_USER)
    role = superset_admin.request("GET", "api/v1/security/roles/?q=(filters:!((col:name,opr:eq,value:'Aspects Guest')))"
                                  ).json()["result"][0]

    def permissions():
        rows = superset_admin.request("GET", f"api/v1/security/roles/{role['id']}/permissions/").json()["result"]
        return {(r["permission_name"], r["view_menu_name"]) for r in rows}

    granted = permissions()
    datasets = {re.sub(r"^\[[^]]*\]\.\[([^]]*)\]\(id:\d+\)$", r"\1", view) for perm, view in granted
                if perm == "datasource_access"}
    assert datasets == set(render_bundle().guest_datasets)
    assert granted - {p for p in granted if p[0] == "datasource_access"} == set(GUEST_VIEW_PERMISSIONS)
    assert not [p for p in granted if p[0] in ("all_datasource_access", "all_database_access", "can_sqllab")]

    # Someone widens the role by hand: the next sync puts it back.
    everything = superset_admin.request("GET", "api/v1/security/permissions-resources/?q=(page_size:100)"
                                        ).json()["result"]
    extra = next(p["id"] for p in everything if p["permission"]["name"].startswith("can_write")
                 and (p["permission"]["name"], p["view_menu"]["name"]) not in granted)
    current = [p["id"] for p in superset_admin.request(
        "GET", f"api/v1/security/roles/{role['id']}/permissions/").json()["result"]]
    superset_admin.request("POST", f"api/v1/security/roles/{role['id']}/permissions",
                           json={"permission_view_menu_ids": current + [extra]})
    status, output = run_sync()
    assert status == 0 and "1 removed, 0 added" in output, output
    assert permissions() == granted


def test_embedding_is_allowed_for_the_lms_and_studio_origins_by_default(settings):
    settings.ASPECTS_SUPERSET_ALLOWED_DOMAINS = None
    settings.LMS_ROOT_URL = "https://lms.example.com/"
    settings.CMS_ROOT_URL = "https://studio.example.com:8443"
    assert allowed_domains() == ["https://lms.example.com", "https://studio.example.com:8443"]
    settings.ASPECTS_SUPERSET_ALLOWED_DOMAINS = ["https://other.example.com"]
    assert allowed_domains() == ["https://other.example.com"]


def test_superset_down_is_exit_1_naming_the_url(settings):
    closed = f"http://127.0.0.1:{free_port()}/"
    settings.SUPERSET_CONFIG = superset_config_for(closed)

    status, output = run_sync()

    assert status == 1
    assert closed in output and "could not be reached" in output


def test_wrong_password_is_exit_1_naming_the_url_without_the_password(superset, settings):
    settings.SUPERSET_CONFIG = {**superset_config_for(superset), "password": "wrong-s3cret"}

    status, output = run_sync()

    assert status == 1
    assert superset in output and "401" in output and "password" in output
    assert "wrong-s3cret" not in output


def test_clickhouse_refusing_superset_is_exit_1_naming_clickhouse(superset, settings):
    settings.SUPERSET_CONFIG = superset_config_for(superset)
    settings.ASPECTS_SUPERSET_CLICKHOUSE = {**REPORT_USER, "password": "not-the-password"}
    try:
        status, output = run_sync("--only", "operator")
        assert status == 1, output
        assert "ClickHouse refuses the connection" in output and "AUTHENTICATION_FAILED" in output
        assert "clickhousedb://ch_report:XXXXXXXXXX@127.0.0.1" in output and "not-the-password" not in output
    finally:
        settings.ASPECTS_SUPERSET_CLICKHOUSE = dict(REPORT_USER)
        assert run_sync()[0] == 0  # the right password again


def test_unknown_only_name_is_refused(superset, settings):
    settings.SUPERSET_CONFIG = superset_config_for(superset)
    status, output = run_sync("--only", "nope")
    assert status == 1 and "unknown dashboard(s) nope" in output


# --- export ----------------------------------------------------------------------------------------

def test_export_right_after_a_sync_reproduces_the_shipped_files(superset, settings, tmp_path):
    settings.SUPERSET_CONFIG = superset_config_for(superset)
    settings.ASPECTS_SUPERSET_CLICKHOUSE = dict(REPORT_USER)
    settings.ASPECTS_ENABLE_PII = True  # the PII-only charts are part of the shipped layouts
    try:
        status, output = run_sync()
        assert status == 0 and re.search(r"^\s+create\s+dashboards/Individual_Learner.yaml", output, re.M), output
        out = io.StringIO()
        call_command("aspects_superset_export", "--output", str(tmp_path), stdout=out)

        exported = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.yaml"))
        assert exported == shipped_paths()
        for path in exported:
            assert (tmp_path / path).read_text(encoding="utf-8") == (ASSETS_DIR / path).read_text(encoding="utf-8"), \
                path
        text = "".join((tmp_path / p).read_text(encoding="utf-8") for p in exported)
        assert ":XXXXXXXXXX@" in text and f":{REPORT_USER['password']}@" not in text  # the password stays in settings
        assert not re.search(r"\bchartId\b|\bdatasetId\b|^id:", text, re.M)
    finally:
        settings.ASPECTS_ENABLE_PII = False
        status, output = run_sync()
    # PII off again: what only PII mode installs is deleted.
    assert status == 0, output
    removed = set(re.findall(r"^\s+remove\s+(\S+)", output, re.M))
    assert removed == {"dashboards/Individual_Learner.yaml", "charts/At_risk_learners_with_names.yaml",
                       "charts/Learner_summary.yaml", "datasets/ClickHouse/analytics_learner_status_pii.yaml"}, output
    assert run_sync()[1].splitlines()[-1].startswith("0 changed")


# --- a site that has not synced ------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_site_that_has_not_synced_gets_a_clear_message(superset_settings, settings, users):
    missing = "00000000-0000-4000-8000-0000000000aa"
    settings.ASPECTS_INSTRUCTOR_DASHBOARDS = [{"name": "Course Dashboard", "uuid": missing}]
    client = Client()
    client.force_login(users["course_staff"])

    token = client.get(f"/aspects/superset_guest_token/{COURSE}/")
    assert token.status_code == 503
    assert "aspects_superset_sync" in token.json()["error"]
    page = client.get(f"/courses/{COURSE}/instructor").content.decode()
    assert "aspects_superset_sync" in page and "data-dashboard-uuid" not in page


@pytest.mark.django_db
def test_the_shipped_defaults_find_their_embedded_uuids(superset_settings, settings, superset, users):
    settings.ASPECTS_INSTRUCTOR_DASHBOARDS = [dict(d) for d in DEFAULT_INSTRUCTOR_DASHBOARDS]
    admin = SupersetClient(superset, ADMIN_USERNAME, ADMIN_PASSWORD)
    expected = admin.request("GET", f"api/v1/dashboard/{DEFAULT_INSTRUCTOR_DASHBOARDS[0]['uuid']}/embedded"
                             ).json()["result"]["uuid"]
    course_uuid = DEFAULT_INSTRUCTOR_DASHBOARDS[0]["uuid"]
    assert embedded_uuid(course_uuid) == expected != course_uuid

    client = Client()
    client.force_login(users["course_staff"])
    response = client.get(f"/aspects/superset_guest_token/{COURSE}/")
    assert response.status_code == 200, response.content
    ids = [r["id"] for r in jwt_claims(response.json()["guestToken"])["resources"]]
    assert expected in ids and len(ids) == 2  # Course + At-Risk; Individual Learner only with PII
    page = client.get(f"/courses/{COURSE}/instructor").content.decode()
    assert f'data-dashboard-uuid="{expected}"' in page


def test_the_operator_dashboard_cannot_be_put_in_a_guest_token(superset, superset_admin, superset_settings):
    """It is never embedded, so the plugin finds no uuid to put in a token, and a token naming it opens nothing."""
    assets = load_assets()
    operator = assets.files[assets.dashboards["operator"].path]
    assert superset_admin.request("GET", f"api/v1/dashboard/{operator['uuid']}/embedded").status_code == 404
    with pytest.raises(DashboardNotInstalled):
        embedded_uuid(operator["uuid"])
    # Superset 6.1 mints a token for any dashboard uuid it knows; that token must still open nothing.
    operator_id = superset_admin.request("GET", f"api/v1/dashboard/{operator['uuid']}").json()["result"]["id"]
    token = superset_admin.guest_token({"username": "x", "first_name": "", "last_name": ""},
                                       [{"type": "dashboard", "id": str(operator["uuid"])}], [])
    for path in (f"api/v1/dashboard/{operator_id}", f"api/v1/dashboard/{operator_id}/charts"):
        assert requests.get(f"{superset}{path}", headers={"X-GuestToken": token}, timeout=30).status_code in (
            401, 403, 404), path


def test_a_token_resource_must_be_a_uuid(superset_settings):
    """Superset lets a guest token naming a dashboard's numeric id open it even when it is not embedded."""
    with pytest.raises(ImproperlyConfigured):
        embeddable({"name": "x", "uuid": "00000000-0000-4000-8000-000000000001", "embedded_uuid": "5"}, "en")


def test_the_bundle_is_made_of_the_shipped_files():
    bundle = render_bundle(pii=True, locales=["en"])
    assert set(bundle.files) == set(shipped_paths())
    assert (ASSETS_DIR / "manifest.yaml").exists()


@pytest.mark.django_db
def test_aspects_status_says_when_the_dashboards_are_not_installed(superset_settings, settings, clickhouse):
    missing = "00000000-0000-4000-8000-0000000000bb"
    settings.ASPECTS_INSTRUCTOR_DASHBOARDS = [{"name": "Course Dashboard", "uuid": missing}]
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("aspects_status", stdout=out)
    assert "NOT INSTALLED: Course Dashboard" in out.getvalue()
    assert "aspects_superset_sync" in str(error.value)

    settings.ASPECTS_INSTRUCTOR_DASHBOARDS = [dict(d) for d in DEFAULT_INSTRUCTOR_DASHBOARDS]
    out = io.StringIO()
    call_command("aspects_status", stdout=out)
    assert "the Reports tab's dashboards are installed" in out.getvalue()


# --- translations --------------------------------------------------------------------------------------

def test_the_asset_messages_module_is_up_to_date():
    """If this fails, run `make extract_translations` and commit asset_messages.py and the catalog."""
    from platform_plugin_aspects.superset.bundle import (  # pylint: disable=import-outside-toplevel
        MESSAGES_MODULE,
        messages_module,
        translatable_strings,
    )

    assert MESSAGES_MODULE.read_text(encoding="utf-8") == messages_module(translatable_strings(load_assets()))
    catalog = (ASSETS_DIR.parents[1] / "conf" / "locale" / "en" / "LC_MESSAGES" / "django.po").read_text("utf-8")
    for text in translatable_strings(load_assets()):
        assert f'msgid "{text}"' in catalog, text


def test_locale_copies_take_titles_and_labels_from_the_catalog(tmp_path, settings):
    import subprocess  # pylint: disable=import-outside-toplevel

    from django.utils.translation import trans_real  # pylint: disable=import-outside-toplevel

    catalog = (ASSETS_DIR.parents[1] / "conf" / "locale" / "en" / "LC_MESSAGES" / "django.po").read_text("utf-8")
    french = catalog.replace('"Language: \\n"', '"Language: fr\\n"').replace("#, fuzzy\n", "", 1)
    for english, translated in (("Course Dashboard", "Tableau de bord du cours"), ("Enrollment", "Inscriptions"),
                                ("Enrolled learners", "Apprenants inscrits")):
        french = french.replace(f'msgid "{english}"\nmsgstr ""', f'msgid "{english}"\nmsgstr "{translated}"')
    (tmp_path / "fr" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "fr" / "LC_MESSAGES" / "django.po").write_text(french, encoding="utf-8")
    subprocess.run(["msgfmt", "-o", str(tmp_path / "fr" / "LC_MESSAGES" / "django.mo"),
                    str(tmp_path / "fr" / "LC_MESSAGES" / "django.po")], check=True)
    settings.LOCALE_PATHS = [str(tmp_path)]
    trans_real._translations = {}  # pylint: disable=protected-access  # catalogs are cached per process
    try:
        bundle = render_bundle(locales=["en", "fr"])
    finally:
        trans_real._translations = {}  # pylint: disable=protected-access
    english = bundle.files["dashboards/Course_Dashboard.yaml"]
    copy = bundle.files["dashboards/Course_Dashboard.fr.yaml"]
    assert (english["dashboard_title"], copy["dashboard_title"]) == ("Course Dashboard", "Tableau de bord du cours")
    tabs = [item["meta"]["text"] for item in copy["position"].values() if isinstance(item, dict)
            and item.get("type") == "TAB"]
    assert "Inscriptions" in tabs and "Engagement" in tabs  # untranslated strings stay English
    chart = bundle.files["charts/Enrolled_learners.fr.yaml"]
    assert chart["slice_name"] == "Apprenants inscrits" and chart["params"]["metric"]["label"] == "Apprenants inscrits"
    assert bundle.files["charts/Enrolled_learners.yaml"]["slice_name"] == "Enrolled learners"


def test_in_context_dashboards_have_the_native_filters_the_settings_name():
    from platform_plugin_aspects.settings.common import (  # pylint: disable=import-outside-toplevel
        DEFAULT_IN_CONTEXT_DASHBOARDS,
    )

    assets = load_assets()
    by_uuid = {str(c["uuid"]): c for p, c in assets.files.items() if p.startswith("dashboards/")}
    embedded = {str(assets.files[s.path]["uuid"]) for s in assets.dashboards.values() if s.embed}
    for block_type, entry in DEFAULT_IN_CONTEXT_DASHBOARDS.items():
        assert entry["uuid"] in embedded, block_type
        filters = {f["id"]: f["targets"][0]["column"]["name"]
                   for f in by_uuid[entry["uuid"]]["metadata"]["native_filter_configuration"]}
        assert filters[entry["course_filter_key"]] == "course_key", block_type
        if "block_filter_key" in entry:
            assert filters[entry["block_filter_key"]] == "block_id", block_type
    for entry in DEFAULT_INSTRUCTOR_DASHBOARDS:
        assert entry["uuid"] in embedded and by_uuid[entry["uuid"]]["slug"] == entry["slug"]

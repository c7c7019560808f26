"""
A translated dashboard copy, opened in the real Superset.

Aspects installs one copy of each translatable dashboard per locale in SUPERSET_DASHBOARD_LOCALES and
gives each copy the embedded uuid ``localized_uuid(base, locale)`` (its asset installer writes that
uuid into Superset's ``embedded_dashboards`` table); the plugin finds the copy from the base uuid and
the user's "pref-lang" without asking Superset. Here the session's Superset gets a Spanish copy made
the same way, and a Spanish-speaking instructor's token must open that copy and nothing else.
"""

import sqlite3
import uuid

import pytest
import requests
from django.test import Client

from platform_plugin_aspects.superset.dashboards import localized_uuid
from tests.lms.user_api.models import UserPreference

from .superset_fixtures import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import
from .superset_fixtures import SUPERSET_HOME, create_embedded_dashboard

pytestmark = pytest.mark.django_db

LOCALE = "es_419"


@pytest.fixture(scope="module")
def spanish_copy(superset_admin, embedded_dashboard):
    """The Spanish copy of the session's course dashboard, under the embedded uuid Aspects derives."""
    copy = create_embedded_dashboard(superset_admin, "Tablero del curso")
    derived = localized_uuid(embedded_dashboard["uuid"], LOCALE)
    with sqlite3.connect(SUPERSET_HOME / "superset.db") as metadata:
        changed = metadata.execute("UPDATE embedded_dashboards SET uuid = ? WHERE dashboard_id = ?",
                                   (uuid.UUID(derived).bytes, copy["id"])).rowcount
    assert changed == 1
    return {**copy, "uuid": derived}


@pytest.fixture
def spanish_instructor(superset_settings, settings, embedded_dashboard, users):
    settings.SUPERSET_DASHBOARD_LOCALES = ["en", LOCALE]
    settings.ASPECTS_INSTRUCTOR_DASHBOARDS = [{"name": "Course", "slug": "course", "uuid": embedded_dashboard["uuid"],
                                               "allow_translations": True}]
    UserPreference.objects.create(user=users["course_instructor"], key="pref-lang", value="es-419")
    client = Client()
    client.force_login(users["course_instructor"])
    return client


def opens(superset, dashboard_id, token):
    response = requests.get(f"{superset}api/v1/dashboard/{dashboard_id}", headers={"X-GuestToken": token}, timeout=10)
    return response.status_code == 200


def test_the_spanish_instructor_opens_the_spanish_copy(spanish_instructor, spanish_copy, superset, embedded_dashboard):
    config = spanish_instructor.get(f"/aspects/superset_instructor_dashboard/{COURSE}/").json()
    assert [d["uuid"] for d in config["superset_dashboards"]] == [spanish_copy["uuid"]]

    response = spanish_instructor.get(f"/aspects/superset_guest_token/{COURSE}/")

    assert response.status_code == 200, response.content
    token = response.json()["guestToken"]
    assert [r["id"] for r in jwt_claims(token)["resources"]] == [spanish_copy["uuid"]]
    # Superset serves the copy's embedded page and, with the token, the copy itself...
    assert requests.get(f"{superset}embedded/{spanish_copy['uuid']}", timeout=10).status_code == 200
    dashboard = requests.get(f"{superset}api/v1/dashboard/{spanish_copy['id']}", headers={"X-GuestToken": token},
                             timeout=10)
    assert dashboard.status_code == 200
    assert dashboard.json()["result"]["dashboard_title"] == "Tablero del curso"
    # ...and not the English original: the token names the copy only.
    assert not opens(superset, embedded_dashboard["id"], token)


def test_an_english_speaker_keeps_the_original(spanish_instructor, spanish_copy, superset, embedded_dashboard, users):
    client = Client()
    client.force_login(users["course_staff"])

    token = client.get(f"/aspects/superset_guest_token/{COURSE}/").json()["guestToken"]

    assert [r["id"] for r in jwt_claims(token)["resources"]] == [embedded_dashboard["uuid"]]
    assert opens(superset, embedded_dashboard["id"], token)
    assert not opens(superset, spanish_copy["id"], token)

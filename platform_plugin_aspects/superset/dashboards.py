"""
Which dashboards a user sees, in which language, and the guest token that opens them.

Aspects ships one copy of each translatable dashboard per locale; a copy's uuid is derived from
the base uuid (``uuid5(uuid5(base, "superset"), locale)``), so the LMS can find it without asking
Superset. A guest token covers the copies in the user's language (their "pref-lang" when
SUPERSET_DASHBOARD_LOCALES has it, else English).

A dashboard's ``uuid`` in the settings is the dashboard's own uuid (the shipped ones are fixed in
``superset/assets``). Superset picks the *embedded* uuid, which the SDK and guest tokens use, when
``aspects_superset_sync`` enables embedding, so the LMS asks Superset for it (and caches the answer)
instead of anyone copying uuids by hand. A uuid that is already an embedded one (an operator's own
dashboard, the "superset" XBlock) is used as it is; ``embedded_uuid`` in an entry skips the lookup.
"""

import logging
from urllib.parse import urljoin
from uuid import UUID, uuid5

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils.translation import gettext as _

from ..platform import get_model
from .client import SupersetError, get_client
from .rls import rls_clauses

log = logging.getLogger(__name__)

DEFAULT_LOCALE = "en"

# What a page that embeds dashboards loads (the Reports tab and the "superset" XBlock): the pinned
# embedded SDK comes from the plugin's static files (vendored, see devstack.vendor_sdk), never from a CDN.
EMBED_CSS = ("platform_plugin_aspects/css/reports.css",)
EMBED_JS = ("platform_plugin_aspects/vendor/superset-embedded-sdk.js", "platform_plugin_aspects/js/reports.js")


def normalize_locale(language):
    """Aspects' locale spelling: lower case, ``_`` not ``-`` (``es-419`` → ``es_419``)."""
    return str(language or DEFAULT_LOCALE).lower().replace("-", "_")


def localized_uuid(base_uuid, locale):
    """The uuid of the ``locale`` copy of dashboard ``base_uuid``."""
    return str(uuid5(uuid5(UUID(str(base_uuid)), "superset"), normalize_locale(locale)))


def user_locale(user):
    """The user's "pref-lang" if Superset has dashboards in that locale, else English."""
    locales = [normalize_locale(loc) for loc in settings.SUPERSET_DASHBOARD_LOCALES]
    preference = get_model("user_preference")
    language = None
    if preference is not None and getattr(user, "is_authenticated", False):
        language = preference.get_value(user, "pref-lang")
    language = normalize_locale(language)
    return language if language in locales else DEFAULT_LOCALE


def localize(dashboard, locale):
    """A copy of ``dashboard`` pointing at its ``locale`` copy (when it allows translations)."""
    dashboard = dict(dashboard)
    if dashboard.get("allow_translations") and locale != DEFAULT_LOCALE:
        dashboard["uuid"] = localized_uuid(dashboard["uuid"], locale)
        dashboard["slug"] = f"{dashboard.get('slug', '')}-{locale}"
    return dashboard


def instructor_dashboards():
    """The Reports tab's dashboards: ASPECTS_INSTRUCTOR_DASHBOARDS without PII-only ones while PII is off."""
    return [d for d in settings.ASPECTS_INSTRUCTOR_DASHBOARDS if settings.ASPECTS_ENABLE_PII or not d.get("pii")]


def token_dashboards():
    """Every dashboard a course guest token opens: instructor (+ in-context) dashboards."""
    dashboards = instructor_dashboards()
    if settings.ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS:
        dashboards += list(settings.ASPECTS_IN_CONTEXT_DASHBOARDS.values())
    return dashboards


class DashboardNotInstalled(SupersetError):
    """Superset has no embeddable dashboard with this uuid: the sync has not run (or failed)."""

    status_code = 503


def embedded_uuid(dashboard_uuid):
    """
    The uuid to embed (and to name in a guest token) for dashboard ``dashboard_uuid``.

    Asks Superset for the dashboard's embedded configuration; when it has none, accepts
    ``dashboard_uuid`` if it is itself an embedded uuid. Answers are cached for
    ASPECTS_SUPERSET_EMBED_CACHE_SECS; a miss is not, so a sync takes effect at once. Raises
    DashboardNotInstalled, or SupersetError/SupersetUnavailable when Superset cannot answer.
    """
    config = settings.SUPERSET_CONFIG
    superset_url = config.get("internal_service_url") or config.get("service_url")
    key = f"aspects.superset.embedded.{superset_url}.{dashboard_uuid}"
    found = cache.get(key)
    if found:
        return found
    client = get_client(config)
    path = f"api/v1/dashboard/{dashboard_uuid}/embedded"
    response = client.request("GET", path)
    if response.status_code == 200:
        found = client._json_field("GET", path, response, "result")["uuid"]  # pylint: disable=protected-access
    elif response.status_code == 404:
        path = f"api/v1/embedded_dashboard/{dashboard_uuid}"
        response = client.request("GET", path)
        if response.status_code not in (200, 404):
            raise client._fail("GET", path, response)  # pylint: disable=protected-access
        found = str(dashboard_uuid) if response.status_code == 200 else None
    else:
        raise client._fail("GET", path, response)  # pylint: disable=protected-access
    if not found:
        log.error("Superset has no embeddable dashboard %s: run `manage.py lms aspects_superset_sync`", dashboard_uuid)
        raise DashboardNotInstalled(f"Superset has no embeddable dashboard {dashboard_uuid}")
    cache.set(key, found, settings.ASPECTS_SUPERSET_EMBED_CACHE_SECS)
    return found


def embeddable(dashboard, locale):
    """``localize(dashboard, locale)`` with ``uuid`` replaced by the uuid to embed (``dashboard_uuid`` keeps it)."""
    dashboard = localize(dashboard, locale)
    dashboard["dashboard_uuid"] = dashboard["uuid"]
    found = dashboard.get("embedded_uuid") or embedded_uuid(dashboard["uuid"])
    try:
        # Superset lets a token naming a dashboard's *numeric id* open it even if it is not embedded
        # (the Operator dashboard...): only uuids ever go into a token.
        dashboard["uuid"] = str(UUID(str(found)))
    except ValueError:
        raise ImproperlyConfigured(f"dashboard {dashboard.get('name')!r}: {found!r} is not a uuid") from None
    return dashboard


def token_resources(dashboards, locale):
    """
    Guest-token resources: the ``locale`` copy of each dashboard (no duplicates).

    Only the copies the user's page embeds: Superset 6.1 refuses the whole token (400
    "EmbeddedDashboard not found") if any listed dashboard is missing, so listing every locale's
    copy (as upstream did) would break all tokens on a site that lacks one translation.
    """
    uuids = [localize(dashboard, locale)["uuid"] for dashboard in dashboards]
    return [{"type": "dashboard", "id": str(uuid)} for uuid in dict.fromkeys(uuids)]


def generate_guest_token(user, course_key, dashboards=None, extra_filters=()):
    """
    A guest token for ``user`` on ``course_key``'s dashboards, limited by RLS to that course.

    ``extra_filters`` are more clause templates (an XBlock's ``filters``) after the operator's
    SUPERSET_EXTRA_FILTERS_FORMAT; Superset applies every rule, so they can only narrow what the
    token shows. The caller has checked that ``user`` may see the course's reports. Raises
    SupersetError or SupersetUnavailable (from .client) and ImproperlyConfigured for a bad template.
    """
    rls = rls_clauses(user, course_key, [*settings.SUPERSET_EXTRA_FILTERS_FORMAT, *extra_filters])
    locale = user_locale(user)
    dashboards = [embeddable(d, locale) for d in (token_dashboards() if dashboards is None else dashboards)]
    resources = token_resources(dashboards, DEFAULT_LOCALE)  # already localized
    guest = {"username": user.username, "first_name": user.first_name or "", "last_name": user.last_name or ""}
    return get_client(settings.SUPERSET_CONFIG).guest_token(guest, resources, rls)


class GuestTokenUnavailable(Exception):
    """No guest token: ``status_code`` and a short, translated ``message`` for the page."""

    def __init__(self, status_code, message):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def issue_guest_token(user, course_key, dashboards=None, extra_filters=()):
    """
    ``generate_guest_token``, with every failure turned into GuestTokenUnavailable.

    503 when Superset cannot be reached or a clause template is bad, 502 when Superset refuses.
    The details go to the server log (the client logs Superset's answer), never to the page.
    """
    try:
        return generate_guest_token(user, course_key, dashboards, extra_filters)
    except SupersetError as exc:
        raise GuestTokenUnavailable(503 if exc.status_code == 503 else 502, reports_unavailable_message(exc)) from None
    except ImproperlyConfigured as exc:
        log.error("Guest token for %s not issued: %s", course_key, exc)
        raise GuestTokenUnavailable(503, _("Reports are not configured correctly. Ask your site operator.")) from None


def reports_unavailable_message(exc):
    """The translated message for a SupersetError met while preparing reports (never its details)."""
    if isinstance(exc, DashboardNotInstalled):
        return _("Reports are not installed yet: Superset does not have these dashboards. Ask your site operator "
                 "to run manage.py lms aspects_superset_sync.")
    if exc.status_code == 503:
        return _("Reports are unavailable: Superset could not be reached. Try again later.")
    return _("Reports are unavailable: Superset refused the request. Ask your site operator.")


def superset_public_url():
    """The Superset root browsers open (service_url), with a trailing slash."""
    config = settings.SUPERSET_CONFIG
    return (config.get("service_url") or config.get("internal_service_url", "")).rstrip("/") + "/"


def instructor_dashboard_config(user, course_key):
    """
    What the Reports tab (legacy page or MFE) needs to embed the course's dashboards.

    Raises DashboardNotInstalled or SupersetError when the embedded uuids cannot be found.
    """
    locale = user_locale(user)
    return {
        "superset_dashboards": [embeddable(d, locale) for d in instructor_dashboards()],
        "superset_url": superset_public_url(),
        "superset_guest_token_url": urljoin(
            settings.LMS_ROOT_URL,
            reverse("platform_plugin_aspects:superset_guest_token", kwargs={"course_id": str(course_key)}),
        ),
        "show_dashboard_link": bool(settings.SUPERSET_SHOW_INSTRUCTOR_DASHBOARD_LINK),
    }

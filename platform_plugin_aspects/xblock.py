"""
The ``superset`` XBlock: one Aspects Superset dashboard inside course content, for course staff.

Course authors add it to a unit (Advanced Module List: "superset") and set the dashboard's embedded
uuid and, optionally, extra row-level-security clauses. Its guest-token handler is the Reports tab's
endpoint for one dashboard: the same role check (``can_view_course_reports``: global staff, course
or org staff/instructors), the same RLS clauses (the course's org and key, the operator's
SUPERSET_EXTRA_FILTERS_FORMAT, then the block's ``filters``, rendered by ``superset.rls``), the same
cached Superset login and the same short JSON errors. Upstream's block checked no role in its
handler, so any learner who could load the block could mint a token; here a learner or an anonymous
user gets 403 and no token, and never sees the embed. The page and the handler share one check
(``_staff_viewer``), so staff viewing the course as a learner get neither the embed nor a token.
"""

import logging
import uuid

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from web_fragments.fragment import Fragment
from xblock.core import XBlock
from xblock.exceptions import JsonHandlerError
from xblock.fields import List, Scope, String
from xblock.utils.studio_editable import StudioEditableXBlockMixin
from xblock.validation import ValidationMessage

from .superset.dashboards import EMBED_CSS, EMBED_JS, GuestTokenUnavailable, issue_guest_token, superset_public_url
from .superset.permissions import NotACourseKey, can_view_course_reports, parse_course_key
from .superset.rls import check_clause_template

log = logging.getLogger(__name__)

# What edx-platform's user service (DjangoXBlockUserService) puts in XBlockUser.opt_attrs.
USER_ID_ATTR = "edx-platform.user_id"
IS_AUTHENTICATED_ATTR = "edx-platform.is_authenticated"
USER_ROLE_ATTR = "edx-platform.user_role"  # "student" while staff view the course as a learner


def parse_dashboard_uuid(value):
    """The canonical form of ``value`` if it is a uuid, else None."""
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        return None


def filters_problem(filters):
    """Why ``filters`` (a block's extra clause templates) cannot be used, or None when they can."""
    for template in filters or ():
        try:
            check_clause_template(template)
        except ImproperlyConfigured as exc:
            return str(exc)
    return None


def _fragment(html, embed=False):
    """A view's fragment with the stylesheet, and with the embedding scripts when ``embed``."""
    fragment = Fragment(html)
    for path in EMBED_CSS:
        fragment.add_css_url(static(path))
    if embed:
        for path in EMBED_JS:
            fragment.add_javascript_url(static(path))
        fragment.initialize_js("AspectsSupersetXBlock")  # defined in reports.js
    return fragment


@XBlock.needs("user")
@XBlock.wants("i18n")  # the Studio editor translates the field labels and help through it
class SupersetXBlock(StudioEditableXBlockMixin, XBlock):
    """An embedded Superset dashboard that only the course's staff can open."""

    display_name = String(
        display_name=gettext_noop("Display name"),
        help=gettext_noop("The name learners and staff see for this component."),
        default=gettext_noop("Superset Dashboard"),
        scope=Scope.settings,
    )
    dashboard_uuid = String(
        display_name=gettext_noop("Dashboard UUID"),
        help=gettext_noop("The dashboard's embedded UUID (in Superset: the dashboard's menu, \"Embed dashboard\")."),
        default="",
        scope=Scope.settings,
    )
    filters = List(
        display_name=gettext_noop("Filters"),
        help=gettext_noop(
            "Extra row-level-security clauses, as a JSON list of strings, e.g. [\"course_key LIKE '{course_id}%'\"]. "
            "Only {course_id}, {org}, {user_id} and {username} are replaced; the course's own clauses always apply."
        ),
        default=[],
        scope=Scope.settings,
    )

    editable_fields = ("display_name", "dashboard_uuid", "filters")

    # -- who is looking, at which course ---------------------------------------------------------
    def _user_attrs(self):
        xblock_user = self.runtime.service(self, "user").get_current_user()
        return getattr(xblock_user, "opt_attrs", None) or {}

    def _current_user(self, attrs=None):
        """The Django user behind the runtime's current user; None when anonymous or unknown."""
        attrs = self._user_attrs() if attrs is None else attrs
        user_id = attrs.get(USER_ID_ATTR)
        if user_id is None or attrs.get(IS_AUTHENTICATED_ATTR) is False:
            return None
        try:
            return get_user_model().objects.filter(pk=int(user_id)).first()
        except (TypeError, ValueError):
            return None

    def _course_key(self):
        """The course this block lives in, without branch or version; None in a content library."""
        try:
            return parse_course_key(str(self.scope_ids.usage_id), blocks=True)[0]
        except NotACourseKey:
            return None  # e.g. a block in a content library: no course, no course staff

    def _staff_viewer(self):
        """
        ``(user, course_key)`` when the current user may see this block's dashboard, else None.

        The one check the view and the token handler share: course staff (``can_view_course_reports``)
        who are not viewing the course as a learner (the LMS's "View this course as": the user
        service then reports the role "student", for the page and for its handler calls alike).
        """
        attrs = self._user_attrs()
        if attrs.get(USER_ROLE_ATTR) == "student":
            return None
        user, course_key = self._current_user(attrs), self._course_key()
        if course_key is None or not can_view_course_reports(user, course_key):
            return None
        return user, course_key

    # -- the views -------------------------------------------------------------------------------
    def student_view(self, context=None):  # pylint: disable=unused-argument
        """
        Course staff see the dashboard; everyone else a short note that it is for course staff.

        Staff viewing the course as a learner (the LMS's "View this course as") see the note too.
        """
        if self._staff_viewer() is None:
            return self._message(_("This dashboard is only visible to course staff."))
        dashboard_uuid = parse_dashboard_uuid(self.dashboard_uuid)
        if dashboard_uuid is None:
            return self._message(_(
                "No Superset dashboard is configured for this component: set its Dashboard UUID in Studio "
                "(the dashboard's embedded UUID)."
            ))
        return _fragment(render_to_string("platform_plugin_aspects/reports_embed.html", {
            "superset_dashboards": [{"name": self.display_name, "uuid": dashboard_uuid}],
            "superset_url": superset_public_url(),
            "guest_token_path": self.runtime.handler_url(self, "get_superset_guest_token"),
            "guest_token_method": "POST",
            "hide_tabs": True,
            "dom_id": f"aspects-superset-{uuid.uuid4().hex[:8]}",
        }), embed=True)

    @staticmethod
    def _message(text):
        return _fragment(format_html('<p class="aspects-superset-message">{}</p>', text))

    # -- the guest token -------------------------------------------------------------------------
    @XBlock.json_handler
    def get_superset_guest_token(self, data, suffix=""):  # pylint: disable=unused-argument
        """
        ``{"guestToken": ...}`` for this block's dashboard, for the course's staff only.

        Errors are ``{"error": "<short, translated message>"}``: 403 (not course staff), 404 (no
        dashboard configured), 503 (Superset unreachable, or a bad clause template), 502 (Superset
        refused). Details go to the server log, never passwords or tokens.
        """
        viewer = self._staff_viewer()
        if viewer is None:
            raise JsonHandlerError(403, _("You do not have permission to view this course's reports."))
        user, course_key = viewer
        dashboard_uuid = parse_dashboard_uuid(self.dashboard_uuid)
        if dashboard_uuid is None:
            raise JsonHandlerError(404, _("No Superset dashboard is configured for this component."))
        problem = filters_problem(self.filters)
        if problem:
            log.error("Guest token for %s not issued: %s", self.scope_ids.usage_id, problem)
            raise JsonHandlerError(503, _(
                "This dashboard's filters are not valid. Ask the course team to correct them in Studio."
            ))
        dashboards = [{"name": self.display_name, "uuid": dashboard_uuid}]
        try:
            token = issue_guest_token(user, course_key, dashboards, extra_filters=self.filters)
        except GuestTokenUnavailable as exc:
            raise JsonHandlerError(exc.status_code, exc.message) from None
        return {"guestToken": token}

    # -- Studio ----------------------------------------------------------------------------------
    def validate_field_data(self, validation, data):
        """Refuse what the handler would refuse: a uuid that is not one, a clause template it rejects."""
        # Any message, even a warning, makes Studio refuse the save, so an empty uuid is allowed here
        # (the block tells staff it is not configured).
        if data.dashboard_uuid and parse_dashboard_uuid(data.dashboard_uuid) is None:
            validation.add(ValidationMessage(ValidationMessage.ERROR, _(
                "The Dashboard UUID is not a UUID: copy the dashboard's embedded UUID from Superset."
            )))
        problem = filters_problem(data.filters)
        if problem:
            validation.add(ValidationMessage(ValidationMessage.ERROR, _("Invalid filters: {reason}").format(
                reason=problem)))

"""
A small real XBlock runtime with the services edx-platform gives blocks, for the stand-in LMS.

* ``user``: an ``XBlockUser`` for a Django user, with the ``opt_attrs`` keys edx-platform's
  ``DjangoXBlockUserService`` sets ("edx-platform.user_id", ".is_authenticated", ".username",
  ".user_role"); anonymous users have no id.
* ``i18n``: Django's translations (what edx-platform's i18n service uses for a block whose package
  ships no translations of its own).
* ``field-data``: ``STORE`` (or a dict the caller passes), keyed like the modulestore by usage key.
* handler URLs are the LMS's: ``/courses/<course>/xblock/<usage>/handler/<name>``.
"""

from django.utils import translation
from xblock.fields import ScopeIds
from xblock.reference.user_service import UserService, XBlockUser
from xblock.runtime import DictKeyValueStore, KvsFieldData, MemoryIdManager, Runtime

# Block field values of the stand-in LMS (what the modulestore holds in the platform).
STORE = {}


class DjangoUserService(UserService):
    """The current user as edx-platform's user service describes them."""

    def __init__(self, user, user_role=None, **kwargs):
        super().__init__(**kwargs)
        self.django_user = user
        self.user_role = user_role

    def get_current_user(self):
        user = self.django_user
        authenticated = bool(user is not None and user.is_authenticated)
        xblock_user = XBlockUser(is_current_user=True, emails=[user.email] if authenticated else [])
        xblock_user.opt_attrs = {
            "edx-platform.is_authenticated": authenticated,
            "edx-platform.user_id": user.id if authenticated else None,
            "edx-platform.username": user.username if authenticated else None,
            "edx-platform.user_role": self.user_role,
        }
        return xblock_user


class DjangoI18nService:
    """The "i18n" service: Django's active translation."""

    def __getattr__(self, name):
        return getattr(translation, {"ugettext": "gettext", "ungettext": "ngettext"}.get(name, name))


class StandInRuntime(Runtime):
    """The LMS's runtime for one user (``None``: anonymous), as far as the plugin's block needs it."""

    def __init__(self, user, user_role=None, store=None):
        ids = MemoryIdManager()
        super().__init__(ids, ids, services={
            "user": DjangoUserService(user, user_role),
            "i18n": DjangoI18nService(),
            "field-data": KvsFieldData(DictKeyValueStore(STORE if store is None else store)),
        })
        self.django_user = user

    def block(self, usage_key):
        """The block at ``usage_key`` (its type is the key's block type), as this user sees it."""
        user_id = self.django_user.id if self.django_user is not None and self.django_user.is_authenticated else None
        scope_ids = ScopeIds(user_id, usage_key.block_type, usage_key, usage_key)
        return self.construct_xblock(usage_key.block_type, scope_ids)

    def handler_url(self, block, handler_name, suffix="", query="", thirdparty=False):
        usage_key = block.scope_ids.usage_id
        url = f"/courses/{usage_key.course_key}/xblock/{usage_key}/handler/{handler_name}"
        url += f"/{suffix}" if suffix else ""
        return url + (f"?{query}" if query else "")

    def resource_url(self, resource):
        raise NotImplementedError("the stand-in LMS serves block assets as Django static files")

    def local_resource_url(self, block, uri):
        raise NotImplementedError("the stand-in LMS serves block assets as Django static files")

    def publish(self, block, event_type, event_data):
        """Events are not recorded."""

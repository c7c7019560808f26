"""App configuration: how edx-platform (LMS and Studio) loads the plugin."""

from django.apps import AppConfig
from edx_django_utils.plugins import PluginSettings, PluginURLs

_SETTINGS = {
    "common": {PluginSettings.RELATIVE_PATH: "settings.common"},
    "production": {PluginSettings.RELATIVE_PATH: "settings.production"},
}


class PlatformPluginAspectsConfig(AppConfig):
    """Registers URLs and settings for both services; receivers are connected in ``ready``."""

    name = "platform_plugin_aspects"
    verbose_name = "Aspects analytics"
    default_auto_field = "django.db.models.BigAutoField"

    plugin_app = {
        PluginURLs.CONFIG: {
            "lms.djangoapp": {
                PluginURLs.NAMESPACE: "",
                PluginURLs.REGEX: r"^aspects/",
                PluginURLs.RELATIVE_PATH: "urls",
            },
            "cms.djangoapp": {
                PluginURLs.NAMESPACE: "",
                PluginURLs.REGEX: r"^aspects/",
                PluginURLs.RELATIVE_PATH: "urls",
            },
        },
        PluginSettings.CONFIG: {"lms.djangoapp": _SETTINGS, "cms.djangoapp": _SETTINGS},
    }

    def ready(self):
        """Connect receivers (openedx-events and the platform's Django signals) and Celery tasks."""
        # pylint: disable=import-outside-toplevel,unused-import
        from . import signals, tasks  # noqa: F401

        signals.connect_receivers()

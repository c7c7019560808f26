"""
Everything the plugin reads from edx-platform, resolved by dotted path from settings.

The plugin never imports platform modules directly: model classes come from
``EVENT_SINK_CLICKHOUSE_MODEL_CONFIG`` and signals/modulestore from ``ASPECTS_PLATFORM_PATHS``,
so it survives platform refactors and runs unchanged against the stand-in LMS in tests.
"""

import functools
import logging
from importlib import import_module

from django.conf import settings
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey, UsageKey

log = logging.getLogger(__name__)

# edx-platform's locations; ASPECTS_PLATFORM_PATHS overrides any of them.
DEFAULT_PLATFORM_PATHS = {
    "course_published_signal": "xmodule.modulestore.django.COURSE_PUBLISHED",
    "course_deleted_signal": "xmodule.modulestore.django.COURSE_DELETED",
    "enroll_status_change_signal": "common.djangoapps.student.signals.signals.ENROLL_STATUS_CHANGE",
    "user_retire_lms_misc_signal": "openedx.core.djangoapps.user_api.accounts.signals.USER_RETIRE_LMS_MISC",
    "modulestore": "xmodule.modulestore.django.modulestore",
    "detached_xblock_types": "xmodule.modulestore.store_utilities.DETACHED_XBLOCK_TYPES",
    "course_waffle_flag": "openedx.core.djangoapps.waffle_utils.CourseWaffleFlag",
}


def _import(dotted):
    module, _, name = dotted.rpartition(".")
    return getattr(import_module(module), name)


def platform_object(key):
    """The platform object named ``key`` in ASPECTS_PLATFORM_PATHS, or None when it is not installed."""
    paths = {**DEFAULT_PLATFORM_PATHS, **getattr(settings, "ASPECTS_PLATFORM_PATHS", {})}
    try:
        return _import(paths[key])
    except (ImportError, AttributeError):
        return None


def get_model(key):
    """The model class for ``key`` in EVENT_SINK_CLICKHOUSE_MODEL_CONFIG, or None (logged) if absent."""
    return _get_model(key, repr(settings.EVENT_SINK_CLICKHOUSE_MODEL_CONFIG.get(key)))


@functools.lru_cache(maxsize=None)
def _get_model(key, _config_repr):
    config = settings.EVENT_SINK_CLICKHOUSE_MODEL_CONFIG.get(key)
    if not config:
        return None
    try:
        return getattr(import_module(config["module"]), config["model"])
    except (ImportError, AttributeError) as exc:
        log.info("Model %s (%s.%s) is not available here: %s", key, config["module"], config["model"], exc)
        return None


def course_key_from_text(text):
    """
    The CourseKey a command option or function argument names; ValueError, naming it, for anything else.

    The one check every operator-facing entry point (commands, the analytics query module, the
    digest) applies to a course key it is given, so they all refuse the same input with the same words.
    """
    try:
        return CourseKey.from_string(str(text))
    except InvalidKeyError:
        raise ValueError(f"{text!r} is not a course key (e.g. course-v1:Org+Course+Run)") from None


def course_key_of(object_id):
    """The course key of a course or block id string, or None when it is neither."""
    for parse in (CourseKey.from_string, lambda value: UsageKey.from_string(value).course_key):
        try:
            return parse(str(object_id))
        except (InvalidKeyError, ValueError, TypeError):
            continue
    return None

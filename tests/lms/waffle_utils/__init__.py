"""
Stand-in for ``openedx.core.djangoapps.waffle_utils.CourseWaffleFlag``: a waffle flag that a course
override, then an org override, can force on or off before the flag itself is consulted.
"""

from edx_toggles.toggles import WaffleFlag


class CourseWaffleFlag(WaffleFlag):
    """A waffle flag with per-course and per-org overrides, in the platform's order."""

    def is_enabled(self, course_key=None):  # pylint: disable=arguments-differ
        """The course override, else the org override, else the flag."""
        from .models import WaffleFlagCourseOverrideModel, WaffleFlagOrgOverrideModel

        if course_key is not None:
            for override in (WaffleFlagCourseOverrideModel.override_value(self.name, course_key),
                             WaffleFlagOrgOverrideModel.override_value(self.name, course_key.org)):
                if override:
                    return override == "on"
        return super().is_enabled()

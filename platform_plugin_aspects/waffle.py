"""
Waffle flag names. Each sink has ``event_sink_clickhouse.<model>.enabled`` (upstream spelling).

.. toggle_name: event_sink_clickhouse.<model>.enabled
.. toggle_implementation: WaffleFlag
.. toggle_default: False
.. toggle_description: Turns the ClickHouse sink for <model> on (course_overviews, course_enrollment,
   user_profile, external_id, auth_user, tag, taxonomy, object_tag, course_grade, tracking_events).
   The setting EVENT_SINK_CLICKHOUSE_<MODEL>_ENABLED = True does the same.
.. toggle_use_cases: open_edx
.. toggle_creation_date: 2026-11-24
"""

# .. toggle_name: EVENT_SINK_CLICKHOUSE_<MODEL>_ENABLED
# .. toggle_implementation: DjangoSetting
# .. toggle_default: False
# .. toggle_description: The settings form of the waffle flag event_sink_clickhouse.<model>.enabled, e.g.
#    EVENT_SINK_CLICKHOUSE_COURSE_ENROLLMENT_ENABLED = True in lms.yml / cms.yml. Either one turns the sink on.
# .. toggle_use_cases: open_edx
# .. toggle_creation_date: 2026-11-24
WAFFLE_FLAG_NAMESPACE = "event_sink_clickhouse"


def sink_flag_name(model):
    """The waffle flag that enables the sink for ``model``."""
    return f"{WAFFLE_FLAG_NAMESPACE}.{model}.enabled"


# .. toggle_name: aspects.course_digest.enabled
# .. toggle_implementation: CourseWaffleFlag
# .. toggle_default: False
# .. toggle_description: Sends the weekly course digest (docs/how-to/course-digest.rst) to the staff and
#    instructors of a course. Turn it on for one course or org with a waffle flag course/org override
#    (Django admin, "Waffle flag course overrides"), or for every course with the waffle flag itself.
# .. toggle_use_cases: open_edx
# .. toggle_creation_date: 2026-12-01
COURSE_DIGEST_FLAG = "aspects.course_digest.enabled"

"""
Courses: ``course_overviews`` plus every published block in ``course_blocks`` (and CCX courses).

A course change is rare but heavy (all blocks), so the flusher coalesces every change of one
course in a batch — a publish, a catalog edit, tagging fifty blocks — into a single rebuild.
Blocks that disappeared since the last rebuild get tombstones, so deleted units stop showing.
"""

from django.conf import settings
from opaque_keys.edx.keys import CourseKey

from ..platform import get_model, platform_object
from .base import Sink, format_timestamp, register, text, to_json

OVERVIEW_COLUMNS = (
    "org", "course_key", "display_name", "course_start", "course_end", "enrollment_start", "enrollment_end",
    "self_paced", "course_data_json", "created", "modified",
)
BLOCK_COLUMNS = ("org", "course_key", "location", "display_name", "xblock_data_json", "order", "edited_on")
BLOCK_IDENTITY = ("org", "course_key", "location")


def tags_by_object(object_ids):
    """``{object_id: [tag ids, ancestors included]}`` for many objects in a few queries (no N+1)."""
    object_tag_model, tag_model = get_model("object_tag"), get_model("tag")
    if object_tag_model is None or tag_model is None or not object_ids:
        return {}
    pairs = list(
        object_tag_model.objects.filter(object_id__in=list(object_ids), tag__isnull=False)
        .values_list("object_id", "tag_id")
    )
    parents = {}
    pending = {tag_id for _, tag_id in pairs}
    while pending:
        rows = dict(tag_model.objects.filter(id__in=pending).values_list("id", "parent_id"))
        parents.update(rows)
        pending = {parent for parent in rows.values() if parent and parent not in parents}
    result = {}
    for object_id, tag_id in pairs:
        ids = result.setdefault(object_id, [])
        while tag_id and tag_id not in ids:
            ids.append(tag_id)
            tag_id = parents.get(tag_id)
    return result


def walk_blocks(course_key):
    """Published blocks in course order, then detached blocks, with section/subsection/unit numbers."""
    store_factory = platform_object("modulestore")
    if store_factory is None:
        return []
    store = store_factory()
    course = store.get_course(course_key, revision="rev-opt-published-only")
    if course is None:
        return []
    detached_types = platform_object("detached_xblock_types") or set()
    counters = {"section": 0, "subsection": 0, "unit": 0}
    ordered, seen = [], set()

    def visit(block):
        kind = block.location.block_type
        if kind == "chapter":
            counters.update(section=counters["section"] + 1, subsection=0, unit=0)
        elif kind == "sequential":
            counters.update(subsection=counters["subsection"] + 1, unit=0)
        elif kind == "vertical":
            counters["unit"] += 1
        location = str(block.location)
        if location not in seen:
            seen.add(location)
            ordered.append((block, False, dict(counters)))
        for child in block.get_children():
            visit(child)

    visit(course)
    for block in store.get_items(course_key, revision="rev-opt-published-only"):
        if block.location.block_type in detached_types and str(block.location) not in seen:
            seen.add(str(block.location))
            ordered.append((block, True, {"section": 0, "subsection": 0, "unit": 0}))
    return ordered


@register
class CourseOverviewSink(Sink):
    """CourseOverview → course_overviews, its blocks → course_blocks, and its CCX courses."""

    name = "course_overviews"
    table = "course_overviews"
    columns = OVERVIEW_COLUMNS
    identity_columns = ("org", "course_key")
    order = 10
    # A publish can reach us before the platform has (re)built the overview: retry, don't drop.
    retry_missing = True

    def object_key(self, instance):
        return str(instance.id)

    def parse_key(self, key):
        return CourseKey.from_string(key)

    def identity(self, instance):
        return {"org": text(instance.org), "course_key": str(instance.id)}

    def row(self, overview, tags=None):
        grade = overview.lowest_passing_grade
        course_data = {
            "advertised_start": overview.advertised_start,
            "announcement": format_timestamp(overview.announcement),
            "lowest_passing_grade": float(grade) if grade is not None else None,
            "invitation_only": overview.invitation_only,
            "max_student_enrollments_allowed": overview.max_student_enrollments_allowed,
            "effort": overview.effort,
            "enable_proctored_exams": overview.enable_proctored_exams,
            "entrance_exam_enabled": overview.entrance_exam_enabled,
            "external_id": overview.external_id,
            "language": overview.language,
            "tags": tags or [],
        }
        return (
            text(overview.org), str(overview.id), text(overview.display_name),
            format_timestamp(overview.start), format_timestamp(overview.end),
            format_timestamp(overview.enrollment_start), format_timestamp(overview.enrollment_end),
            bool(overview.self_paced), to_json(course_data),
            format_timestamp(overview.created), format_timestamp(overview.modified),
        )

    def build(self, instances, batch, clickhouse):
        walked = {key: walk_blocks(overview.id) for key, overview in instances.items()}
        object_ids = set(instances) | {str(block.location) for blocks in walked.values() for block, _, _ in blocks}
        tags = tags_by_object(object_ids)
        live = self._live_block_locations(list(instances), clickhouse)
        for key, overview in instances.items():
            origin = (self.name, key)
            batch.add(self.table, self.columns, self.row(overview, tags.get(key)), origin)
            current = set()
            for order, (block, detached, numbers) in enumerate(walked[key], start=1):
                location = str(block.location)
                current.add(location)
                batch.add("course_blocks", BLOCK_COLUMNS, self.block_row(overview, block, order, detached, numbers,
                                                                         tags.get(location)), origin)
            for location in sorted(live.get(key, set()) - current):
                batch.add("course_blocks", BLOCK_IDENTITY, (text(overview.org), key, location), origin, deleted=True)

    def build_deletes(self, identities, batch, clickhouse):
        super().build_deletes(identities, batch, clickhouse)
        live = self._live_block_locations(list(identities), clickhouse)
        for key, identity in identities.items():
            for location in sorted(live.get(key, set())):
                batch.add("course_blocks", BLOCK_IDENTITY, (identity["org"], key, location), (self.name, key),
                          deleted=True)

    @staticmethod
    def block_row(overview, block, order, detached, numbers, tags):
        location = block.location
        data = {
            "course": location.course,
            "run": location.run,
            "block_type": location.block_type,
            "detached": int(detached),
            "graded": int(bool(getattr(block, "graded", False))),
            "completion_mode": text(getattr(block, "completion_mode", "")),
            "tags": tags or [],
            **numbers,
        }
        return (
            text(overview.org), str(overview.id), str(location.for_branch(None)) if hasattr(location, "for_branch")
            else str(location), text(block.display_name_with_default), to_json(data), order,
            format_timestamp(getattr(block, "edited_on", None)),
        )

    @staticmethod
    def _live_block_locations(course_keys, clickhouse):
        """Block locations ClickHouse currently has for these courses (one query for the batch)."""
        if not course_keys:
            return {}
        rows = clickhouse.query(
            f"SELECT course_key, location FROM {clickhouse.qualified('course_blocks')} FINAL "
            "WHERE course_key IN {keys:Array(String)}",
            {"keys": course_keys},
        )
        live = {}
        for course_key, location in rows:
            live.setdefault(course_key, set()).add(location)
        return live

    def related_changes(self, keys, instances, identities):
        """A course's CCX courses are refreshed with it (when CCX is on)."""
        ccx_model = get_model("custom_course_edx")
        if ccx_model is None or not getattr(settings, "FEATURES", {}).get("CUSTOM_COURSES_EDX"):
            return []
        master_keys = [instance.id for instance in instances.values() if not str(instance.id).startswith("ccx-")]
        return [(self.name, str(ccx.locator)) for ccx in ccx_model.objects.filter(course_id__in=master_keys)]

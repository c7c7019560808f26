"""
What the plugin calls on the platform's modulestore, with the same shapes:

* ``modulestore().get_course(course_key, revision=...)`` → the course block, whose
  ``get_children()`` walks the tree in course order;
* ``modulestore().get_items(course_key, revision=...)`` → every block, including detached ones;
* ``DETACHED_XBLOCK_TYPES`` and the ``COURSE_PUBLISHED`` signal (``sender``, ``course_key``).

``publish_course`` saves a tree and fires COURSE_PUBLISHED, as Studio does on publish.
"""

from datetime import datetime, timezone

from django.dispatch import Signal
from opaque_keys.edx.keys import CourseKey

COURSE_PUBLISHED = Signal()
COURSE_DELETED = Signal()
DETACHED_XBLOCK_TYPES = {"static_tab", "about", "course_info"}


class StandInBlock:
    """An XBlock as the plugin sees it: location, display name, a few fields, children."""

    def __init__(self, store, course_key, spec):
        self._store = store
        self.course_key = course_key
        self.spec = spec
        self.category = self.block_type = spec["block_type"]
        block_id = spec["block_id"]
        self.location = course_key.make_usage_key(self.block_type, block_id)
        self.display_name = spec.get("display_name")
        self.graded = spec.get("graded", False)
        if "completion_mode" in spec:
            self.completion_mode = spec["completion_mode"]
        if spec.get("edited_on"):
            self.edited_on = datetime.fromisoformat(spec["edited_on"])

    @property
    def display_name_with_default(self):
        return self.display_name if self.display_name is not None else self.block_type.replace("_", " ")

    def get_children(self):
        return [self._store[child] for child in self.spec.get("children", [])]


class StandInModuleStore:
    """Reads published trees from the database."""

    def _blocks(self, course_key):
        from .models import PublishedCourseStructure

        try:
            structure = PublishedCourseStructure.objects.get(course_key=course_key)
        except PublishedCourseStructure.DoesNotExist:
            return None
        store = {}
        for spec in structure.blocks_json:
            store[spec["block_id"]] = StandInBlock(store, course_key, spec)
        return store

    def get_course(self, course_key, revision=None, **kwargs):
        blocks = self._blocks(CourseKey.from_string(str(course_key)))
        if not blocks:
            return None
        return next(b for b in blocks.values() if b.block_type == "course")

    def get_items(self, course_key, revision=None, **kwargs):
        blocks = self._blocks(CourseKey.from_string(str(course_key)))
        return list(blocks.values()) if blocks else []


def modulestore():
    """The platform's entry point."""
    return StandInModuleStore()


def publish_course(course_key, blocks, send_signal=True):
    """Save a course's published tree and fire COURSE_PUBLISHED, as a Studio publish does."""
    from .models import PublishedCourseStructure

    course_key = CourseKey.from_string(str(course_key))
    now = datetime.now(timezone.utc).isoformat()
    for spec in blocks:
        spec.setdefault("edited_on", now)
    PublishedCourseStructure.objects.update_or_create(course_key=course_key, defaults={"blocks_json": blocks})
    if send_signal:
        COURSE_PUBLISHED.send(sender=None, course_key=course_key)


def build_course_tree(sections=3, subsections=2, units=2, extra=("problem", "video"), detached=("about",)):
    """A realistic course tree spec: chapters → sequentials → verticals → problems/videos."""
    blocks = [{"block_type": "course", "block_id": "course", "display_name": "Demo Course", "children": []}]
    for s in range(1, sections + 1):
        chapter = {"block_type": "chapter", "block_id": f"s{s}", "display_name": f"Section {s}", "children": []}
        blocks[0]["children"].append(chapter["block_id"])
        blocks.append(chapter)
        for ss in range(1, subsections + 1):
            seq = {"block_type": "sequential", "block_id": f"s{s}ss{ss}", "display_name": f"Subsection {s}.{ss}",
                   "graded": ss == subsections, "children": []}
            chapter["children"].append(seq["block_id"])
            blocks.append(seq)
            for u in range(1, units + 1):
                unit = {"block_type": "vertical", "block_id": f"s{s}ss{ss}u{u}", "display_name": f"Unit {s}.{ss}.{u}",
                        "children": []}
                seq["children"].append(unit["block_id"])
                blocks.append(unit)
                for kind in extra:
                    leaf = {"block_type": kind, "block_id": f"{unit['block_id']}{kind}", "display_name": f"{kind} {u}",
                            "graded": seq["graded"] and kind == "problem",
                            "completion_mode": "completable" if kind != "html" else "excluded"}
                    unit["children"].append(leaf["block_id"])
                    blocks.append(leaf)
    for kind in detached:
        blocks.append({"block_type": kind, "block_id": kind, "display_name": kind.title(), "detached": True})
    return blocks

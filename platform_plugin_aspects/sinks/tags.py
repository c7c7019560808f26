"""Content tagging: taxonomies, tags and the tags applied to courses and blocks."""

import json

from ..platform import course_key_of
from .base import Sink, register, text


@register
class TaxonomySink(Sink):
    """Taxonomy → taxonomy."""

    name = "taxonomy"
    table = "taxonomy"
    columns = ("id", "name")
    identity_columns = ("id",)
    order = 20

    def row(self, taxonomy):
        return (taxonomy.id, text(taxonomy.name))


@register
class TagSink(Sink):
    """Tag → tag (with its lineage from the root)."""

    name = "tag"
    table = "tag"
    columns = ("id", "taxonomy", "parent", "value", "external_id", "lineage")
    identity_columns = ("id",)
    order = 21

    def identity(self, instance):
        return {"id": instance.id}

    def row(self, tag):
        return (tag.id, tag.taxonomy_id, tag.parent_id, text(tag.value), text(tag.external_id),
                json.dumps(tag.get_lineage(), ensure_ascii=False))


@register
class ObjectTagSink(Sink):
    """ObjectTag → object_tag; tagging a course or any of its blocks also refreshes that course."""

    name = "object_tag"
    table = "object_tag"
    columns = ("id", "object_id", "taxonomy", "tag", "_value", "_export_id", "lineage")
    identity_columns = ("id",)
    select_related = ("tag", "tag__parent")
    order = 22

    def identity(self, instance):
        # object_id rides along so a delete can still refresh the tagged course.
        return {"id": instance.id, "object_id": instance.object_id}

    def row(self, object_tag):
        return (object_tag.id, text(object_tag.object_id), object_tag.taxonomy_id, object_tag.tag_id,
                text(object_tag._value), text(object_tag._export_id),  # pylint: disable=protected-access
                json.dumps(object_tag.get_lineage(), ensure_ascii=False))

    def related_changes(self, keys, instances, identities):
        object_ids = [obj.object_id for obj in instances.values()]
        object_ids += [identity.get("object_id") for identity in identities.values() if identity]
        courses = {str(key) for key in map(course_key_of, object_ids) if key is not None}
        return [("course_overviews", course) for course in sorted(courses)]

"""Stand-ins for openedx_tagging.models.base: Taxonomy, Tag, ObjectTag."""

from django.db import models


class Taxonomy(models.Model):
    """A tag vocabulary."""

    class Meta:
        app_label = "oel_tagging"

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(null=False, max_length=255)
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    allow_multiple = models.BooleanField(default=True)
    allow_free_text = models.BooleanField(default=False)
    visible_to_authors = models.BooleanField(default=True)
    export_id = models.CharField(null=True, max_length=255, unique=True)
    _taxonomy_class = models.CharField(null=True, max_length=255)


class Tag(models.Model):
    """A value in a taxonomy, possibly under a parent tag."""

    class Meta:
        app_label = "oel_tagging"

    id = models.BigAutoField(primary_key=True)
    taxonomy = models.ForeignKey(Taxonomy, null=True, blank=True, default=None, on_delete=models.CASCADE)
    parent = models.ForeignKey("self", null=True, blank=True, default=None, related_name="children",
                               on_delete=models.CASCADE)
    value = models.CharField(max_length=500)
    external_id = models.CharField(max_length=255, null=True, blank=True)

    def get_lineage(self):
        """Values from the root tag down to this one."""
        lineage, tag = [], self
        while tag is not None:
            lineage.insert(0, tag.value)
            tag = tag.parent
        return lineage


class ObjectTag(models.Model):
    """A tag applied to a course or block (object_id is the key as a string)."""

    class Meta:
        app_label = "oel_tagging"

    id = models.BigAutoField(primary_key=True)
    object_id = models.CharField(max_length=255, db_index=True)
    taxonomy = models.ForeignKey(Taxonomy, null=True, blank=True, default=None, on_delete=models.SET_NULL)
    tag = models.ForeignKey(Tag, null=True, blank=True, default=None, on_delete=models.SET_NULL)
    is_copied = models.BooleanField(default=False)
    _export_id = models.CharField(max_length=255)
    _value = models.CharField(max_length=500)

    def get_lineage(self):
        """The tag's lineage, or the free-text value alone."""
        return self.tag.get_lineage() if self.tag else [self._value]

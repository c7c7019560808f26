"""
Plain records instead of model instances, for sinks whose rows only read column values.

A Django instance costs more to build than the rest of a simple row, and instances joined with
``select_related`` point at each other (a reference cycle the garbage collector has to find).
Both the backfill and the live flusher load these sinks' objects as :class:`Record` objects.
"""

from django.db.models import CharField, ExpressionWrapper, F
from opaque_keys.edx.django.models import OpaqueKeyField

# Of a joined user, rows only ever read these; the rest (password hash, names, dates) is left in the
# database.
USER_FIELDS_READ = ("id", "username", "email", "is_active")

# Raw text of opaque-key columns rides along under this prefix (see with_raw_keys).
RAW_KEY_PREFIX = "_raw_key_"


def opaque_key_columns(model):
    """
    The model's course-key-like columns, other than its primary key.

    Course keys repeat on every row (a million enrollments, a few hundred courses) and parsing one
    costs more than the rest of the row: they are read as text and parsed once per distinct value.
    """
    return [field.name for field in model._meta.concrete_fields  # pylint: disable=protected-access
            if isinstance(field, OpaqueKeyField) and not field.primary_key]


def with_raw_keys(queryset, key_columns):
    """``queryset`` reading ``key_columns`` as raw text (under RAW_KEY_PREFIX) instead of parsing them."""
    if not key_columns:
        return queryset
    return queryset.defer(*key_columns).annotate(**{
        RAW_KEY_PREFIX + name: ExpressionWrapper(F(name), output_field=CharField()) for name in key_columns})


def per_distinct_value(cache, raw, make):
    """
    ``make(raw)``, computed once per distinct ``raw`` (None stays None).

    Key columns repeat a few hundred values over millions of rows; the cache is emptied past
    100,000 entries so a table of mostly distinct keys cannot grow it without bound.
    """
    if raw is None:
        return None
    value = cache.get(raw)
    if value is None:
        if len(cache) > 100_000:
            cache.clear()
        value = cache[raw] = make(raw)
    return value


class Record:  # pylint: disable=too-few-public-methods
    """
    One database row with the attributes a model instance would have: columns by attribute name
    (``user_id``, ``course_id``), ``pk``, and each joined object as a nested record (``user``).
    A sink's ``row`` reads it exactly as it reads an instance.
    """

    def __init__(self, attributes):
        self.__dict__ = attributes

    def __repr__(self):
        return f"Record({self.__dict__!r})"


class KeyText(str):
    """
    An opaque key as its text that also answers the key's attributes (``org``, ``course``, ``run``).

    ``str()`` of a parsed key rebuilds its text on every call; rows read it once or twice each, a
    million times in a big backfill. This is the text, built once per distinct key.
    """

    def __new__(cls, key):
        text = super().__new__(cls, str(key))
        text.key = key
        return text

    def __getattr__(self, name):
        return getattr(self.key, name)


class RecordReader:
    """
    Reads pages as :class:`Record` objects (``values_list``) instead of model instances.

    Building a Django instance costs more than the rest of a simple row (signals, descriptors,
    converters per field); for sinks whose ``row`` only reads column values
    (``Sink.uses_records``) records make loading several times faster — in the backfill and in
    every live flush — while ``row`` stays the only code that decides what a row holds. Joined
    objects come from one ``pk IN (...)`` query per relation and page, never a JOIN (see
    ``Backfill.queryset`` for why).
    """

    def __init__(self, sink):
        self.sink = sink
        self.model = model = sink.model()
        meta = model._meta  # pylint: disable=protected-access
        self.key_columns = opaque_key_columns(model)
        self.pk_name = meta.pk.attname
        self.columns = [f.attname for f in meta.concrete_fields if f.name not in self.key_columns]
        self.raw_keys = [(name, RAW_KEY_PREFIX + name) for name in self.key_columns]
        # values_list reads the raw key text under the prefixed names; records carry the plain ones.
        self.selected = self.columns + [raw for _, raw in self.raw_keys]
        self.attributes = self.columns + [name for name, _ in self.raw_keys]
        self.texts = {}
        self.relations = []  # (attribute, foreign-key attname, related model, columns)
        for name in sink.select_related:
            if "__" in name:
                raise ValueError(f"records cannot follow {name!r}; set uses_records = False on {sink.name}")
            field = meta.get_field(name)
            related = field.related_model
            columns = USER_FIELDS_READ if name == "user" else \
                [f.attname for f in related._meta.concrete_fields]  # pylint: disable=protected-access
            self.relations.append((name, field.attname, related, columns))

    def load(self, queryset):
        """The records of any queryset of the sink's model (live delivery's ``Sink.load``)."""
        return self.read(with_raw_keys(queryset.select_related(None), self.key_columns))

    def read(self, page_queryset):
        """
        The records of ``page_queryset``, joined objects attached.

        The queryset must carry the raw key columns (:func:`with_raw_keys`), as the backfill's does.
        """
        records, texts = [], self.texts
        for values in page_queryset.values_list(*self.selected):
            fields = dict(zip(self.attributes, values))
            for name, _ in self.raw_keys:
                raw = fields[name]
                fields[name] = texts.get(raw) or self.key_text(name, raw)  # (a hit on almost every row)
            fields["pk"] = fields[self.pk_name]
            records.append(Record(fields))
        for name, attname, related, columns in self.relations:
            ids = {getattr(record, attname) for record in records}
            found = {values[0]: Record(dict(zip(("pk", *columns), values)))
                     for values in related.objects.filter(pk__in=ids).values_list("pk", *columns)}
            for record in records:
                setattr(record, name, found.get(getattr(record, attname)))
        return records

    def key_text(self, name, raw):
        """The :class:`KeyText` of the key stored as ``raw`` in column ``name`` (one per distinct key)."""
        field = self.model._meta.get_field(name)  # pylint: disable=protected-access
        return per_distinct_value(self.texts, raw, lambda text: KeyText(field.to_python(text)))

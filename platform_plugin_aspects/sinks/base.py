"""
What every sink shares: the registry, the enabled check, row batches and value formatting.

A sink answers four questions for one platform model — which objects changed (``load``), which
ClickHouse rows represent them now (``build``), which columns identify a row (``identity``) so a
delete can become a tombstone, and whether it is switched on (``is_enabled``). It never talks to
the network itself except through the ClickHouse client it is handed; batching, retries and
bookkeeping live in ``delivery``.
"""

import datetime
import json
import logging
import time
from decimal import Decimal

from django.conf import settings
from edx_toggles.toggles import WaffleFlag

from ..platform import get_model
from ..waffle import sink_flag_name
from .records import RecordReader

log = logging.getLogger(__name__)

# Appended by the delivery writer to every row (see migration 0001).
META_COLUMNS = ("dump_id", "time_last_dumped", "version", "is_deleted")

_REGISTRY = {}


def register(sink_class):
    """Class decorator: make a sink known by its ``name`` (the outbox, flags and commands use it)."""
    _REGISTRY[sink_class.name] = sink_class()
    return sink_class


def get_sink(name):
    """The registered sink called ``name`` (KeyError lists the valid names)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"Unknown sink {name!r}; known sinks: {', '.join(sorted(_REGISTRY))}") from None


def all_sinks():
    """Every registered sink, in a sensible backfill order (courses first, users last)."""
    return sorted(_REGISTRY.values(), key=lambda sink: (sink.order, sink.name))


def format_timestamp(value):
    """One timestamp format for every String time column: ``YYYY-MM-DD HH:MM:SS.ffffff+00:00`` (UTC)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is datetime.timezone.utc:  # what the database gives (USE_TZ): no conversion
            return value.isoformat(sep=" ", timespec="microseconds")
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        # isoformat with fixed microseconds: the same text as strftime("%Y-%m-%d %H:%M:%S.%f+00:00"),
        # a third of the cost (a backfill formats millions of these).
        return value.astimezone(datetime.timezone.utc).isoformat(sep=" ", timespec="microseconds")
    return str(value)


def text(value):
    """A String column value: NULL becomes '', everything else its text."""
    return "" if value is None else str(value)


def to_json(value):
    """Stable JSON for the ``*_json`` columns (dates in the common format, Decimals as floats)."""

    def default(obj):
        if isinstance(obj, (datetime.datetime, datetime.date)):
            return format_timestamp(obj) if isinstance(obj, datetime.datetime) else obj.isoformat()
        if isinstance(obj, Decimal):
            return float(obj)
        return str(obj)

    return json.dumps(value, default=default, ensure_ascii=False, sort_keys=True)


_flag_cache = {}


def flag_is_on(name):
    """
    A waffle flag's state, remembered for ASPECTS_SWITCH_CACHE_SECS (default 5 s) per process.

    Receivers check their sink's switch on every model save; a full waffle lookup costs about
    half a millisecond, which would be most of the receiver's budget. Flipping a flag therefore
    takes effect within a few seconds rather than instantly.
    """
    ttl = float(getattr(settings, "ASPECTS_SWITCH_CACHE_SECS", 5))
    now = time.monotonic()
    cached = _flag_cache.get(name)
    if cached and now - cached[1] < ttl:
        return cached[0]
    state = WaffleFlag(name, __name__).is_enabled()
    _flag_cache[name] = (state, now)
    return state


class RowBatch:
    """
    Rows to insert, grouped by (table, columns), each remembering the change it came from.

    The origin lets the writer pin a row ClickHouse rejects on the one change that produced it,
    so a bad row is reported and kept without holding back the rest of its batch.
    """

    def __init__(self):
        self.groups = {}
        # Statements to run once the rows are in (e.g. retirement purges, which must come last so
        # no row of the same batch brings the data back).
        self.after_write = []

    def add(self, table, columns, row, origin, deleted=False):
        """Queue one row (values in ``columns`` order) for ``table``, with the batch's version."""
        rows, origins, versions = self.groups.setdefault((table, tuple(columns), deleted), ([], [], []))
        rows.append(row)
        origins.append(origin)
        versions.append(None)  # None: the version write_batch is given; absorb() stamps its own

    def absorb(self, other, version):
        """Take ``other``'s rows into this batch (same inserts), stamped with ``version``."""
        for key, (rows, origins, versions) in other.groups.items():
            mine = self.groups.setdefault(key, ([], [], []))
            mine[0].extend(rows)
            mine[1].extend(origins)
            mine[2].extend(row_version or version for row_version in versions)
        self.after_write.extend(other.after_write)

    def __len__(self):
        return sum(len(rows) for rows, _, _ in self.groups.values())


class Sink:
    """Base class; subclasses set the class attributes and implement ``row``."""

    name = None  # flag/setting/outbox/--object name, e.g. "course_enrollment"
    model_key = None  # key in EVENT_SINK_CLICKHOUSE_MODEL_CONFIG (defaults to name)
    table = None
    columns = ()
    identity_columns = ()
    pii = False  # copies personal data: off unless explicitly enabled
    dumpable = True  # may be backfilled by dump_data_to_clickhouse
    order = 50  # backfill order
    select_related = ()
    # True when ``row`` reads only column values and direct relations (no methods, no model
    # behaviour): the backfill and the flusher then read plain records instead of model instances
    # (see records.RecordReader), several times faster.
    uses_records = False
    _records = None  # this sink's RecordReader, built on first use

    # -- switches ----------------------------------------------------------------------
    def model(self):
        """The platform model class, or None when it is not installed here."""
        return get_model(self.model_key or self.name)

    def is_enabled(self):
        """On when EVENT_SINK_CLICKHOUSE_<NAME>_ENABLED is true or the waffle flag is on, and the model exists."""
        setting = getattr(settings, f"EVENT_SINK_CLICKHOUSE_{self.name.upper()}_ENABLED", False)
        return (bool(setting) or flag_is_on(sink_flag_name(self.name))) and self.model() is not None

    # -- reading the platform ----------------------------------------------------------------
    def queryset(self):
        """All objects of the sink's model, with the joins its rows need."""
        queryset = self.model().objects.all()
        return queryset.select_related(*self.select_related) if self.select_related else queryset

    def object_key(self, instance):
        """The outbox key of an instance (its primary key as text)."""
        return str(instance.pk)

    def parse_key(self, key):
        """The primary-key value for an outbox key."""
        return int(key)

    def load(self, keys):
        """``{key: instance}`` for the keys that still exist."""
        objects = self.fetch(self.queryset().filter(pk__in=[self.parse_key(k) for k in keys]))
        return {self.object_key(obj): obj for obj in objects}

    def fetch(self, queryset):
        """The objects of ``queryset``: plain records when ``uses_records``, model instances otherwise."""
        if not self.uses_records:
            return queryset
        model = self.model()
        if self._records is None or self._records.model is not model:
            self._records = RecordReader(self)
        return self._records.load(queryset)

    # -- building rows ---------------------------------------------------------------------
    def row(self, instance):
        """The values of ``columns`` for one instance."""
        raise NotImplementedError

    def identity(self, instance):
        """Identity column values of an instance (kept in the outbox for its tombstone)."""
        row = dict(zip(self.columns, self.row(instance)))
        return {column: row[column] for column in self.identity_columns}

    def row_options(self):
        """Keyword arguments for ``row`` that depend on settings, looked up once per batch, not per row."""
        return {}

    def build(self, instances, batch, clickhouse):
        """Add current rows for ``instances`` (a ``{key: instance}`` dict) to ``batch``."""
        options = self.row_options()
        for key, instance in instances.items():
            batch.add(self.table, self.columns, self.row(instance, **options), origin=(self.name, key))

    def build_deletes(self, identities, batch, clickhouse):
        """Add tombstones for deleted objects (``{key: identity dict}``) to ``batch``."""
        for key, identity in identities.items():
            if identity:
                batch.add(self.table, self.identity_columns, [identity[c] for c in self.identity_columns],
                          origin=(self.name, key), deleted=True)

    def related_changes(self, keys, instances, identities):
        """
        Other (sink, key) pairs to refresh when these objects change (e.g. a tag's course).

        ``keys`` are all changed keys, ``instances`` the ones that still exist, ``identities`` the
        deleted ones.
        """
        return []

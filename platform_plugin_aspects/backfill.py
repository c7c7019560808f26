"""
Backfill: copy objects that already exist in the platform into ClickHouse.

It reuses live delivery's pieces — each sink's ``build`` for the rows and the flusher's
``write_batch`` for the inserts — so a backfilled row is byte-for-byte what live delivery would
have written. What it adds is what a large one-off copy needs:

* keyset paging (``pk > last ORDER BY pk LIMIT n``): every page costs the same however deep it is,
  rows added or removed meanwhile never shift a page, and memory stays at one page;
* a checkpoint per object in ClickHouse (``backfill_checkpoints``), saved after each page is
  written, so an interrupted run resumes after the last page it wrote;
* for courses (expensive: every block is walked), one ClickHouse query per page that skips the
  courses ClickHouse already has at the same ``modified``;
* an exact ``limit``, and rows ClickHouse rejects recorded as failed outbox entries (reported,
  kept for replay with ``flush_clickhouse_outbox --retry-failed``), never dropped.

Row versions are taken *before* a page is read, so a live change delivered while the backfill
runs always carries a newer version and wins.
"""

import datetime
import queue
import threading
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Prefetch
from opaque_keys import InvalidKeyError

from .delivery.flusher import write_batch
from .models import OutboxEntry
from .sinks import RowBatch
from .sinks.base import format_timestamp
from .sinks.records import (
    RAW_KEY_PREFIX,
    USER_FIELDS_READ,
    RecordReader,
    opaque_key_columns,
    per_distinct_value,
    with_raw_keys,
)

CHECKPOINT_TABLE = "backfill_checkpoints"

# Sinks whose rows are costly to build and carry the object's last-modified time: a page first
# asks ClickHouse which objects it already has at that time. sink -> (key column, time column);
# the model attribute has the time column's name.
UP_TO_DATE_CHECKS = {"course_overviews": ("course_key", "modified")}

# Courses walk the whole modulestore tree, so their default page is much smaller.
DEFAULT_BATCH_SIZE = 10000
DEFAULT_BATCH_SIZES = {"course_overviews": 100}


def default_batch_size(sink):
    """The page size used when the operator gives none."""
    return DEFAULT_BATCH_SIZES.get(sink.name, DEFAULT_BATCH_SIZE)


def parse_pk(model, text):
    """The primary-key value for ``text`` (an integer or a course key), or ValueError saying why."""
    field = model._meta.pk  # pylint: disable=protected-access
    try:
        value = field.to_python(str(text).strip())
    except (ValidationError, InvalidKeyError, ValueError, TypeError, AssertionError) as exc:
        raise ValueError(f"{text!r} is not a valid {model.__name__} primary key ({field.get_internal_type()})") \
            from exc
    if value is None:
        raise ValueError(f"{text!r} is not a valid {model.__name__} primary key")
    return value


def _later(pk_a, pk_b):
    """The later of two primary keys in the database's order (integers numerically, keys as text)."""
    if isinstance(pk_a, int) and isinstance(pk_b, int):
        return max(pk_a, pk_b)
    return pk_a if str(pk_a) >= str(pk_b) else pk_b


@dataclass
class Checkpoint:
    """Where a pass over one object stopped."""

    last_pk: str
    dumped: int
    finished: bool
    updated_at: datetime.datetime


class CheckpointStore:
    """The ``backfill_checkpoints`` table: one current row per object."""

    def __init__(self, clickhouse):
        self.clickhouse = clickhouse

    def load(self, name):
        """The checkpoint of ``name``, or None."""
        rows = self.clickhouse.query(
            f"SELECT last_pk, dumped, finished, updated_at FROM {self.clickhouse.qualified(CHECKPOINT_TABLE)} "
            "FINAL WHERE object = {o:String}",
            {"o": name},
        )
        return Checkpoint(rows[0][0], rows[0][1], bool(rows[0][2]), rows[0][3]) if rows else None

    def save(self, name, last_pk, dumped, finished=False):
        """Record progress (one tiny insert; the newest version wins)."""
        self.clickhouse.insert(
            CHECKPOINT_TABLE,
            [[name, str(last_pk), dumped, int(finished), datetime.datetime.now(datetime.timezone.utc), time.time_ns()]],
            ["object", "last_pk", "dumped", "finished", "updated_at", "version"],
        )


@dataclass
class BackfillResult:
    """What one backfill of one object did."""

    name: str
    dumped: int = 0
    up_to_date: int = 0
    rejected: int = 0
    batches: int = 0
    rows: int = 0
    seconds: float = 0.0
    last_pk: str = ""
    finished: bool = False
    resumed_after: str = ""

    def summary(self):
        """One line for the operator."""
        rate = self.dumped / self.seconds if self.seconds else 0
        state = "complete" if self.finished else f"stopped after pk {self.last_pk} (rerun to resume)"
        return (f"{self.name}: dumped {self.dumped:,} objects ({self.rows:,} rows, {self.batches} batches), "
                f"{self.up_to_date:,} already up to date, {self.rejected:,} rejected; "
                f"{self.seconds:.1f}s, {rate:,.0f} objects/s; {state}")


class Backfill:  # pylint: disable=too-many-instance-attributes
    """One pass over one sink's objects; see the module docstring."""

    def __init__(self, sink, clickhouse, *, batch_size=None, start_pk=None, ids=None, skip_ids=None,
                 force=False, limit=None, sleep_time=0.0, dry_run=False, restart=False, progress=None):
        self.sink, self.clickhouse = sink, clickhouse
        self.model = sink.model()
        self.batch_size = batch_size or default_batch_size(sink)
        self.start_pk = parse_pk(self.model, start_pk) if start_pk not in (None, "") else None
        self.ids = [parse_pk(self.model, key) for key in ids] if ids else None
        self.skip_ids = [parse_pk(self.model, key) for key in skip_ids] if skip_ids else None
        self.force, self.limit, self.sleep_time = force, limit, sleep_time
        self.dry_run, self.restart = dry_run, restart
        self.progress = progress  # callable(label, total) -> Progress, or None
        self.key_columns = opaque_key_columns(self.model)
        self.parsed_keys = {}
        # Sinks whose rows only read column values get plain records instead of model instances.
        self.records = RecordReader(sink) if sink.uses_records else None
        # A targeted run (--ids) is not a pass over the table: it neither resumes nor moves the checkpoint.
        self.checkpoints = CheckpointStore(clickhouse) if self.ids is None else None

    def queryset(self):
        """The objects of this run, in primary-key order (no offset, no count)."""
        queryset = self.sink.queryset()
        if self.sink.select_related and self.records is None:
            # Joined rows come from a second query per page (``id IN (...)``), not a JOIN: with
            # ``ORDER BY pk LIMIT n`` over a join, MariaDB/MySQL may drive the join from the smaller
            # table and sort everything after it on every page, which makes a pass quadratic.
            queryset = queryset.select_related(None).prefetch_related(
                *[self.related_prefetch(name) for name in self.sink.select_related])
        queryset = with_raw_keys(queryset, self.key_columns)
        if self.ids is not None:
            queryset = queryset.filter(pk__in=self.ids)
        if self.skip_ids:
            queryset = queryset.exclude(pk__in=self.skip_ids)
        return queryset.order_by("pk")

    def related_prefetch(self, name):
        """A Prefetch of relation ``name`` (users with only the columns rows read)."""
        if name != "user":
            return Prefetch(name)
        user_model = self.model._meta.get_field("user").related_model  # pylint: disable=protected-access
        return Prefetch(name, queryset=user_model.objects.only(*USER_FIELDS_READ))

    def starting_point(self, result):
        """The primary key to start after: --start_pk, or the unfinished checkpoint if later."""
        after = self.start_pk
        if self.checkpoints is None or self.restart:
            return after
        checkpoint = self.checkpoints.load(self.sink.name)
        if checkpoint and not checkpoint.finished and checkpoint.last_pk:
            resumed = parse_pk(self.model, checkpoint.last_pk)
            after = resumed if after is None else _later(after, resumed)
            result.resumed_after = str(after)
        return after

    def run(self):
        """Dump every selected object once; returns a :class:`BackfillResult`."""
        result = BackfillResult(self.sink.name)
        started = time.monotonic()
        after = self.starting_point(result)
        base = self.queryset()
        total = (base.filter(pk__gt=after) if after is not None else base).count()
        if self.limit is not None:
            total = min(total, self.limit)
        progress = self.progress(self.sink.name, total) if self.progress else None
        writer = _PageWriter(self, result)
        try:
            while self.limit is None or result.dumped < self.limit:
                size = self.batch_size if self.limit is None else min(self.batch_size, self.limit - result.dumped)
                version = time.time_ns()  # before the read: any later live change wins
                page = self.read_page((base.filter(pk__gt=after) if after is not None else base)[:size])
                if not page:
                    result.finished = True
                    break
                after = page[-1].pk
                writer.submit(self._build_page(page, result), version, after, result.dumped)
                result.batches += 1
                if progress:
                    progress.advance(len(page))
                if len(page) == size and self.sleep_time:
                    time.sleep(self.sleep_time)
            else:
                # Stopped by --limit: finished only if nothing is left after the last object.
                result.finished = not (base.filter(pk__gt=after) if after is not None else base).exists()
            writer.close()
            if result.finished and self.checkpoints and not self.dry_run:
                self.checkpoints.save(self.sink.name, result.last_pk or after or "", result.dumped, finished=True)
        finally:
            writer.close()  # after an interruption: the pages already read are written and checkpointed
            result.seconds = time.monotonic() - started
            if progress:
                progress.finish()
        return result

    def read_page(self, page_queryset):
        """One page as model instances (or records), opaque keys parsed once per distinct value."""
        if self.records is not None:
            return self.records.read(page_queryset)
        page = list(page_queryset)
        for name in self.key_columns:
            for obj in page:
                setattr(obj, name, self.parsed_key(name, getattr(obj, RAW_KEY_PREFIX + name)))
        return page

    def parsed_key(self, name, raw):
        """The opaque key stored as ``raw`` in column ``name`` (cached: a few hundred distinct courses)."""
        field = self.model._meta.get_field  # pylint: disable=protected-access
        return per_distinct_value(self.parsed_keys, raw, lambda text: field(name).to_python(text))

    def _build_page(self, page, result):
        """The RowBatch for one page (None when nothing in it needs writing)."""
        instances = {self.sink.object_key(obj): obj for obj in page}
        if not self.force and self.sink.name in UP_TO_DATE_CHECKS:
            current = self.up_to_date_keys(instances)
            result.up_to_date += len(current)
            instances = {key: obj for key, obj in instances.items() if key not in current}
        result.dumped += len(instances)
        if self.dry_run or not instances:
            return None
        batch = RowBatch()
        self.sink.build(instances, batch, self.clickhouse)
        return batch

    def up_to_date_keys(self, instances):
        """Keys whose current ClickHouse row has the same (or a later) modification time: ONE query."""
        key_column, time_column = UP_TO_DATE_CHECKS[self.sink.name]
        rows = self.clickhouse.query(
            f"SELECT {key_column}, {time_column} FROM {self.clickhouse.qualified(self.sink.table)} FINAL "
            f"WHERE {key_column} IN {{keys:Array(String)}}",
            {"keys": list(instances)},
        )
        stored = dict(rows)
        current = set()
        for key, obj in instances.items():
            theirs = _parse_time(stored.get(key))
            ours = _parse_time(format_timestamp(getattr(obj, time_column)))
            if theirs is not None and ours is not None and theirs >= ours:
                current.add(key)
        return current


class _PageWriter:
    """
    Writes pages in a background thread, in order, so ClickHouse works on page N while page N+1 is
    read from the LMS database. At most one built page waits; each page's checkpoint is saved only
    after its rows (and any rejected entries) are stored, so a checkpoint never runs ahead of the data.
    """

    def __init__(self, backfill, result):
        self.backfill, self.result = backfill, result
        self.error = None
        self.queue = queue.Queue(maxsize=1)
        self.thread = threading.Thread(target=self._loop, name="backfill-writer", daemon=True)
        self.thread.start()

    def submit(self, batch, version, last_pk, dumped):
        """Queue one page (``batch`` None: nothing to insert, only the checkpoint moves)."""
        self._raise()
        self.queue.put((batch, version, last_pk, dumped))

    def close(self):
        """Wait until every queued page is written; re-raise what failed in the thread."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        self._raise()

    def _raise(self):
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _loop(self):
        try:
            while True:
                job = self.queue.get()
                if job is None:
                    return
                if self.error is None:
                    try:
                        self._write(*job)
                    except BaseException as exc:  # pylint: disable=broad-except  # re-raised in the caller
                        self.error = exc
        finally:
            connections.close_all()  # this thread's own LMS connection (rejected entries)

    def _write(self, batch, version, last_pk, dumped):
        backfill, result = self.backfill, self.result
        if batch is not None:
            errors, _ = write_batch(batch, backfill.clickhouse, version)
            result.rows += len(batch)
            if errors:
                result.rejected += len(errors)
                keep_rejected(errors)
        result.last_pk = str(last_pk)
        if backfill.checkpoints and not backfill.dry_run:
            backfill.checkpoints.save(backfill.sink.name, last_pk, dumped)


def _parse_time(text):
    """A timestamp column value as an aware datetime (any ISO form, with or without microseconds)."""
    if not text:
        return None
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def keep_rejected(errors):
    """Rows ClickHouse refused become failed outbox entries: reported by status, replayable later."""
    OutboxEntry.objects.bulk_create([
        OutboxEntry(sink=sink_name, object_key=key[:255], failed=True, attempts=1, last_error=reason[:2000])
        for (sink_name, key), reason in errors.items()
    ])

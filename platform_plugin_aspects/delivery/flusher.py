"""
The worker half of delivery: turn outbox entries into ClickHouse rows.

One flush takes up to ASPECTS_OUTBOX_BATCH_SIZE due entries (locked with SKIP LOCKED so several
workers can flush at once), coalesces repeated changes of one object (the last action wins, but
every row deleted under the object's key still gets its tombstone: see ``Change``),
follows related changes (a tag's course, a renamed user's rows), loads current state with one
query per model, builds rows and sends one insert per table — at its slot, when it has one
(``delivery.cadence``), claiming what commits meanwhile until then. Then:

* delivered entries are deleted;
* entries whose rows ClickHouse rejected, or whose rows could not be built at all (any exception
  in a sink: a bug, or platform data nobody expected), are marked ``failed`` with the reason (kept
  for replay, never dropped, and they don't hold back the rest of the batch);
* if ClickHouse is unreachable nothing is deleted; entries get a back-off and are retried.

Every row carries ``version`` (taken before the state was read, so a later read always wins),
which makes re-delivery harmless: ReplacingMergeTree keeps one row per object.
"""

import datetime
import functools
import gc
import logging
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from ..clickhouse import ClickHouseDataError, ClickHouseError, get_clickhouse
from ..models import DeliveryStatus, OutboxEntry
from ..retry import backoff_secs
from ..sinks import META_COLUMNS, RowBatch, get_sink
from ..sinks.base import format_timestamp

log = logging.getLogger(__name__)

# Errors that say a server is unreachable or busy, not that an object's rows cannot be built: they
# must not mark entries failed (ClickHouse errors postpone the flush; a lost or locked LMS database
# connection fails it, and the leased entries are retried).
INFRASTRUCTURE_ERRORS = (ClickHouseError, OperationalError, InterfaceError)

MAX_BACKOFF_SECS = 300
MAX_MISSING_ATTEMPTS = 8
LEASE_SECS = 120
# A catch-up round that finds this few late entries is the last one before the insert: the next
# round would cost more (a claim transaction) than it saves.
SETTLED_ENTRIES = 50
MAX_CATCH_UP_ROUNDS = 6  # a steady stream never settles; stop chasing it after this many rounds
# While a flush waits for its insert slot it claims new changes this often (a round costs a few
# milliseconds; the last one, right before the insert, builds at most this long's worth of changes).
WAIT_SLICE_SECS = 0.02


@dataclass
class FlushResult:
    """What one flush did."""

    taken: int = 0
    delivered: int = 0
    failed: int = 0
    deferred: int = 0
    rows: int = 0
    inserts: int = 0
    error: str = ""
    catch_up_rounds: int = 0
    inserted_at: float = 0.0  # epoch seconds when the (last) insert started; 0: nothing inserted
    ready_secs: float = 0.0  # claim, build and catch-up time before any wait for insert_not_before
    # Milliseconds per phase: claim, build, catch_up (claiming what arrived meanwhile), wait (for
    # the insert slot, still claiming every WAIT_SLICE_SECS), insert, ack (clearing the outbox).
    # Only the last catch-up round and the insert lie between the final claim and the rows being
    # queryable, so those are where latency is won or lost.
    timings: dict = field(default_factory=dict)

    def describe(self):
        """One log line: what the flush did and where its time went."""
        spent = ", ".join(f"{name} {millis:.1f} ms" for name, millis in self.timings.items())
        return (f"{self.taken} entries -> {self.rows} rows in {self.inserts} inserts, {self.failed} failed, "
                f"{self.deferred} deferred; {self.catch_up_rounds} catch-up rounds; {spent}")


def backoff(attempts):
    """Seconds before an entry's next attempt: 1, 2, 4 ... capped at five minutes."""
    return backoff_secs(attempts, first=1.0, cap=MAX_BACKOFF_SECS)


@dataclass(slots=True)
class ClaimedEntry:
    """An outbox row as a flush uses it: read as plain values (model instances cost more than the claim's SQL)."""

    id: int
    sink: str
    object_key: str
    action: str
    payload: object
    attempts: int


def _claim_entries(limit, ignore_schedule, after_id=None):
    """
    Take up to ``limit`` due entries for this flush, in a transaction of a few milliseconds.

    Claimed entries get a lease (their next attempt moves LEASE_SECS ahead), so other flushers skip
    them while this one talks to ClickHouse without holding database locks; if this worker dies,
    the lease runs out and another worker delivers them (at least once; versions make that safe).
    """
    now = timezone.now()
    with transaction.atomic():
        queryset = OutboxEntry.objects.filter(failed=False)
        if after_id is not None:  # newer entries only (a catch-up claim)
            queryset = queryset.filter(id__gt=after_id)
        if not ignore_schedule:
            queryset = queryset.filter(next_attempt_at__lte=now)
        entries = [ClaimedEntry(*values) for values in queryset.select_for_update(skip_locked=True).order_by("id")
                   .values_list("id", "sink", "object_key", "action", "payload", "attempts")[:limit]]
        if entries:
            OutboxEntry.objects.filter(id__in=[entry.id for entry in entries]).update(
                next_attempt_at=now + datetime.timedelta(seconds=LEASE_SECS))
    return entries


@dataclass
class Change:
    """
    What a flush does for one object: its newest action, and the identity of every row deleted under its key.

    A sink's outbox key can be narrower than its table's identity: an enrollment is keyed
    ``user_id:course_key`` (what the openedx-events carry) while its rows are identified by
    ``(course_key, user_id, id)``. Deleting an enrollment and enrolling again gives a new ``id``
    under the same key, so "the last action wins" alone would drop the old row's tombstone and
    leave two current rows. Every deleted identity therefore survives coalescing, and gets its
    tombstone unless an object has that identity now (see ``_build_sink``).
    """

    action: str
    deleted: list = field(default_factory=list)


def _coalesce(entries):
    """``{sink: {key: Change}}``: the newest action per object, every deleted identity kept."""
    plan = {}
    for entry in entries:
        changes = plan.setdefault(entry.sink, {})
        change = changes.get(entry.object_key)
        if change is None:
            change = changes[entry.object_key] = Change(entry.action)
        change.action = entry.action
        if entry.action == OutboxEntry.DELETE and entry.payload and entry.payload not in change.deleted:
            change.deleted.append(entry.payload)
    return plan


def write_batch(batch, clickhouse, version=None):
    """
    Insert every group of ``batch`` (one insert per table and column set).

    Returns ``({origin: reason}, inserts)``. A group that fails for a bad row is split in halves
    until the bad rows are isolated, so only their origins fail. Connection-level errors propagate.
    """
    dump_id = uuid.uuid4()
    dumped_at = format_timestamp(timezone.now())
    version = version or time.time_ns()
    errors, inserts = {}, 0
    for (table, columns, deleted), (rows, origins, versions) in batch.groups.items():
        full_rows = [[*row, dump_id, dumped_at, row_version or version, int(deleted)]
                     for row, row_version in zip(rows, versions)]
        inserts += _insert_isolating(clickhouse, table, list(columns) + list(META_COLUMNS), full_rows, origins, errors)
    for action in batch.after_write:
        action()
    return errors, inserts


def _insert_isolating(clickhouse, table, columns, rows, origins, errors):
    try:
        clickhouse.insert(table, rows, columns)
        return 1
    except ClickHouseDataError as exc:
        if len(rows) == 1:
            errors[origins[0]] = str(exc)
            # One line per refused row; the driver's traceback only for whoever debugs the client.
            log.error("ClickHouse refused the row of %s:%s, %s; the entry is kept as failed "
                      "(flush_clickhouse_outbox --list-failed)", origins[0][0], origins[0][1], exc.one_line())
            log.debug("Driver traceback for the refused row of %s:%s", origins[0][0], origins[0][1], exc_info=exc)
            return 0
        middle = len(rows) // 2
        return (_insert_isolating(clickhouse, table, columns, rows[:middle], origins[:middle], errors)
                + _insert_isolating(clickhouse, table, columns, rows[middle:], origins[middle:], errors))


def build_rows(plan, clickhouse):
    """
    Build a RowBatch for ``{sink: {key: Change}}``; follow related changes.

    Returns ``(batch, missing, errors)``: ``missing`` are (sink, key) upserts whose object was not
    found (deleted meanwhile, or — for courses — not built by the platform yet); ``errors`` maps the
    (sink, key) of objects whose rows could not be built to the reason. Such a failure — any
    exception but a ClickHouse one, which concerns the whole flush — costs only the objects it
    concerns: the sink's changes are split in halves until the failing ones are alone, and
    everything else is in the batch.
    """
    batch, missing, errors = RowBatch(), set(), {}
    done = set()
    pending = {sink: dict(changes) for sink, changes in plan.items()}
    while pending:
        sink_name, changes = pending.popitem()
        changes = {key: change for key, change in changes.items() if (sink_name, key) not in done}
        done.update((sink_name, key) for key in changes)
        for related_sink, key in _build_isolating(get_sink(sink_name), changes, clickhouse, batch, missing, errors):
            if (related_sink, key) not in done and get_sink(related_sink).is_enabled():
                pending.setdefault(related_sink, {})[key] = Change(OutboxEntry.UPSERT)
    return batch, missing, errors


def _build_isolating(sink, changes, clickhouse, batch, missing, errors, logged=None):
    """
    ``_build_sink`` for ``changes``, its rows added to ``batch`` only if it succeeds; returns the related changes.

    On failure the changes are split in halves (as refused inserts are) until each failing
    object is alone; it goes to ``errors`` and its traceback is logged once per sink and flush.
    """
    if not changes:
        return []
    logged = set() if logged is None else logged
    part, part_missing = RowBatch(), set()
    try:
        related = _build_sink(sink, changes, clickhouse, part, part_missing)
    except INFRASTRUCTURE_ERRORS:
        raise  # about a server, not about these objects: the whole flush is retried
    except Exception as exc:  # pylint: disable=broad-except
        if len(changes) > 1:
            keys = list(changes)
            middle = len(keys) // 2
            return [related for half in (keys[:middle], keys[middle:])
                    for related in _build_isolating(sink, {key: changes[key] for key in half}, clickhouse, batch,
                                                    missing, errors, logged)]
        [key] = changes
        errors[(sink.name, key)] = reason = f"{type(exc).__name__}: {exc}"
        log.error("Could not build the rows of %s:%s: %s; the entry is kept as failed "
                  "(flush_clickhouse_outbox --list-failed, then --retry-failed once fixed)", sink.name, key, reason,
                  exc_info=exc if sink.name not in logged else None)
        logged.add(sink.name)
        return []
    batch.absorb(part, None)
    missing.update(part_missing)
    return related


def _build_sink(sink, changes, clickhouse, batch, missing):
    """
    Rows of one sink's ``{key: Change}`` into ``batch``: current rows, then tombstones; returns related changes.

    The LMS is the truth, an entry only says where to look: objects under a key that saw a delete
    are read too, and a deleted identity gets its tombstone only if no object has it now. So a
    delete that reaches ClickHouse late (it backed off during an outage while the object was
    re-created and delivered) cannot hide the object again, and the delete of one row and the
    creation of another under one key (a new enrollment id) both arrive. (A sink without a table
    of its own, the user fan-out, turns a delete into retirement: it is not read back.)
    """
    upserts = [key for key, change in changes.items() if change.action == OutboxEntry.UPSERT]
    recheck = [key for key, change in changes.items() if change.deleted and change.action == OutboxEntry.DELETE
               and sink.table]
    instances = sink.load(upserts + recheck) if upserts or recheck else {}
    missing.update((sink.name, key) for key in upserts if key not in instances)
    sink.build(instances, batch, clickhouse)
    tombstones = {}
    for key, change in changes.items():
        if change.deleted:
            current = sink.identity(instances[key]) if key in instances else None
            tombstones[key] = [identity for identity in change.deleted if identity != current]
    # ``build_deletes`` takes one identity per key; a key with several deleted rows takes turns.
    for turn in range(max(map(len, tombstones.values()), default=0)):
        sink.build_deletes({key: ids[turn] for key, ids in tombstones.items() if len(ids) > turn}, batch, clickhouse)
    deleted = {key: ids[-1] for key, ids in tombstones.items() if ids}
    return sink.related_changes(list(changes), instances, deleted)


def _catch_up(entries, batch, missing, errors, limit, ignore_schedule, clickhouse):
    """
    Let changes committed while ``batch`` was built ride along in its insert; returns the rounds.

    Rows become queryable when the insert lands, and the next flush may be a whole interval away
    (ASPECTS_MIN_FLUSH_INTERVAL_SECS). So before inserting, the flush claims what arrived while it
    built, builds that, and repeats while each round still finds more than a handful: every round
    is shorter than the one before (it only covers the previous round's build time), so the last
    claim happens moments before the insert and only changes committed in those moments wait for
    the next flush. Late rows carry their own, later version (their state was read later).
    ``entries``, ``batch``, ``missing`` and ``errors`` are extended in place.
    """
    rounds = 0
    while rounds < MAX_CATCH_UP_ROUNDS and len(entries) < limit:
        # Entries this flush holds are leased (not due), so a due-only claim skips them by itself.
        # It must not skip by id: two requests commit in any order, so an entry with a lower id
        # than one already claimed may commit later — and would wait a whole interval. Ignoring
        # the schedule (``--now``) sees leased entries too; only then is "newer ids" the filter.
        after_id = max(entry.id for entry in entries) if ignore_schedule else None
        late = _claim_entries(limit - len(entries), ignore_schedule, after_id=after_id)
        rounds += 1
        if not late:
            break
        late_version = time.time_ns()
        entries.extend(late)  # from here on, a ClickHouse error postpones them with the rest
        late_batch, late_missing, late_errors = build_rows(_coalesce(late), clickhouse)
        batch.absorb(late_batch, late_version)
        missing.update(late_missing)
        errors.update(late_errors)
        if len(late) <= SETTLED_ENTRIES:
            break
    return rounds


def _claim_until(slot, entries, batch, missing, errors, limit, ignore_schedule, clickhouse):
    """
    Early for the insert slot: keep taking what arrives, in short slices; returns the rounds.

    The slices are timed so the last round ends as the slot begins (a round takes about as long as
    the one before it), and the insert never goes out before the slot.
    """
    rounds, round_secs = 0, 0.0
    while (wait := slot - time.time()) > round_secs:
        time.sleep(min(wait - round_secs, WAIT_SLICE_SECS))
        round_started = time.perf_counter()
        rounds += _catch_up(entries, batch, missing, errors, limit, ignore_schedule, clickhouse)
        round_secs = time.perf_counter() - round_started
    time.sleep(max(0.0, slot - time.time()))
    return rounds


def collector_paused(function):
    """
    Run ``function`` with Python's cyclic garbage collector off, and collect right after it.

    A full collection in a worker holding Django and Celery takes tens of milliseconds (measured
    here: 30–60 ms), and under load one lands in the middle of a flush every few seconds, holding
    back the insert that every waiting change is queryable after. Nothing a flush allocates needs
    the collector to be freed in time; the cycles it leaves are collected when it returns.
    """
    @functools.wraps(function)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return paused


@collector_paused
def flush(limit=None, ignore_schedule=False, clickhouse=None, insert_not_before=None):
    """
    Deliver one batch of due outbox entries; see the module docstring.

    ``insert_not_before`` (epoch seconds) holds the insert back until then, to keep inserts one
    interval apart. The flush still starts early and builds what is due, then keeps claiming what
    arrives until that moment, so a change committed just before the insert is in it.
    """
    limit = limit or int(getattr(settings, "ASPECTS_OUTBOX_BATCH_SIZE", 5000))
    result = FlushResult()
    clickhouse = clickhouse or get_clickhouse()
    clock = _Stopwatch(result.timings)
    entries = _claim_entries(limit, ignore_schedule)
    version = time.time_ns()  # taken just before reading state: a read that starts later wins
    result.taken = len(entries)
    if not entries:
        return result
    clock.lap("claim")
    try:
        batch, missing, errors = build_rows(_coalesce(entries), clickhouse)
        clock.lap("build")
        result.catch_up_rounds = _catch_up(entries, batch, missing, errors, limit, ignore_schedule, clickhouse)
        clock.lap("catch_up")
        result.ready_secs = clock.elapsed()
        if insert_not_before and time.time() < insert_not_before:
            result.catch_up_rounds += _claim_until(insert_not_before, entries, batch, missing, errors, limit,
                                                   ignore_schedule, clickhouse)
            clock.lap("wait")
        result.inserted_at = time.time()
        refused, result.inserts = write_batch(batch, clickhouse, version)
        errors.update(refused)
        clock.lap("insert")
    except ClickHouseError as exc:
        _postpone(entries, str(exc))
        _record_status(dict.fromkeys({entry.sink for entry in entries}, 0), error=str(exc))
        result.error = str(exc)
        log.warning("Outbox flush postponed (%d entries): %s", len(entries), exc)
        return result
    result.rows, result.taken = len(batch), len(entries)
    sinks = {entry.sink for entry in entries}  # late entries' sinks too
    failed, deferred, done_ids = [], [], []
    for entry in entries:
        origin = (entry.sink, entry.object_key)
        if origin in errors:
            failed.append(OutboxEntry(id=entry.id, failed=True, last_error=errors[origin][:2000],
                                      attempts=entry.attempts + 1))
        elif origin in missing and getattr(get_sink(entry.sink), "retry_missing", False) \
                and entry.attempts < MAX_MISSING_ATTEMPTS:
            deferred.append(entry)
        else:
            done_ids.append(entry.id)
    # Errors left belong to related changes (a tag's course...) that have no entry of their own: they
    # get one, failed, so they are seen and replayed like any other.
    claimed = {(entry.sink, entry.object_key) for entry in entries}
    related_errors = {origin: reason for origin, reason in errors.items() if origin not in claimed}
    if related_errors:  # (rare) one failed entry per object, however many flushes tried it
        related_errors = {origin: reason for origin, reason in related_errors.items()
                          if not OutboxEntry.objects.filter(failed=True, sink=origin[0], object_key=origin[1]).exists()}
    related_failed = [OutboxEntry(sink=sink_name, object_key=key, failed=True, attempts=1, last_error=reason[:2000])
                      for (sink_name, key), reason in related_errors.items()]
    with transaction.atomic():
        if failed:
            OutboxEntry.objects.bulk_update(failed, ["failed", "last_error", "attempts"])
        if related_failed:
            OutboxEntry.objects.bulk_create(related_failed)
        if deferred:
            _postpone(deferred, "object not found yet")
        OutboxEntry.objects.filter(id__in=done_ids).delete()
        done = set(done_ids)
        _record_status({name: sum(1 for e in entries if e.sink == name and e.id in done) for name in sinks},
                       failures=_failures_by_sink(failed, entries, related_failed))
    clock.lap("ack")
    result.delivered, result.failed, result.deferred = len(done_ids), len(failed) + len(related_failed), len(deferred)
    log.info("Outbox flush: %s", result.describe())
    return result


class _Stopwatch:
    """Records milliseconds between laps into a dict (``FlushResult.timings``)."""

    def __init__(self, laps):
        self.laps = laps
        self.started = self.last = time.perf_counter()

    def elapsed(self):
        """Seconds since the stopwatch started."""
        return time.perf_counter() - self.started

    def lap(self, name):
        now = time.perf_counter()
        self.laps[name] = (now - self.last) * 1000
        self.last = now


def _postpone(entries, reason):
    """Give ``entries`` another attempt later: each backs off by its own attempt count."""
    now = timezone.now()
    by_attempts = {}
    for entry in entries:
        by_attempts.setdefault(entry.attempts + 1, []).append(entry.id)
    for attempts, ids in by_attempts.items():
        OutboxEntry.objects.filter(id__in=ids).update(
            attempts=attempts, next_attempt_at=now + datetime.timedelta(seconds=backoff(attempts)),
            last_error=reason[:2000])


def _failures_by_sink(failed, entries, related_failed):
    """``{sink: "N entries failed, e.g. <reason>"}`` for the DeliveryStatus of sinks with failed entries."""
    sink_of = {entry.id: entry.sink for entry in entries}
    by_sink = {}
    for entry in failed:
        by_sink.setdefault(sink_of[entry.id], []).append(entry.last_error)
    for entry in related_failed:
        by_sink.setdefault(entry.sink, []).append(entry.last_error)
    return {name: f"{len(reasons)} entries failed (flush_clickhouse_outbox --list-failed), e.g. {reasons[0]}"
            for name, reasons in by_sink.items()}


def _record_status(delivered_by_sink, error="", failures=None):
    """
    Remember, per sink, the last success (and how much it delivered) or the last failure.

    ``failures`` (``{sink: message}``) are entries of a flush that otherwise succeeded: the sink
    delivered the rest, and its last failure says what was kept back.
    """
    now = timezone.now()
    failures = failures or {}
    for sink_name in {*delivered_by_sink, *failures}:
        status, _ = DeliveryStatus.objects.get_or_create(sink=sink_name)
        if error:
            status.last_failure, status.last_error = now, error[:2000]
        else:
            status.last_success = now
            status.delivered += delivered_by_sink.get(sink_name, 0)
        if sink_name in failures:
            status.last_failure, status.last_error = now, failures[sink_name][:2000]
        status.save()


def drain(max_seconds=30.0, ignore_schedule=False, clickhouse=None, backlog_only=False, insert_not_before=None):
    """
    Flush batches until the outbox has nothing due (or an error, or ``max_seconds``).

    With ``backlog_only`` another batch follows only when the previous one was full: changes that
    keep trickling in wait for the next scheduled flush, so they share its inserts.
    ``insert_not_before`` applies to the first batch (a backlog behind it goes out at once).
    Returns the sums, the first batch's ``ready_secs`` and the last insert's ``inserted_at``.
    """
    deadline = time.monotonic() + max_seconds
    total = FlushResult()
    while time.monotonic() < deadline:
        result = flush(ignore_schedule=ignore_schedule, clickhouse=clickhouse, insert_not_before=insert_not_before)
        insert_not_before = None
        for name in ("taken", "delivered", "failed", "deferred", "rows", "inserts", "catch_up_rounds"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        total.ready_secs = total.ready_secs or result.ready_secs
        total.inserted_at = result.inserted_at or total.inserted_at
        if result.error:
            total.error = result.error
            break
        if result.taken == 0 or result.delivered + result.failed == 0:
            break
        if backlog_only and result.taken < int(getattr(settings, "ASPECTS_OUTBOX_BATCH_SIZE", 5000)):
            break
    return total

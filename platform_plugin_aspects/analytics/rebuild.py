"""
Fill the analytics model from events already in ``tracking_events`` (``aspects_rebuild_analytics``).

Materialized views only see new inserts, and ``migrate_clickhouse`` never rebuilds anything on
deploy. This runs each analytics view's own SELECT (read from ClickHouse, so it is always the
deployed one) over one bounded chunk at a time — one course and at most a month, split into days
when a month holds more than ``chunk_events`` events — and inserts the result into the view's
table. The model's aggregates are idempotent, so a chunk fed twice (a rerun, live events that
already reached the view) counts once.

Before feeding a chunk, events stored without a block id that the current parser can name (rows
loaded before browser payloads and video short ids were understood) are stored again with it:
the corrected row replaces the old one in ``tracking_events`` (same sort key) and flows through
the same views as a live event.

Each finished chunk is recorded in ``analytics_rebuild_checkpoints`` under the run's arguments, so
an interrupted run resumes with the next chunk; a run that reaches the end clears its records.
"""

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..tracking.events import EVENT_COLUMNS, block_id_of
from ..tracking.store import EVENT_INSERT_SETTINGS, EVENTS_TABLE

CHECKPOINTS_TABLE = "analytics_rebuild_checkpoints"
_CHUNK_WHERE = ("course_key = {rebuild_course:String} AND time >= {rebuild_start:DateTime64(6)} "
                "AND time < {rebuild_end:DateTime64(6)}")
# Only rows whose payload or context could name a block are worth parsing again.
_MAY_NAME_A_BLOCK = ("block_id = '' AND user_id IS NOT NULL AND (multiSearchAny(event, "
                     "['\"id\"', 'target_url', 'problem', 'block_key', 'usage_key', 'item_id']) "
                     "OR position(context, 'usage_key') > 0)")


@dataclass(frozen=True)
class Chunk:
    """One course's events in ``[start, end)``."""

    course_key: str
    start: datetime
    end: datetime
    events: int

    @property
    def key(self):
        return f"{self.course_key}|{self.start.isoformat()}|{self.end.isoformat()}"

    def params(self):
        return {"rebuild_course": self.course_key, "rebuild_start": self.start, "rebuild_end": self.end}


def _utc(value):
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _month_after(day):
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


class Rebuild:
    """One run of the rebuild (see the module docstring)."""

    def __init__(self, clickhouse, course_key=None, since=None, chunk_events=1_000_000):
        self.clickhouse = clickhouse
        self.course_key = course_key or None
        self.since = _utc(since) if since else None
        self.chunk_events = chunk_events
        self.run_key = f"course={self.course_key or '*'};since={self.since.isoformat() if self.since else '*'}"

    # -- plan ---------------------------------------------------------------------------------------
    def _filters(self):
        where, params = ["course_key != ''"], {}
        if self.course_key:
            where.append("course_key = {course:String}")
            params["course"] = self.course_key
        if self.since:
            where.append("time >= {since:DateTime64(6)}")
            params["since"] = self.since
        return " AND ".join(where), params

    def chunks(self):
        """Every chunk to feed, oldest month first."""
        where, params = self._filters()
        months = self.clickhouse.query(
            f"SELECT course_key, toStartOfMonth(time) AS month, count() FROM "
            f"{self.clickhouse.qualified(EVENTS_TABLE)} WHERE {where} GROUP BY course_key, month "
            "ORDER BY month, course_key", params)
        chunks = []
        for course_key, month, events in months:
            start = datetime(month.year, month.month, 1, tzinfo=timezone.utc)
            end = datetime.combine(_month_after(month), datetime.min.time(), tzinfo=timezone.utc)
            if self.since and self.since > start:
                start = self.since
            if events <= self.chunk_events:
                chunks.append(Chunk(course_key, start, end, events))
            else:
                chunks.extend(self._split(course_key, start, end))
        return chunks

    def _split(self, course_key, start, end):
        """Whole days, grouped while they stay within ``chunk_events`` (a bigger day is a chunk of its own)."""
        days = self.clickhouse.query(
            f"SELECT toDate(time) AS day, count() FROM {self.clickhouse.qualified(EVENTS_TABLE)} WHERE "
            f"{_CHUNK_WHERE} GROUP BY day ORDER BY day",
            {"rebuild_course": course_key, "rebuild_start": start, "rebuild_end": end})
        chunks, chunk_start, count = [], start, 0
        for day, events in days:
            day_start = max(start, datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc))
            if count and count + events > self.chunk_events:
                chunks.append(Chunk(course_key, chunk_start, day_start, count))
                chunk_start, count = day_start, 0
            count += events
        chunks.append(Chunk(course_key, chunk_start, end, count))
        return chunks

    def done(self):
        """Keys of the chunks this run's arguments already finished."""
        return {key for (key,) in self.clickhouse.query(
            f"SELECT chunk FROM {self.clickhouse.qualified(CHECKPOINTS_TABLE)} WHERE run_key = {{k:String}}",
            {"k": self.run_key})}

    def forget(self):
        """Clear this run's checkpoints (the next run starts over)."""
        self.clickhouse.command(f"DELETE FROM {self.clickhouse.qualified(CHECKPOINTS_TABLE)} "
                                "WHERE run_key = {k:String}", {"k": self.run_key})

    # -- work ---------------------------------------------------------------------------------------
    def views(self):
        """``[(target table, SELECT over one chunk)]`` for every analytics materialized view."""
        database = self.clickhouse.database
        source = re.compile(rf"\bFROM {re.escape(database)}\.{EVENTS_TABLE}\b")
        found = []
        for name, select in self.clickhouse.query(
                "SELECT name, as_select FROM system.tables WHERE database = {db:String} "
                "AND engine = 'MaterializedView' AND name LIKE 'analytics\\_%\\_mv' ORDER BY name",
                {"db": database}):
            chunk_select, replaced = source.subn(
                f"FROM (SELECT * FROM {database}.{EVENTS_TABLE} WHERE {_CHUNK_WHERE}) AS {EVENTS_TABLE}", select)
            if not replaced:
                raise RuntimeError(f"{name} does not read {database}.{EVENTS_TABLE}; cannot rebuild it")
            # By name: a target table may have columns its view does not fill (their defaults apply, as live).
            columns = ", ".join(f"`{column}`" for (column,) in self.clickhouse.query(
                "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
                "ORDER BY position", {"db": database, "t": name}))
            found.append((f"{database}.{name[:-3]} ({columns})", chunk_select))
        if not found:
            raise RuntimeError(f"no analytics views in {database}: run migrate_clickhouse first")
        return found

    def fix_block_ids(self, chunk):
        """Store again, with their block id, the chunk's events that were stored without one; returns how many."""
        rows = self.clickhouse.query(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM {self.clickhouse.qualified(EVENTS_TABLE)} FINAL "
            f"WHERE {_CHUNK_WHERE} AND {_MAY_NAME_A_BLOCK}", chunk.params())
        block = EVENT_COLUMNS.index("block_id")
        context_at, event_at = EVENT_COLUMNS.index("context"), EVENT_COLUMNS.index("event")
        name_at, course_at = EVENT_COLUMNS.index("name"), EVENT_COLUMNS.index("course_key")
        fixed = []
        for row in rows:
            try:
                context = json.loads(row[context_at]) if row[context_at] else {}
            except ValueError:
                context = {}
            block_id = block_id_of(context if isinstance(context, dict) else {}, row[event_at], row[name_at],
                                 row[course_at])
            if block_id:
                row = list(row)
                row[block] = block_id
                fixed.append(row)
        self.clickhouse.insert(EVENTS_TABLE, fixed, EVENT_COLUMNS, EVENT_INSERT_SETTINGS)
        return len(fixed)

    def feed(self, chunk, views):
        for table, select in views:
            self.clickhouse.command(f"INSERT INTO {table} {select}", chunk.params())

    def run(self, restart=False, report=None):
        """Feed every chunk not finished yet; ``report(progress)`` after each. Returns the final progress."""
        if restart:
            self.forget()
        views = self.views()
        chunks = self.chunks()
        done = self.done()
        progress = Progress(chunks, done)
        for chunk in chunks:
            if chunk.key in done:
                continue
            fixed = self.fix_block_ids(chunk)
            self.feed(chunk, views)
            self.clickhouse.insert(CHECKPOINTS_TABLE, [[self.run_key, chunk.key, chunk.events, fixed]],
                                   ("run_key", "chunk", "events", "block_ids_fixed"))
            progress.finished(chunk, fixed)
            if report:
                report(progress)
        self.forget()
        return progress


class Progress:
    """Chunks and events done, rate and ETA of one run."""

    def __init__(self, chunks, done):
        self.total_chunks = len(chunks)
        self.total_events = sum(c.events for c in chunks)
        self.skipped_chunks = sum(1 for c in chunks if c.key in done)
        self.skipped_events = sum(c.events for c in chunks if c.key in done)
        self.done_chunks = self.skipped_chunks
        self.done_events = self.skipped_events
        self.fixed = 0
        self.last = None
        self.started = time.monotonic()

    def finished(self, chunk, fixed):
        self.done_chunks += 1
        self.done_events += chunk.events
        self.fixed += fixed
        self.last = chunk

    @property
    def rate(self):
        """Events per second fed by this run."""
        return (self.done_events - self.skipped_events) / max(time.monotonic() - self.started, 1e-6)

    @property
    def eta_seconds(self):
        return (self.total_events - self.done_events) / self.rate if self.rate else 0.0

    def line(self):
        share = self.done_events / self.total_events if self.total_events else 1.0
        eta = int(self.eta_seconds)
        last = self.last
        where = f"{last.course_key} {last.start:%Y-%m-%d}..{last.end:%Y-%m-%d}" if last else ""
        return (f"[{self.done_chunks}/{self.total_chunks}] {where}: {share:6.1%} of {self.total_events:,} events, "
                f"{self.rate:,.0f} events/s, ETA {eta // 60}:{eta % 60:02d}")

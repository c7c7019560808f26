"""
How long tracking data is kept: a day count from the settings as each table's TTL.

* ``tracking_events``: ``ASPECTS_TRACKING_TTL_DAYS`` (default: forever);
* ``tracking_rejects``: ``ASPECTS_TRACKING_REJECTS_TTL_DAYS`` (default 30 days, in every mode: a
  reject must not keep what the events table no longer holds).

``migrate_clickhouse`` brings every table in line with its setting on every deploy (and
``load_tracking_log --apply-ttl`` does the same on demand). It only alters a table when the TTL
differs: a TTL change makes ClickHouse rewrite the TTL data of every existing part. A TTL that is
not of our form (an operator's own, say with a ``TO VOLUME`` move) is left alone when the setting
is off; when the setting is on, it wins.
"""

import re
from dataclasses import dataclass

from django.conf import settings

from .store import EVENTS_TABLE, REJECTS_TABLE

_ANY_TTL = re.compile(r"\bTTL\b")


@dataclass(frozen=True)
class Retention:
    """One table whose rows expire ``setting`` days after their ``column`` (a DateTime64)."""

    table: str
    column: str
    setting: str
    rows: str  # what the rows are, for messages

    @property
    def ours(self):
        return re.compile(rf"\bTTL toDateTime\({self.column}\) \+ toIntervalDay\((\d+)\)\s*$")

    def days(self):
        return getattr(settings, self.setting, None)


EVENTS = Retention(EVENTS_TABLE, "time", "ASPECTS_TRACKING_TTL_DAYS", "events")
REJECTS = Retention(REJECTS_TABLE, "received_at", "ASPECTS_TRACKING_REJECTS_TTL_DAYS", "rejected lines")
RETENTIONS = (EVENTS, REJECTS)


def table_ttl(clickhouse, retention=EVENTS):
    """``(exists, days, other)``: whether the table exists, our TTL's days (or None), any other TTL text."""
    rows = clickhouse.query(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        {"db": clickhouse.database, "t": retention.table})
    if not rows:
        return False, None, ""
    engine = rows[0][0]
    ttl_text = engine[engine.index("TTL"):].split(" SETTINGS ")[0] if _ANY_TTL.search(engine) else ""
    ours = retention.ours.search(ttl_text)
    return True, (int(ours.group(1)) if ours else None), ("" if ours else ttl_text)


def sync_ttl(clickhouse, days, cluster=None, dry_run=False, retention=EVENTS):
    """
    Make the table's TTL match ``days`` (None: no TTL of ours). Returns ``(statement, message)``.

    ``statement`` is the ALTER that ran (or would, with ``dry_run``), None when nothing changed.
    """
    exists, current, other = table_ttl(clickhouse, retention)
    table, rows, setting = clickhouse.qualified(retention.table), retention.rows, retention.setting
    if not exists:
        return None, f"{table} does not exist yet: run migrate_clickhouse"
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    if days:
        days = int(days)
        if current == days:
            return None, f"{table}: {rows} older than {days} days are deleted (unchanged)"
        statement = (f"ALTER TABLE {table}{on_cluster} MODIFY TTL toDateTime({retention.column}) "
                     f"+ INTERVAL {days} DAY")
        message = f"{table}: {rows} older than {days} days will be deleted"
    elif current is not None:
        statement = f"ALTER TABLE {table}{on_cluster} REMOVE TTL"
        message = f"{table}: TTL removed, {rows} are kept ({setting} is not set)"
    elif other:
        return None, f"{table}: keeps its own TTL ({other}); {setting} is not set"
    else:
        return None, f"{table}: {rows} are kept ({setting} is not set)"
    if not dry_run:
        clickhouse.command(statement)
    return statement, message


def sync_all(clickhouse, cluster=None, dry_run=False):
    """:func:`sync_ttl` for every table of :data:`RETENTIONS` with its setting; ``[(statement, message)]``."""
    return [sync_ttl(clickhouse, retention.days(), cluster, dry_run, retention) for retention in RETENTIONS]

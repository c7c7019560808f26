"""
How long tracking events are kept: ``ASPECTS_TRACKING_TTL_DAYS`` as the table's TTL.

``migrate_clickhouse`` brings the table in line with the setting on every deploy (and
``load_tracking_log --apply-ttl`` does the same on demand). It only alters the table when the TTL
differs: a TTL change makes ClickHouse rewrite the TTL data of every existing part. A TTL that is
not of our form (an operator's own, say with a ``TO VOLUME`` move) is left alone when the setting
is off; when the setting is on, it wins.
"""

import re

from .store import EVENTS_TABLE

_OUR_TTL = re.compile(r"\bTTL toDateTime\(time\) \+ toIntervalDay\((\d+)\)\s*$")
_ANY_TTL = re.compile(r"\bTTL\b")


def table_ttl(clickhouse):
    """``(exists, days, other)``: whether the table exists, our TTL's days (or None), any other TTL text."""
    rows = clickhouse.query(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        {"db": clickhouse.database, "t": EVENTS_TABLE})
    if not rows:
        return False, None, ""
    engine = rows[0][0]
    ttl_text = engine[engine.index("TTL"):].split(" SETTINGS ")[0] if _ANY_TTL.search(engine) else ""
    ours = _OUR_TTL.search(ttl_text)
    return True, (int(ours.group(1)) if ours else None), ("" if ours else ttl_text)


def sync_ttl(clickhouse, days, cluster=None, dry_run=False):
    """
    Make the table's TTL match ``days`` (None: no TTL of ours). Returns ``(statement, message)``.

    ``statement`` is the ALTER that ran (or would, with ``dry_run``), None when nothing changed.
    """
    exists, current, other = table_ttl(clickhouse)
    table = clickhouse.qualified(EVENTS_TABLE)
    if not exists:
        return None, f"{table} does not exist yet: run migrate_clickhouse"
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    if days:
        days = int(days)
        if current == days:
            return None, f"{table}: events older than {days} days are deleted (unchanged)"
        statement = f"ALTER TABLE {table}{on_cluster} MODIFY TTL toDateTime(time) + INTERVAL {days} DAY"
        message = f"{table}: events older than {days} days will be deleted"
    elif current is not None:
        statement = f"ALTER TABLE {table}{on_cluster} REMOVE TTL"
        message = f"{table}: TTL removed, events are kept (ASPECTS_TRACKING_TTL_DAYS is not set)"
    elif other:
        return None, f"{table}: keeps its own TTL ({other}); ASPECTS_TRACKING_TTL_DAYS is not set"
    else:
        return None, f"{table}: events are kept (ASPECTS_TRACKING_TTL_DAYS is not set)"
    if not dry_run:
        clickhouse.command(statement)
    return statement, message

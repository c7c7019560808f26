"""
Writing parsed events and rejects to ClickHouse, shared by the live sender and the log loader.

One insert per batch. If ClickHouse refuses a batch because of its *content* (a value that does not
fit its column), the batch is split in halves until the offending events are isolated; they go to
``tracking_rejects`` with ClickHouse's reason and the rest is stored. A bad event therefore never
poisons its batch (a refusal that is not about the schema counts as the data's). Errors that are
about the server, not the data (unreachable, wrong password, missing table or column, no grant)
are raised unchanged so the caller keeps the batch and retries later.

Only two things make an event a reject: :class:`Rejected` from parsing (the data says why) and
ClickHouse refusing its values. Any other exception is a bug in our code, not a fault of the
event: it is never turned into a reject. ``parse_texts`` hands such events back as ``held`` and
``store`` lets the exception through, so the caller keeps the events and retries them once the
code is fixed.
"""

import logging

from ..clickhouse import ClickHouseConfigError, ClickHouseError, ClickHouseQueryError, ClickHouseUnavailable
from .events import EVENT_COLUMNS, REJECT_COLUMNS, Reject, Rejected, row_from_json

log = logging.getLogger(__name__)

EVENTS_TABLE = "tracking_events"
REJECTS_TABLE = "tracking_rejects"
# Not the data's fault: keep the batch, retry later.
SERVER_ERRORS = (ClickHouseUnavailable, ClickHouseConfigError, ClickHouseQueryError)
# Refusals about the schema, the grants or the settings, not the rows (no code: our client found
# no such table; 115 and 452: a setting unknown to the server or outside its user's constraints).
SCHEMA_ERROR_CODES = {None, 8, 16, 47, 60, 81, 115, 164, 242, 452, 497}
# Events (live, loaded from logs, stored again by aspects_rebuild_analytics) go in without
# ClickHouse collapsing each inserted block by its sorting key first (optimize_on_insert): the
# analytics views' blocks are already grouped by their key, and a repeated event in
# tracking_events is replaced by the background merges as it would be anyway (readers use FINAL).
# That pass cost about a fifth of ClickHouse's CPU per insert of events: 400,000 events took
# 3.2 s of CPU with the views (2.7 s without the pass) and 1.6 s without them (1.2 s).
EVENT_INSERT_SETTINGS = {"optimize_on_insert": 0}


def is_server_error(exc):
    """True when ``exc`` says nothing about the rows: the batch must wait, not be split or rejected."""
    if isinstance(exc, ClickHouseQueryError):
        return exc.code in SCHEMA_ERROR_CODES
    return isinstance(exc, SERVER_ERRORS)


def parse_texts(texts, loaded_from="live", max_bytes=None):
    """
    ``(pairs, rejects, held)`` for event JSON texts: ``(text, row)`` for each usable one, a Reject
    for each the data makes unusable, and ``(text, exception)`` for each our code failed on.
    """
    pairs, rejects, held = [], [], []
    for text in texts:
        try:
            pairs.append((text, row_from_json(text, loaded_from, max_bytes)))
        except Rejected as exc:
            rejects.append(Reject(str(exc), text, len(text.encode("utf-8", "surrogatepass"))))
        except Exception as exc:  # pylint: disable=broad-except  # a bug: the event is kept, not rejected
            held.append((text, exc))
    return pairs, rejects, held


def store(clickhouse, pairs, rejects=()):
    """
    Insert ``(raw, row)`` pairs into ``tracking_events`` and ``rejects`` into ``tracking_rejects``.

    Returns ``(stored, rejected)`` counts. Raises one of ``SERVER_ERRORS`` (nothing of the events
    was necessarily written; re-sending is safe, event ids make it idempotent).
    """
    rejects = list(rejects)
    stored = _insert_isolating(clickhouse, pairs, rejects)
    if rejects:
        for reject in rejects:
            log.warning("Tracking event rejected (%s) from %s:%s", reject.reason, reject.source_file or "live",
                        reject.source_offset)
        clickhouse.insert(REJECTS_TABLE, [r.row() for r in rejects], REJECT_COLUMNS)
    return stored, len(rejects)


def _insert_isolating(clickhouse, pairs, rejects):
    if not pairs:
        return 0
    try:
        return clickhouse.insert(EVENTS_TABLE, [row for _, row in pairs], EVENT_COLUMNS, EVENT_INSERT_SETTINGS)
    except ClickHouseError as exc:  # anything else is a bug: raised, never blamed on the events
        if is_server_error(exc):
            raise
        if len(pairs) == 1:
            raw = pairs[0][0]
            rejects.append(Reject(f"ClickHouse refused the event: {exc}", raw, len(raw.encode("utf-8", "replace"))))
            return 0
        middle = len(pairs) // 2
        return _insert_isolating(clickhouse, pairs[:middle], rejects) + _insert_isolating(
            clickhouse, pairs[middle:], rejects
        )

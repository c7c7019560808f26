"""
The request-path half of delivery: record a change, schedule a flush after commit.

This is all a receiver ever does — one small INSERT into the LMS database inside the caller's
transaction (or nothing when the sink is disabled). No serialisation, no network call per change:
at most one Celery message per process per flush window.
"""

import threading
import time

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from ..models import OutboxEntry
from ..sinks import get_sink

_schedule_lock = threading.Lock()
_next_flush_at = 0.0


def record_change(sink_name, object_key, action=OutboxEntry.UPSERT, payload=None):
    """Queue "``object_key`` of ``sink_name`` changed" if that sink is enabled; returns whether it did."""
    if not get_sink(sink_name).is_enabled():
        return False
    insert_entry(sink_name, str(object_key)[:255], action, payload)
    transaction.on_commit(schedule_flush)
    return True


_INSERTED_FIELDS = ("sink", "object_key", "action", "payload", "created", "attempts", "next_attempt_at", "last_error",
                    "failed")
_insert_statements = {}  # database alias -> (INSERT statement, the fields in its column order)


def insert_entry(sink_name, object_key, action, payload):
    """
    Insert one outbox row with a statement composed once per database.

    ``OutboxEntry.objects.create`` spends longer building the instance and the SQL than the
    database spends storing the row; this runs inside every save the platform makes, so it is
    the one place where the ORM's convenience is not worth it. Values still go through each
    field's own conversion (time zones, JSON), so the row is exactly what ``create`` would write.
    """
    connection = connections[router.db_for_write(OutboxEntry)]
    prepared = _insert_statements.get(connection.alias)
    if prepared is None:
        meta = OutboxEntry._meta  # pylint: disable=protected-access
        fields = [meta.get_field(name) for name in _INSERTED_FIELDS]
        columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
        prepared = _insert_statements[connection.alias] = (
            f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})", fields)
    statement, fields = prepared
    now = timezone.now()
    values = (sink_name, object_key, action, payload, now, 0, now, "", False)
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values)]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def schedule_flush():
    """
    Ask a worker to flush soon, at most once per ASPECTS_FLUSH_DELAY_SECS per process.

    Every change committed before the scheduled flush starts is picked up by it, so later changes
    in the same window need no message of their own. (Eager Celery, in tests, flushes each time.)
    """
    global _next_flush_at  # pylint: disable=global-statement
    from ..tasks import flush_outbox  # pylint: disable=import-outside-toplevel

    delay = float(getattr(settings, "ASPECTS_FLUSH_DELAY_SECS", 0.1))
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        flush_outbox.apply()
        return
    now = time.monotonic()
    with _schedule_lock:
        if now < _next_flush_at:
            return
        _next_flush_at = now + delay
    flush_outbox.apply_async(countdown=delay, queue=flush_queue())


def flush_queue():
    """The Celery queue for flush tasks (None: the platform's default)."""
    return getattr(settings, "ASPECTS_CELERY_QUEUE", None) or None

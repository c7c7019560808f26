"""
An edx event-tracking backend that streams every tracking event into ClickHouse.

The settings hook (``settings/common.py``) registers it next to the ``tracking.log`` logger, inside
the ``tracking_logs`` routing backend, so it receives the very dict the logger writes — after the
platform's processors — and a live event gets the same ``event_id`` as the same event loaded later
from ``tracking.log`` by ``load_tracking_log``.

``send()`` runs in the request: it serialises the event (a snapshot, since later processors may
mutate the dict) and hands the string to a :class:`~.sender.Sender`; the network is never touched.
It is active when the setting ``EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED`` is true or the
waffle flag ``event_sink_clickhouse.tracking_events.enabled`` is on (re-read every few seconds, so
flipping the flag needs no restart and costs no query per event).
"""

import logging
import time

from django.conf import settings

from ..waffle import sink_flag_name
from .events import serialize
from .sender import Sender

log = logging.getLogger(__name__)

TRACKING_FLAG = sink_flag_name("tracking_events")
ENABLED_SETTING = "EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED"
ENABLED_RECHECK_SECS = 5.0


def tracking_enabled():
    """The setting, else the waffle flag (False when the flag cannot be read, e.g. no database yet)."""
    if getattr(settings, ENABLED_SETTING, False):
        return True
    try:
        from edx_toggles.toggles import WaffleFlag  # pylint: disable=import-outside-toplevel

        return bool(WaffleFlag(TRACKING_FLAG, __name__).is_enabled())
    except Exception:  # pylint: disable=broad-except
        log.debug("Waffle flag %s unreadable; tracking events off", TRACKING_FLAG, exc_info=True)
        return False


def sender_from_settings(**options):
    """A Sender configured by the ASPECTS_TRACKING_* settings, with backend ``options`` on top."""
    def option(name, setting):
        return options[name] if options.get(name) is not None else getattr(settings, setting)

    return Sender(
        spool_dir=option("spool_dir", "ASPECTS_TRACKING_SPOOL_DIR"),
        batch_size=int(option("batch_size", "ASPECTS_TRACKING_BATCH_SIZE")),
        flush_interval=float(option("flush_interval_secs", "ASPECTS_TRACKING_FLUSH_INTERVAL_SECS")),
        buffer_events=int(option("buffer_events", "ASPECTS_TRACKING_BUFFER_EVENTS")),
        retry_max_secs=float(option("retry_max_secs", "ASPECTS_TRACKING_RETRY_MAX_SECS")),
        max_event_bytes=option("max_event_bytes", "ASPECTS_TRACKING_MAX_EVENT_BYTES"),
        clickhouse_overrides=options.get("clickhouse"),
    )


class ClickHouseTrackingBackend:
    """``EVENT_TRACKING_BACKENDS`` engine: ``send(event)`` queues the event for ClickHouse."""

    def __init__(self, **options):
        self.sender = sender_from_settings(**options)
        self._enabled = False
        self._enabled_until = 0.0

    def send(self, event):
        """Queue ``event`` (the tracker's dict). Never raises into the request and never blocks."""
        now = time.monotonic()
        if now >= self._enabled_until:
            self._enabled = tracking_enabled()
            self._enabled_until = now + ENABLED_RECHECK_SECS
        if not self._enabled:
            return
        try:
            text = serialize(event)
        except (TypeError, ValueError):
            log.exception("Tracking event %r cannot be written as JSON; not sent to ClickHouse", event.get("name"))
            return
        self.sender.enqueue(text)

    def flush(self, timeout=10.0):
        """Deliver what is buffered now (tests, the demo, management commands)."""
        return self.sender.flush(timeout)

    def close(self, timeout=10.0):
        """Deliver or spool everything and stop the background thread."""
        self.sender.close(timeout)

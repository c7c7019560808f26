"""
The live path's engine: a bounded in-memory buffer, one background thread, batches by size or time.

``enqueue`` is what a request pays: append a JSON string to a deque (and, only when the buffer is
full, append it to a spool file instead). It never waits for the network. The thread wakes when a
batch is full or ``flush_interval`` has passed, inserts one batch per table, and:

* when ClickHouse is unreachable (or misconfigured), writes the batch to the disk spool, backs
  off exponentially (capped at ``retry_max_secs``) and keeps new events in memory up to
  ``buffer_events``, spilling the rest to disk. When ClickHouse answers again, the spool is
  delivered first, file by file, then the buffer;
* at interpreter exit (atexit) delivers what is left, or spools it if ClickHouse is down;
* after a fork (gunicorn/Celery prefork) starts afresh in the child: the parent's buffer copy and
  thread are not the child's, and the child's thread starts on its first event;
* when our own code fails on events (a bug, not the data: see ``store``), keeps those events in
  the spool's ``held/`` directory, logs the error loudly (the traceback once per distinct error),
  records it in ``held/last_error.txt`` for ``aspects_status``, and retries them with back-off, so
  a deployed fix delivers them. They are never rejected, and never hold back other events.
"""

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from pathlib import Path

from ..clickhouse import get_clickhouse
from ..retry import backoff_secs
from .spool import Spool
from .store import SERVER_ERRORS, parse_texts, store

log = logging.getLogger(__name__)

HELD_DIR = "held"  # under the spool directory: events our code failed on, retried with back-off
HELD_ERROR_FILE = "last_error.txt"

_SENDERS = weakref.WeakSet()


def _close_all():
    for sender in list(_SENDERS):
        sender.close()


def _after_fork_in_child():
    for sender in list(_SENDERS):
        sender.after_fork()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_after_fork_in_child)


class Sender:  # pylint: disable=too-many-instance-attributes
    """Deliver event JSON texts to ``tracking_events`` in batches, from one background thread."""

    def __init__(self, spool_dir, batch_size=10_000, flush_interval=0.25, buffer_events=100_000,
                 retry_max_secs=30.0, max_event_bytes=None, clickhouse_overrides=None):
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.buffer_events = buffer_events
        self.retry_max_secs = retry_max_secs
        self.max_event_bytes = max_event_bytes
        # The sender has its own back-off: one quick retry in the client is enough.
        self.clickhouse_overrides = {"retries": 1, **(clickhouse_overrides or {})}
        self.spool = Spool(spool_dir)
        self.held = Spool(Path(spool_dir) / HELD_DIR)
        self._reset_runtime()
        _SENDERS.add(self)

    def _reset_runtime(self):
        self.stats = {"stored": 0, "rejected": 0, "spooled": 0, "failures": 0, "held": 0}
        self._buffer = deque()
        self._cycling = False
        self._wake = threading.Event()
        self._start_lock = threading.Lock()
        self._thread = None
        self._stopping = False
        self._retry_at = 0.0
        self._failures = 0
        self._held_retry_at = 0.0
        self._held_failures = 0
        self._errors_logged = set()

    # -- request path -----------------------------------------------------------------------
    def enqueue(self, text):
        """Queue one event's JSON text. Cheap, never blocks on ClickHouse, never raises."""
        buffer = self._buffer
        if (self._thread is None and not self._start()) or len(buffer) >= self.buffer_events:
            self._spool_one(text)
            return
        buffer.append(text)
        if len(buffer) >= self.batch_size:
            self._wake.set()

    def _start(self):
        """Start the thread (once per process); False when closed: events then go to the spool."""
        with self._start_lock:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="aspects-tracking-sender", daemon=True)
                self._thread.start()
            return self._thread is not None

    def _spool_one(self, text):
        try:
            self.spool.append([text])
            self.stats["spooled"] += 1
        except OSError:
            log.exception("Tracking event LOST: memory buffer full and the spool (%s) is not writable",
                          self.spool.directory)

    # -- lifecycle ----------------------------------------------------------------------------
    def after_fork(self):
        """In a forked child: forget the parent's buffer (the parent delivers it) and thread."""
        self._reset_runtime()
        self.spool.after_fork()
        self.held.after_fork()

    def flush(self, timeout=10.0):
        """
        Wake the thread and wait until the buffer is empty and the batch in flight is done.

        True when everything was handed over (stored, rejected or spooled), False on timeout.
        """
        deadline = time.monotonic() + timeout
        while self._buffer or self._cycling:
            if time.monotonic() > deadline:
                return False
            self._wake.set()
            time.sleep(0.01)
        return True

    def close(self, timeout=10.0):
        """Deliver (or spool) everything and stop the thread; used at exit."""
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None  # later events go straight to the spool (the next process delivers them)
        if self._buffer:  # the thread is stuck or never ran: keep the rest on disk
            self._spool_buffer()
        self.spool.seal()
        self.held.seal()

    # -- background thread -------------------------------------------------------------------
    def _run(self):
        self.spool.recover()
        self.held.recover()
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            stopping = self._stopping
            self._cycling = True
            try:
                self._cycle(final=stopping)
            except Exception:  # pylint: disable=broad-except
                log.exception("Tracking sender cycle failed; events stay buffered or spooled")
            finally:
                self._cycling = False
            if stopping:
                return

    def _cycle(self, final=False):
        if time.monotonic() < self._retry_at:
            if final:
                self._spool_buffer()
            return
        if self._deliver_spool(self.spool) and self._deliver_buffer():
            self._failures = 0
            self._retry_held()
            return
        self.stats["failures"] += 1
        self._failures += 1
        self._retry_at = time.monotonic() + backoff_secs(self._failures, first=0.5, cap=self.retry_max_secs)
        if final:
            self._spool_buffer()

    def _retry_held(self):
        """Give events our code failed on another try, with back-off (a deployed fix delivers them)."""
        if time.monotonic() < self._held_retry_at or not self.held.pending():
            return
        held_before = self.stats["held"]
        self._deliver_spool(self.held)
        self._held_failures = self._held_failures + 1 if self.stats["held"] > held_before else 0
        self._held_retry_at = time.monotonic() + backoff_secs(self._held_failures, first=1.0,
                                                              cap=self.retry_max_secs)
        if not self._held_failures:
            (self.held.directory / HELD_ERROR_FILE).unlink(missing_ok=True)

    def _deliver_buffer(self):
        """Send the buffer batch by batch; on a server error spool the batch and return False."""
        buffer = self._buffer
        while buffer:
            batch = [buffer.popleft() for _ in range(min(self.batch_size, len(buffer)))]
            if not self._deliver(batch):
                self.spool.append(batch)
                self.stats["spooled"] += len(batch)
                return False
        return True

    def _deliver_spool(self, spool):
        """Send waiting files of ``spool``, oldest first; False (file kept) when ClickHouse fails."""
        spool.seal()
        for path in spool.pending():
            claimed = spool.claim(path)
            if claimed is None:
                continue
            texts = Spool.read(claimed)
            delivered = all(
                self._deliver(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
            )
            Spool.release(claimed, delivered)
            if not delivered:
                return False
        return True

    def _deliver(self, texts):
        """Store ``texts``; False when ClickHouse failed (the caller keeps them), True once handed over."""
        pairs, rejects, held = parse_texts(texts, "live", self.max_event_bytes)
        try:
            stored, rejected = store(get_clickhouse(self.clickhouse_overrides), pairs, rejects)
        except SERVER_ERRORS as exc:
            log.warning("Tracking events not delivered (%d waiting, retrying): %s", len(texts), exc)
            return False
        except Exception as exc:  # pylint: disable=broad-except  # our bug: keep the whole batch
            self._hold(texts, exc)
            return True
        if held:
            self._hold([text for text, _ in held], held[0][1])
        self.stats["stored"] += stored
        self.stats["rejected"] += rejected
        return True

    def _hold(self, texts, exc):
        """Keep events our code failed on (see the module docstring); loud, and never a reject."""
        self.held.append(texts)
        self.held.seal()
        self.stats["held"] += len(texts)
        reason = f"{type(exc).__name__}: {exc}"
        try:
            (self.held.directory / HELD_ERROR_FILE).write_text(
                f"{time.strftime('%Y-%m-%d %H:%M:%S')} {len(texts)} events: {reason}\n", encoding="utf-8")
        except OSError:
            pass
        first = reason not in self._errors_logged
        self._errors_logged.add(reason)
        log.error("BUG: %d tracking events could not be processed (%s). They are NOT rejected: they are kept in "
                  "%s and retried with back-off, so a fixed deployment delivers them", len(texts), reason,
                  self.held.directory, exc_info=exc if first else None)

    def _spool_buffer(self):
        buffer = self._buffer
        texts = []
        while buffer:
            texts.append(buffer.popleft())
        if texts:
            self.spool.append(texts)
            self.stats["spooled"] += len(texts)
        self.spool.seal()
        self.held.seal()

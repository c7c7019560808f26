"""
Load past ``tracking.log`` files (plain or gzip-rotated) into ``tracking_events``.

* Every line is stored or rejected, never skipped: bad UTF-8, no JSON, malformed JSON, no time, too
  big — each goes to ``tracking_rejects`` with its reason, file and byte offset, and loading goes on.
* Resumable: after each stored batch the file's checkpoint (fingerprint of its first line + byte
  offset in the uncompressed stream) is written to ``tracking_load_checkpoints``. The fingerprint
  follows a file through rotation (``tracking.log`` -> ``tracking.log.1`` -> ``.2.gz``), so a file
  loaded halfway and then rotated resumes where it stopped. Gzip files are immutable, so a finished
  one is marked complete; a plain file may still grow and is re-read from its offset next time.
* Idempotent: the event id is derived from the event itself, so a batch stored twice (a crash
  between insert and checkpoint, overlap with the live backend) counts once with ``FINAL``.
* Fast: this process only splits the file into chunks of lines; ``workers`` processes parse and
  insert them in parallel, and checkpoints advance in file order as chunks complete.
"""

import glob
import gzip
import hashlib
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..clickhouse import ClickHouse
from ..progress import Progress, stream_writer
from .events import Reject, Rejected, json_part, row_from_json
from .store import store

CHECKPOINTS_TABLE = "tracking_load_checkpoints"
CHECKPOINT_COLUMNS = ("fingerprint", "path", "offset", "complete", "events", "rejects")


@dataclass
class FileResult:
    """What happened to one file."""

    path: str
    events: int = 0  # stored by this run
    rejects: int = 0
    bytes_read: int = 0
    skipped: str = ""
    earlier_events: int = 0  # stored by earlier runs (from the checkpoint)
    earlier_rejects: int = 0


@dataclass
class LoadResult:
    """Totals of one run."""

    files: list = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def events(self):
        return sum(f.events for f in self.files)

    @property
    def rejects(self):
        return sum(f.rejects for f in self.files)

    @property
    def bytes_read(self):
        return sum(f.bytes_read for f in self.files)


def expand(patterns):
    """Files matching the paths/globs, oldest first (rotation order), each once."""
    found = set()
    for pattern in patterns:
        matches = glob.glob(os.path.expanduser(pattern))
        if not matches:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        found.update(m for m in matches if os.path.isfile(m))
    return sorted(found, key=lambda p: (os.path.getmtime(p), p))


def _open(path):
    # pylint: disable=consider-using-with
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def fingerprint(path):
    """A hash of the file's first line (uncompressed), or None for an empty file."""
    with _open(path) as stream:
        first = stream.readline(4096)
    return hashlib.sha256(first).hexdigest()[:32] if first else None


def load_chunk(config, blob, base_offset, source, max_event_bytes):
    """
    Parse and store one chunk of log lines; returns ``(stored, rejected)``.

    Runs in a worker process (or thread): it gets the raw bytes, not parsed objects, so the reading
    process stays cheap and parsing scales with the workers. Every line is stored or rejected.
    """
    offset = base_offset
    pairs, rejects = [], []
    for line in blob.split(b"\n"):  # only "\n" ends a line, as when the file was read
        line_offset, offset = offset, offset + len(line) + 1
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            rejects.append(Reject(f"not UTF-8: invalid byte at position {exc.start}",
                                  line.decode("utf-8", "backslashreplace"), len(line), source, line_offset))
            continue
        try:
            json_text = json_part(text)
            pairs.append((json_text, row_from_json(json_text, source, max_event_bytes)))
        except Rejected as exc:
            rejects.append(Reject(str(exc), text, len(line), source, line_offset))
    return store(_worker_clickhouse(config), pairs, rejects)


_WORKER_CONNECTIONS = {}


def _die_with_parent():
    """
    Worker initializer: end this worker when the loader process dies (even by ``kill -9``).

    Without it, killed loads left their idle workers behind forever, each holding ~140 MB.
    Linux only (prctl PR_SET_PDEATHSIG); elsewhere the workers still end with a normal exit.
    """
    try:
        import ctypes  # pylint: disable=import-outside-toplevel

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    # Ctrl-C reaches the whole process group: only the loader reacts (once, see ResumableCommand);
    # a worker's chunk in flight is simply not checkpointed, and the next run reads it again.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() == 1:  # the parent died before we got here
        os._exit(0)  # pylint: disable=protected-access


def _worker_clickhouse(config):
    """One pooled connection per process and configuration."""
    if config not in _WORKER_CONNECTIONS:
        _WORKER_CONNECTIONS[config] = ClickHouse(config)
    return _WORKER_CONNECTIONS[config]


@dataclass
class _Chunk:
    fingerprint: str
    path: str
    end_offset: int
    complete: bool
    future: object


class LogLoader:  # pylint: disable=too-many-instance-attributes
    """Read tracking-log files and store their events (see the module docstring)."""

    def __init__(self, clickhouse, batch_size=20_000, max_event_bytes=None, max_events=None,
                 restart=False, progress_stream=None, show_progress=True, workers=0):
        self.clickhouse = clickhouse
        self.batch_size = batch_size
        self.max_event_bytes = max_event_bytes
        self.max_events = max_events
        self.restart = restart
        self.progress_stream = progress_stream
        self.show_progress = show_progress
        self.workers = workers
        self._seen = 0
        self._done_bytes = 0

    # -- checkpoints ----------------------------------------------------------------------------
    def checkpoint(self, fp):
        """``(offset, complete, events, rejects)`` recorded for a fingerprint (zeros when none)."""
        rows = self.clickhouse.query(
            f"SELECT offset, complete, events, rejects FROM {self.clickhouse.qualified(CHECKPOINTS_TABLE)} FINAL "
            "WHERE fingerprint = {fp:String}",
            {"fp": fp},
        )
        return tuple(rows[0]) if rows else (0, False, 0, 0)

    def _save_checkpoint(self, chunk, result):
        self.clickhouse.insert(
            CHECKPOINTS_TABLE,
            [[chunk.fingerprint, chunk.path, chunk.end_offset, chunk.complete,
              result.earlier_events + result.events, result.earlier_rejects + result.rejects]],
            CHECKPOINT_COLUMNS,
        )

    # -- loading ----------------------------------------------------------------------------------
    def _executor(self):
        """Worker processes (forked: no re-import, inherited settings), or one thread when workers=0."""
        if self.workers:
            return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("fork"),
                                       initializer=_die_with_parent)
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracking-loader")

    def load(self, patterns):
        """Load every file matching ``patterns``; returns a :class:`LoadResult`."""
        paths = expand(patterns)
        result = LoadResult()
        started = time.monotonic()
        progress = self._progress(sum(os.path.getsize(p) for p in paths))
        with self._executor() as executor:
            for path in paths:
                result.files.append(self._load_file(path, executor, progress))
                if self._limit_reached():
                    result.interrupted = True
                    break
        if progress:
            progress.update(self._done_bytes)
            progress.finish()
        result.seconds = time.monotonic() - started
        return result

    def _progress(self, total_bytes):
        """The shared progress line over the bytes read (None with ``show_progress`` off)."""
        if not self.show_progress:
            return None
        stream = self.progress_stream or sys.stderr
        return Progress(stream_writer(stream), "tracking logs", total_bytes, stream.isatty(), every=10.0,
                        unit=" MB", scale=1e6, extra=lambda elapsed: f"{self._seen / elapsed:,.0f} lines/s")

    def _load_file(self, path, executor, progress):  # pylint: disable=too-many-locals
        result = FileResult(str(path))
        fp = fingerprint(path)
        if fp is None:
            result.skipped = "empty"
            return result
        offset, complete, result.earlier_events, result.earlier_rejects = (
            (0, False, 0, 0) if self.restart else self.checkpoint(fp)
        )
        if complete:
            result.skipped = "already loaded"
            self._done_bytes += os.path.getsize(path)
            return result
        is_gzip = str(path).endswith(".gz")
        source = Path(path).name
        start_offset = chunk_offset = offset
        pending = deque()
        in_flight = max(self.workers, 1) + 1
        with open(path, "rb") as raw_file:
            stream = gzip.GzipFile(fileobj=raw_file) if is_gzip else raw_file
            self._skip(stream, offset, is_gzip)
            counted_from = raw_file.tell()
            for blob in self._blocks(stream, is_gzip):
                blob = self._within_limit(blob)
                offset += len(blob)
                self._submit(executor, pending, fp, path, (blob, chunk_offset, offset, False), source)
                chunk_offset = offset
                while len(pending) >= in_flight:
                    self._finish(pending.popleft(), result)
                now_at = raw_file.tell()
                self._done_bytes += now_at - counted_from
                counted_from = now_at
                if progress:
                    progress.update(self._done_bytes)
                if self._limit_reached():
                    break
            else:
                complete = is_gzip
            self._submit(executor, pending, fp, path, (b"", chunk_offset, offset, complete), source)
            self._done_bytes += raw_file.tell() - counted_from
        while pending:
            self._finish(pending.popleft(), result)
        result.bytes_read = offset - start_offset
        return result

    def _submit(self, executor, pending, fp, path, chunk, source):
        blob, chunk_offset, end_offset, complete = chunk
        future = executor.submit(load_chunk, self.clickhouse.config, blob, chunk_offset, source, self.max_event_bytes)
        pending.append(_Chunk(fp, str(path), end_offset, complete, future))

    def _finish(self, chunk, result):
        """Wait for a chunk (in file order), count it and move the checkpoint past it."""
        stored, rejected = chunk.future.result()  # a failed insert raises here, before its checkpoint
        result.events += stored
        result.rejects += rejected
        self._save_checkpoint(chunk, result)

    def _blocks(self, stream, is_gzip):
        """
        Whole lines, about ``batch_size`` of them (1 KB each) per block, without a Python loop per
        line: the reader only looks for the last newline. A plain file's unfinished last line is
        left for the next run; a gzip file's last line counts even without its newline.
        """
        size = max(self.batch_size, 1) * 1024
        rest = b""
        while True:
            data = stream.read(size)
            if not data:
                break
            data = rest + data if rest else data
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield data[:cut]
        if rest and is_gzip:
            yield rest

    def _within_limit(self, blob):
        """Count the block's lines; cut it after the ``max_events``-th line when there is a limit."""
        lines = blob.count(b"\n") + (not blob.endswith(b"\n"))
        if self.max_events is not None and self._seen + lines > self.max_events:
            cut = 0
            for _ in range(self.max_events - self._seen):
                cut = blob.index(b"\n", cut) + 1
            blob, lines = blob[:cut], self.max_events - self._seen
        self._seen += lines
        return blob

    def _limit_reached(self):
        return self.max_events is not None and self._seen >= self.max_events

    @staticmethod
    def _skip(stream, offset, is_gzip):
        if not offset:
            return
        if not is_gzip:
            stream.seek(offset)
            return
        remaining = offset
        while remaining:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)

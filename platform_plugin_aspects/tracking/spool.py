"""
The on-disk overflow of the live backend: events that could not be delivered (ClickHouse down, or
the memory buffer full) wait here as JSON lines until the sender delivers them.

Files move through three names, each change an atomic ``rename`` so processes sharing the
directory (gunicorn or Celery workers) never read half a file or deliver the same file twice:

* ``<pid>-<seq>.part``   being written by process ``pid``;
* ``<pid>-<seq>.jsonl``  complete, waiting for delivery;
* ``<name>.sending-<pid>`` claimed by process ``pid``; deleted once stored.

Files left behind by a process that died (``.part`` or ``.sending-`` of a pid that no longer runs)
are put back into the queue by :meth:`Spool.recover`, so a crash loses only what was in memory.
"""

import itertools
import os
import threading
import time
from pathlib import Path


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """A directory of JSON-lines files, safe to share between processes."""

    def __init__(self, directory, max_file_events=50_000):
        self.directory = Path(directory)
        self.max_file_events = max_file_events
        self._lock = threading.Lock()
        self._file = None
        self._path = None
        self._count = 0
        self._seq = itertools.count()

    def after_fork(self):
        """In a forked child: the parent's open file is not ours to write or close."""
        self._lock = threading.Lock()
        self._file = self._path = None
        self._count = 0

    def append(self, texts):
        """Write event JSON texts (one per line); durable on disk once the file is sealed."""
        with self._lock:
            if self._file is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._path = self.directory / f"{os.getpid()}-{time.time_ns()}-{next(self._seq):06d}.part"
                # pylint: disable-next=consider-using-with
                self._file = open(self._path, "a", encoding="utf-8", errors="surrogatepass")
            for text in texts:
                self._file.write(text)
                self._file.write("\n")
            self._count += len(texts)
            if self._count >= self.max_file_events:
                self._seal_locked()

    def seal(self):
        """Close the file being written so it can be delivered."""
        with self._lock:
            self._seal_locked()

    def _seal_locked(self):
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._path.rename(self._path.with_suffix(".jsonl"))
        self._file = self._path = None
        self._count = 0

    def pending(self):
        """Complete files waiting for delivery, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.jsonl"), key=lambda p: p.name.split("-", 1)[1])

    def claim(self, path):
        """Take ``path`` for delivery; None if another process took it first."""
        claimed = path.with_name(f"{path.name}.sending-{os.getpid()}")
        try:
            path.rename(claimed)
        except FileNotFoundError:
            return None
        return claimed

    @staticmethod
    def read(path):
        """The event texts of a claimed file."""
        with open(path, encoding="utf-8", errors="surrogatepass") as spooled:
            return [line.rstrip("\n") for line in spooled if line.strip()]

    @staticmethod
    def release(path, delivered):
        """Delete a delivered file, or give an undelivered one back to the queue."""
        if delivered:
            path.unlink(missing_ok=True)
        else:
            path.rename(path.with_name(path.name.split(".sending-")[0]))

    def recover(self):
        """
        Requeue files of processes that died while writing or delivering them.

        Call it before this process claims anything: files carrying our own pid then come from an
        earlier process that had the same pid (containers restart with small pids).
        """
        if not self.directory.is_dir():
            return
        for path in self.directory.iterdir():
            name = path.name
            if name.endswith(".part"):
                owner, target = int(name.split("-", 1)[0]), path.with_suffix(".jsonl")
            elif ".sending-" in name:
                owner, target = int(name.rsplit("-", 1)[1]), path.with_name(name.split(".sending-")[0])
            else:
                continue
            mine_now = owner == os.getpid() and path == self._path
            if not mine_now and (owner == os.getpid() or not _alive(owner)):
                try:
                    path.rename(target)
                except FileNotFoundError:
                    pass

    def count_events(self):
        """Events waiting on disk (for tests and monitoring)."""
        total = 0
        for path in self.directory.glob("*") if self.directory.is_dir() else []:
            if not path.is_file() or path.suffix == ".txt":  # held/ and its note are not events
                continue
            with open(path, "rb") as spooled:
                total += sum(1 for _ in spooled)
        return total

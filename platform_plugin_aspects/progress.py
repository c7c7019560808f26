"""
The one progress reporter of the long commands (``dump_data_to_clickhouse``, ``load_tracking_log``).

On a terminal it redraws one line (a bar, the rate and the time left); in logs and CI, where a
redrawn line is noise, it writes a plain line every few seconds; and always a last line.
"""

import datetime
import time


class Progress:
    """
    ``label [#####-----]  45%  4,500/10,000  3,210/s  ETA 0:00:02`` for objects; with ``scale``
    and ``unit`` the amounts are shown in that unit (e.g. bytes as ``12.3/40.0 MB``), and
    ``extra(elapsed_secs)`` adds a figure of the caller's (e.g. events per second).
    """

    def __init__(self, write, label, total, tty, every=5.0, clock=time.monotonic, unit="", scale=1, extra=None):
        self.write, self.label, self.total, self.tty, self.every, self.clock = write, label, total, tty, every, clock
        self.unit, self.scale, self.extra = unit, scale, extra
        self.done = 0
        self.started = clock()
        self.last_shown = None

    def advance(self, count):
        """``count`` more done (objects, or bytes with a ``scale``)."""
        self.update(self.done + count)

    def update(self, done):
        """Progress is ``done`` so far; shown at once on a terminal, every ``every`` seconds otherwise."""
        self.done = done
        now = self.clock()
        if self.tty:
            self.write("\r" + self.line(now), ending="")
        elif self.last_shown is None or now - self.last_shown >= self.every:
            self.write(self.line(now))
            self.last_shown = now

    def finish(self):
        """The last line (ends the redrawn bar on a terminal)."""
        line = self.line(self.clock())
        if self.tty:
            self.write("\r" + line + "\n", ending="")
        else:
            self.write(line)

    def line(self, now):
        """The progress line as of ``now``."""
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        total = max(self.total, self.done)
        share = self.done / total if total else 1.0
        bar = ("#" * int(share * 20)).ljust(20, "-")
        eta = (total - self.done) / rate if rate else 0
        extra = f"{self.extra(elapsed)}  " if self.extra else ""
        return (f"{self.label} [{bar}] {share:4.0%}  {self._amount(self.done)}/{self._amount(total)}{self.unit}  "
                f"{self._amount(rate)}{self.unit}/s  {extra}ETA {datetime.timedelta(seconds=int(eta))}")

    def _amount(self, value):
        return f"{value:,.0f}" if self.scale == 1 else f"{value / self.scale:,.1f}"


def stream_writer(stream):
    """A ``write(text, ending)`` for :class:`Progress` over a plain text stream (flushed each time)."""
    def write(text, ending="\n"):
        stream.write(text + ending)
        stream.flush()

    return write

"""
Ctrl-C on a long operator command: one line saying how to resume, exit status 130 (128 + SIGINT).

Every long command (a backfill, a log load, the delivery loop, a load test) is safe to stop at any
moment and to run again: its work is checkpointed or waits in the outbox. An operator who presses
Ctrl-C needs to read exactly that, not a Python traceback. Mix :class:`ResumableCommand` into the
command and describe, in ``resume_hint``, what was kept.
"""

import signal
import sys

EXIT_INTERRUPTED = 128 + signal.SIGINT


class ResumableCommand:
    """Mix into a BaseCommand (before it): KeyboardInterrupt becomes one line on stderr and exit 130."""

    # What the operator should know after Ctrl-C, after "interrupted; ". The command's name is
    # added: "run manage.py <name> again ...".
    resume_hint = "nothing is lost: run manage.py {name} again with the same arguments to resume"

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except KeyboardInterrupt:
            name = type(self).__module__.rsplit(".", 1)[-1]
            self.stderr.write(f"{name}: interrupted; {self.resume_hint.format(name=name)}")
            sys.exit(EXIT_INTERRUPTED)


"""The background server processes of the launchers: find them by pid file, stop them, wait for them."""

import os
import signal
import time
from pathlib import Path


def running_pid(pid_file):
    """The pid written in ``pid_file`` if that process still runs (a zombie does not), else None."""
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:  # killed, but not reaped yet by its parent (or by init, for a daemon whose parent exited)
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return None
    except (OSError, IndexError):
        pass
    return pid


def wait_gone(pid, timeout):
    """Wait until ``pid`` has exited (reaping it when it is our own child); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except OSError:
                return True
        time.sleep(0.05)
    return False


def stop_server(pid_file, timeout=15):
    """Stop the server of ``pid_file`` and its process group (TERM, then KILL); False if none ran."""
    pid = running_pid(pid_file)
    if not pid:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except OSError:
            pass
        if wait_gone(pid, timeout):
            break
    pid_file.unlink(missing_ok=True)
    return True

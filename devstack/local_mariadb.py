"""
The stand-in LMS's database: MariaDB, always. Never a silent fallback to SQLite.

``ensure`` uses the server at ``ASPECTS_DB_HOST:ASPECTS_DB_PORT`` (default 127.0.0.1:3306, root with
an empty password) when one answers there. When nothing answers, it starts a private MariaDB for
this checkout: Debian's ``mariadb-server`` (installed with apt when ``mariadbd`` is missing), data
initialised once with ``mariadb-install-db`` under ``var/mariadb``, its own socket there, listening on
that host and port. The server keeps running between runs (start ~2 s, first initialisation ~5 s);
``stop`` stops it and keeps the data.

Usage::

    python -m devstack.local_mariadb ensure              # what `make test` and `make demo` run
    ASPECTS_DB_PORT=3407 python -m devstack.local_mariadb ensure
    python -m devstack.local_mariadb status
    python -m devstack.local_mariadb stop
"""

import argparse
import fcntl
import getpass
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.ports import port_taken
from devstack.processes import running_pid, stop_server

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3306
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / "var" / "mariadb"
# Not "localhost": mysqlclient then uses the default Unix socket, i.e. some other server.
LOOPBACK = ("127.0.0.1", "::1")


def address():
    """``(host, port)`` of the LMS database, from ASPECTS_DB_HOST / ASPECTS_DB_PORT."""
    return os.environ.get("ASPECTS_DB_HOST", DEFAULT_HOST), int(os.environ.get("ASPECTS_DB_PORT", DEFAULT_PORT))


def server_binary():
    """The MariaDB server executable, or None (Debian puts it in /usr/sbin, often not on PATH)."""
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if found:
            return found
    return None


def install_server():
    """Install Debian's mariadb-server (no service is started: we run our own)."""
    print("MariaDB server missing: installing Debian's mariadb-server with apt", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # policy-rc.d 101: the package must not start (or restart) the system's MariaDB service.
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "mariadb-server"],
                       check=True, env=env)
    finally:
        if created:
            policy.unlink()


class LocalMariaDB:
    """A private MariaDB server whose data, socket, pid and log live in ``data_dir``."""

    def __init__(self, data_dir=DEFAULT_DATA_DIR, host=DEFAULT_HOST, port=DEFAULT_PORT):
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = int(port)

    @property
    def socket(self):
        return self.data_dir / "mysqld.sock"

    @property
    def pid_file(self):
        return self.data_dir / "mysqld.pid"

    @property
    def log_file(self):
        return self.data_dir / "server.log"

    @property
    def db_dir(self):
        return self.data_dir / "data"

    def pid(self):
        """PID of this directory's running server, or None."""
        return running_pid(self.pid_file)

    def _user_args(self):
        # mariadbd refuses to run as root unless told to; files stay owned by whoever runs make.
        return ["--user=" + getpass.getuser()]

    def initialise(self):
        """
        Create the system tables once (root@localhost and root@127.0.0.1, empty password).

        Into a scratch directory renamed when complete, so an interrupted initialisation is redone
        instead of leaving a data directory the server cannot start from.
        """
        if self.db_dir.is_dir():
            return
        install_db = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if not install_db:
            raise RuntimeError("mariadb-install-db is missing (Debian package mariadb-server)")
        scratch = self.data_dir / "data.initialising"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        with open(self.log_file, "ab") as log:
            subprocess.run(
                [install_db, "--no-defaults", f"--datadir={scratch}", "--auth-root-authentication-method=normal",
                 "--skip-test-db", *self._user_args()],
                check=True, stdout=log, stderr=subprocess.STDOUT,
            )
        scratch.rename(self.db_dir)

    def start(self, timeout=60):
        """Start the server on ``host:port`` (and its socket); returns when it accepts connections."""
        if self.pid():
            raise RuntimeError(f"the private MariaDB of {self.data_dir} already runs (pid {self.pid()}) on another "
                               "port: `python -m devstack.local_mariadb stop` it first, or use its port")
        binary = server_binary()
        if binary is None:
            install_server()
            binary = server_binary()
        self.initialise()
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                [binary, "--no-defaults", f"--datadir={self.db_dir}", f"--socket={self.socket}",
                 f"--pid-file={self.pid_file}", f"--port={self.port}", f"--bind-address={self.host}",
                 "--skip-name-resolve", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
                 "--innodb-buffer-pool-size=64M", "--max-connections=200", *self._user_args()],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_taken(self.host, self.port) and self.socket.exists():
                self.pid_file.write_text(str(process.pid))
                return process.pid
            if process.poll() is not None:
                break
            time.sleep(0.1)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        tail = self.log_file.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"MariaDB did not start on {self.host}:{self.port}; log tail ({self.log_file}):\n{tail}")

    def stop(self, timeout=30):
        """Stop this directory's server (TERM, then KILL after ``timeout``); its data stays."""
        return stop_server(self.pid_file, timeout)


def ensure(data_dir=DEFAULT_DATA_DIR):
    """Make sure a MariaDB answers where the settings point; start the private one when none does."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(data_dir) / ".lock", "w") as lock:  # two `make` at once: one starts it, the other uses it
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure(data_dir)


def _ensure(data_dir):
    host, port = address()
    if port_taken(host, port):
        print(f"MariaDB/MySQL: using the server on {host}:{port}", flush=True)
        return None
    if host not in LOOPBACK:
        raise RuntimeError(f"nothing answers on {host}:{port}, and a private MariaDB only starts on "
                           "127.0.0.1 or ::1 (not localhost: mysqlclient takes that for the default socket): "
                           "set ASPECTS_DB_HOST=127.0.0.1, or start that server")
    server = LocalMariaDB(data_dir, host, port)
    print(f"MariaDB/MySQL: nothing answers on {host}:{port}; starting a private MariaDB there "
          f"(data and socket in {server.data_dir})", flush=True)
    pid = server.start()
    print(f"MariaDB/MySQL: private server pid {pid} on {host}:{port} "
          "(`python -m devstack.local_mariadb stop` stops it)", flush=True)
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Use the MariaDB on ASPECTS_DB_HOST:ASPECTS_DB_PORT (default 127.0.0.1:3306), or start a "
                    "private one under var/mariadb when nothing answers there.")
    parser.add_argument("action", choices=["ensure", "status", "stop"])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    args = parser.parse_args(argv)
    host, port = address()
    server = LocalMariaDB(args.data_dir, host, port)
    try:
        if args.action == "ensure":
            ensure(args.data_dir)
        elif args.action == "stop":
            print("stopped" if server.stop() else "no private MariaDB running")
        else:
            pid = server.pid()
            print(f"private MariaDB pid {pid}" if pid else "no private MariaDB running",
                  f"; {host}:{port} {'answers' if port_taken(host, port) else 'does not answer'}")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

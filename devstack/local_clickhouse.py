"""
A real ClickHouse server for development, tests, the demo and CI — no Docker, no mock.

``chdb-core`` embeds the whole ClickHouse engine. Its one-shot entry point runs clickhouse-local,
which reads ``./config.xml`` from the current directory and can open the HTTP and native
listeners with ``SYSTEM START LISTEN QUERIES ALL``. The listeners live as long as the statement
that opened them, so the server process runs that statement followed by a practically endless
``sleepEachRow`` query. Data lives in ``<data-dir>/store`` and survives restarts and ``kill -9``.

Usage::

    python -m devstack.local_clickhouse start --data-dir var/clickhouse --port 18123
    python -m devstack.local_clickhouse status --data-dir var/clickhouse
    python -m devstack.local_clickhouse stop --data-dir var/clickhouse

Users come from ``users.xml`` (SQL ``CREATE USER`` does not work in clickhouse-local): ``default``
with no password and ``ch_cms`` with password ``password`` (the upstream defaults), and
``ch_report`` / ``report``, read-only (``readonly = 2``: settings may change, nothing is written),
the user Superset reads with, and ``ch_locked`` / ``locked``, who may not change
``optimize_on_insert`` (as some managed services lock settings; the tests write events as them).

chdb-core is pinned to 26.9.0 because this relies on a private API.
"""

import argparse
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from devstack.ports import free_port, port_taken
from devstack.processes import running_pid, stop_server

CONFIG_XML = """<clickhouse>
    <listen_host>{host}</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <users_config>users.xml</users_config>
    <logger><level>warning</level><console>1</console></logger>
</clickhouse>
"""

# (user, password, profile): see the module's docstring for what each is for.
USERS = (
    ("default", "", "default"),
    ("ch_cms", "password", "default"),
    ("ch_report", "report", "readonly"),
    ("ch_locked", "locked", "settings_locked"),
)

USERS_XML = """<clickhouse>
    <profiles>
        <default/>
        <readonly><readonly>2</readonly></readonly>
        <settings_locked><constraints><optimize_on_insert><const/></optimize_on_insert></constraints></settings_locked>
    </profiles>
    <quotas><default/></quotas>
    <users>
""" + "".join(f"""        <{user}>
            <password>{password}</password>
            <networks><ip>::/0</ip></networks>
            <profile>{profile}</profile>
            <quota>default</quota>
        </{user}>
""" for user, password, profile in USERS) + """    </users>
</clickhouse>
"""

# Keep the listeners open: one row per second for ~30 years.
SERVE_SQL = (
    "SYSTEM START LISTEN QUERIES ALL; "
    "SELECT sleepEachRow(1) FROM numbers(1000000000) "
    "SETTINGS max_block_size = 1, function_sleep_max_microseconds_per_block = 0, max_execution_time = 0"
)


# The directory holding the devstack package, so the server process finds it from its data directory.
PROJECT_PARENT = str(Path(__file__).resolve().parents[1])


class LocalClickHouse:
    """Start, stop and locate the local server of one data directory."""

    def __init__(self, data_dir, host="127.0.0.1"):
        self.data_dir = Path(data_dir).resolve()
        self.host = host

    @property
    def pid_file(self):
        return self.data_dir / "server.pid"

    @property
    def port_file(self):
        return self.data_dir / "http_port"

    @property
    def log_file(self):
        return self.data_dir / "server.log"

    @property
    def http_port(self):
        return int(self.port_file.read_text()) if self.port_file.exists() else None

    @property
    def url(self):
        return f"http://{self.host}:{self.http_port}"

    def pid(self):
        """PID of the running server, or None."""
        return running_pid(self.pid_file)

    def is_ready(self):
        if not self.http_port:
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self, port=None, timeout=60):
        """Start the server (no-op when it already runs); returns its HTTP URL when it answers."""
        if self.pid() and self.is_ready():
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = int(port) if port else (self.http_port or free_port(self.host))
        if port_taken(self.host, port):
            raise RuntimeError(f"port {port} on {self.host} is used by another process (another data "
                               f"directory's server?); stop it or choose another --port")
        (self.data_dir / "config.xml").write_text(
            CONFIG_XML.format(host=self.host, http_port=port, tcp_port=free_port(self.host))
        )
        (self.data_dir / "users.xml").write_text(USERS_XML)
        self.port_file.write_text(str(port))
        with open(self.log_file, "wb") as log:
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, "-m", "devstack.local_clickhouse", "serve",
                 "--data-dir", str(self.data_dir)],
                cwd=self.data_dir,
                env={**os.environ,
                     "PYTHONPATH": os.pathsep.join(filter(None, [PROJECT_PARENT, os.environ.get("PYTHONPATH")]))},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_ready():
                return self.url
            if process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
        raise RuntimeError(f"local ClickHouse did not start on port {port}; log tail:\n{tail}")

    def stop(self, timeout=15):
        """Stop the server (TERM, then KILL); the data stays in the data directory."""
        return stop_server(self.pid_file, timeout)


def serve(data_dir):
    """Run in the server process: open the listeners and keep them open."""
    import chdb._chdb as chdb_engine  # pylint: disable=import-outside-toplevel

    os.chdir(data_dir)
    chdb_engine.query(SERVE_SQL, "TabSeparated", path=str(Path(data_dir) / "store"))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run a real local ClickHouse server (chdb-core) for dev and tests.")
    parser.add_argument("action", choices=["start", "stop", "status", "serve", "url"])
    parser.add_argument("--data-dir", default="var/clickhouse", help="where data, config and logs live")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: previous one, else a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    server = LocalClickHouse(args.data_dir, host=args.host)
    if args.action == "serve":
        serve(server.data_dir)
    elif args.action == "start":
        try:
            print(server.start(port=args.port))
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    elif args.action == "stop":
        print("stopped" if server.stop() else "not running")
    elif args.action == "url":
        print(server.url)
    else:
        running = server.pid() and server.is_ready()
        print(f"running at {server.url}" if running else "not running")
        return 0 if running else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

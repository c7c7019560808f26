"""
The suite runs on the real database or not at all: MariaDB/MySQL where ASPECTS_DB_HOST/PORT point
(started privately by ``make`` when nothing answers there), SQLite only when asked for and then
said first and last, and a run fails (never skips) when the database is not MariaDB/MySQL.
"""

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import MySQLdb
from django.db import connection

from devstack.local_mariadb import LocalMariaDB
from devstack.ports import free_port, port_taken

ROOT = Path(__file__).resolve().parent.parent


def run_pytest(tmp_path, **env):
    """Collect one small test module in a new pytest process with ``env``: (exit code, output lines)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider", "tests/test_command_help.py"],
        cwd=ROOT, env={**os.environ, "ASPECTS_DB_NAME": "aspects_hardening_infra_probe", **env},
        capture_output=True, text=True, timeout=120, check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip().splitlines()


def test_this_run_uses_mariadb(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        version = cursor.fetchone()[0]
    assert connection.vendor == "mysql", connection.vendor
    assert version[0].isdigit()


def test_nothing_answering_fails_the_run_instead_of_falling_back(tmp_path):
    code, lines = run_pytest(tmp_path, ASPECTS_DB_PORT=str(free_port()))

    assert code != 0, lines
    assert any("the tests need the real database: no MariaDB/MySQL answers" in line for line in lines), lines


def test_a_server_that_is_not_mariadb_fails_the_run(tmp_path, clickhouse_server):
    """ClickHouse's HTTP port answers TCP, but it is not a MySQL server."""
    port = urlparse(clickhouse_server).port

    code, lines = run_pytest(tmp_path, ASPECTS_DB_PORT=str(port))

    assert code != 0, lines
    assert any("the tests need the real database" in line for line in lines), lines


def test_sqlite_only_when_asked_and_the_run_says_so_first_and_last(tmp_path):
    code, lines = run_pytest(tmp_path, ASPECTS_DB="sqlite")

    assert code == 0, lines
    header = [line for line in lines[:8] if "DATABASE: SQLite" in line]
    assert header and "NOT the real database" in header[0], lines[:8]
    assert "DATABASE: SQLite" in "\n".join(lines[-3:]), lines[-3:]


def ensure(data_dir, port):
    """`make db` as a process: (exit code, output)."""
    done = subprocess.run([sys.executable, "-m", "devstack.local_mariadb", "ensure", "--data-dir", str(data_dir)],
                          cwd=ROOT, env={**os.environ, "ASPECTS_DB_PORT": str(port)}, capture_output=True, text=True,
                          timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


def query(port, sql):
    db = MySQLdb.connect(host="127.0.0.1", port=port, user="root", password="", autocommit=True)
    try:
        with db.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()
    finally:
        db.close()


def test_the_private_mariadb_starts_where_nothing_answers(tmp_path):
    """What `make test` does on a machine with no database: a private MariaDB on the free port."""
    port = free_port()
    server = LocalMariaDB(tmp_path / "mariadb", "127.0.0.1", port)
    try:
        # Two `make test` at once: one starts the server, the other waits and uses it.
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda _: ensure(server.data_dir, port), range(2)))
        assert [code for code, _ in runs] == [0, 0], runs
        outputs = sorted(output for _, output in runs)
        assert f"nothing answers on 127.0.0.1:{port}; starting a private MariaDB" in outputs[0]
        assert f"using the server on 127.0.0.1:{port}" in outputs[1]
        [(version, datadir)] = query(port, "SELECT VERSION(), @@datadir")
        assert "MariaDB" in version
        assert Path(datadir).resolve() == (server.data_dir / "data").resolve()

        # Killed hard: the next `make` starts it again, and the data is still there.
        query(port, "CREATE DATABASE kept")
        query(port, "CREATE TABLE kept.t (id INT PRIMARY KEY) ENGINE=InnoDB")
        query(port, "INSERT INTO kept.t VALUES (1), (2)")
        os.kill(server.pid(), signal.SIGKILL)
        code, output = ensure(server.data_dir, port)
        assert code == 0 and "starting a private MariaDB" in output, output
        assert query(port, "SELECT id FROM kept.t ORDER BY id") == ((1,), (2,))
    finally:
        server.stop()
    assert not port_taken("127.0.0.1", port)

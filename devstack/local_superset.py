"""
A real Superset 6.1 on loopback, for the integration tests, the benchmark and local demos.

Superset runs from its own venv (``make superset-venv`` → ``var/superset-venv``) because its
dependencies must not mix with the plugin's. Metadata lives in SQLite under ``home``; the slow
initialisation (``db upgrade``, ``fab create-admin``, ``init``: ~30 s) runs once and is remembered
by a stamp file, so later starts only pay for the web server (~6 s).

    python -m devstack.local_superset start [--home var/superset] [--port 0]
"""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from devstack.ports import free_port

DEFAULT_VENV = Path("var/superset-venv")
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"
# The guest role the tokens act as: the plugin's ASPECTS_SUPERSET_GUEST_ROLE, which
# `aspects_superset_sync` creates with exactly the permissions embedded dashboards need.
GUEST_ROLE_NAME = "Aspects Guest"
GUEST_TOKEN_AUDIENCE = "aspects"

_CONFIG_TEMPLATE = '''\
# Written by devstack.local_superset: a local, loopback-only Superset.
import os

SECRET_KEY = {secret!r}
SQLALCHEMY_DATABASE_URI = "sqlite:///{db}"
FEATURE_FLAGS = {{"EMBEDDED_SUPERSET": True}}
GUEST_ROLE_NAME = {guest_role!r}
GUEST_TOKEN_JWT_SECRET = {guest_secret!r}
GUEST_TOKEN_JWT_ALGO = "HS256"
GUEST_TOKEN_HEADER_NAME = "X-GuestToken"
GUEST_TOKEN_JWT_EXP_SECONDS = int(os.environ.get("ASPECTS_GUEST_TOKEN_SECONDS", "300"))
GUEST_TOKEN_JWT_AUDIENCE = {audience!r}
WTF_CSRF_ENABLED = True
# Loopback only. In production keep Talisman and set its CSP frame-ancestors to the LMS origin.
TALISMAN_ENABLED = False
RATELIMIT_ENABLED = False
'''


class LocalSuperset:
    """One Superset web server process with its SQLite metadata in ``home``."""

    def __init__(self, home, venv=DEFAULT_VENV, guest_token_seconds=300, extra_config=""):
        """
        ``guest_token_seconds``: guest-token lifetime (tests shorten it to see the page refresh);
        ``extra_config``: Python appended to superset_config.py when it is first written (a cache...).
        """
        self.extra_config = extra_config
        self.home = Path(home).resolve()
        self.guest_token_seconds = guest_token_seconds
        self.venv = Path(venv).resolve()
        self.process = None
        self.url = None

    @property
    def _env(self):
        env = dict(os.environ)
        env.update(
            SUPERSET_CONFIG_PATH=str(self.home / "superset_config.py"),
            SUPERSET_HOME=str(self.home),
            FLASK_APP="superset.app:create_app()",
            PYTHONUNBUFFERED="1",
            ASPECTS_GUEST_TOKEN_SECONDS=str(self.guest_token_seconds),
        )
        return env

    def _superset(self, *args):
        executable = self.venv / "bin" / "superset"
        if not executable.exists():
            raise RuntimeError(f"{executable} is missing: run `make superset-venv` first")
        with open(self.home / "init.log", "ab") as log:
            subprocess.run([str(executable), *args], env=self._env, stdout=log, stderr=subprocess.STDOUT, check=True)

    def initialise(self):
        """Write the config and build the metadata DB once (kept between runs)."""
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "superset_config.py"
        if config.exists() and f"GUEST_ROLE_NAME = {GUEST_ROLE_NAME!r}" not in config.read_text():
            with open(config, "a", encoding="utf-8") as handle:  # a home made before the role was renamed
                handle.write(f"GUEST_ROLE_NAME = {GUEST_ROLE_NAME!r}\n")
        if not config.exists():
            config.write_text(
                _CONFIG_TEMPLATE.format(
                    secret=secrets.token_urlsafe(32),
                    guest_secret=secrets.token_urlsafe(32),
                    db=self.home / "superset.db",
                    guest_role=GUEST_ROLE_NAME,
                    audience=GUEST_TOKEN_AUDIENCE,
                ) + self.extra_config
            )
        stamp = self.home / ".initialised"
        if stamp.exists():
            return
        self._superset("db", "upgrade")
        self._superset(
            "fab", "create-admin", "--username", ADMIN_USERNAME, "--password", ADMIN_PASSWORD,
            "--firstname", "Aspects", "--lastname", "Admin", "--email", "admin@example.invalid",
        )
        self._superset("init")
        stamp.touch()

    def start(self, port=0, timeout=120):
        """Start the web server on 127.0.0.1 and wait until ``/health`` answers."""
        self.initialise()
        port = port or free_port()
        log = open(self.home / "server.log", "ab")  # pylint: disable=consider-using-with
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [str(self.venv / "bin" / "superset"), "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
            env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{port}/"
        (self.home / "server.pid").write_text(str(self.process.pid))
        (self.home / "url").write_text(self.url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Superset exited with {self.process.returncode}; see {self.home / 'server.log'}")
            try:
                if requests.get(self.url + "health", timeout=2).status_code == 200:
                    return self.url
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Superset did not answer /health within {timeout}s; see {self.home / 'server.log'}")

    def stop(self):
        """Stop the server this object started (its whole process group)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


def main(argv=None):
    """Start a local Superset in the foreground (Ctrl-C stops it)."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("command", choices=["start"])
    parser.add_argument("--home", default="var/superset")
    parser.add_argument("--venv", default=str(DEFAULT_VENV))
    parser.add_argument("--port", type=int, default=8088)
    args = parser.parse_args(argv)
    server = LocalSuperset(args.home, args.venv)
    url = server.start(args.port)
    print(f"Superset at {url} (user {ADMIN_USERNAME!r} / password {ADMIN_PASSWORD!r}); Ctrl-C stops it", flush=True)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

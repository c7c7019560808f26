"""
The Superset REST client: one login per process, reused until it expires.

Upstream built a new client (a login plus a CSRF round trip) for every guest token. This client
logs in once, keeps the access token and the CSRF token + session cookie that Superset's CSRF
protection ties together, and logs in again only when the access token is about to expire or
Superset answers 401 (or 400 for a stale CSRF session). It is safe to share between threads: the
login state is an immutable snapshot swapped under a lock, and each thread sends through its own
``requests.Session`` (connection pooling without sharing a cookie jar across threads).

Errors never carry the password or any token: logs and exception messages name the URL path,
the HTTP status and Superset's short error message only.
"""

import base64
import json
import logging
import os
import threading
import time
from collections import namedtuple
from urllib.parse import urljoin

import requests

log = logging.getLogger(__name__)

# Log in again this long before the access token's "exp", so a request never races its expiry.
EXPIRY_MARGIN_SECS = 30
# When the access token's expiry cannot be read, assume Superset's default lifetime (15 min) minus margin.
FALLBACK_LIFETIME_SECS = 600

_Login = namedtuple("_Login", "access_token csrf_token cookies expires_at")


class SupersetError(Exception):
    """Superset answered, but not with what we asked for (bad credentials, bad request, 5xx)."""

    status_code = 502


class SupersetUnavailable(SupersetError):
    """Superset could not be reached (connection refused, DNS, timeout)."""

    status_code = 503


def jwt_claims(token):
    """The (unverified) claims of a JWT: only for reading "exp"; Superset verifies its own tokens."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, AttributeError):
        return {}


def _short_reason(response):
    """Superset's own short error message, for logs; never the request body we sent."""
    try:
        body = response.json()
        reason = body.get("message") or body.get("msg") or body.get("errors") or ""
    except ValueError:
        reason = response.text
    return str(reason)[:200]


class SupersetClient:
    """A logged-in service account on one Superset; share one instance per process."""

    def __init__(self, url, username, password, timeout=5.0):
        """``url`` is the Superset root the LMS can reach (SUPERSET_CONFIG internal_service_url)."""
        self.url = url.rstrip("/") + "/"
        self.username = username
        self._password = password
        self.timeout = timeout
        self._lock = threading.Lock()
        self._login = None
        self._local = threading.local()
        self.logins = 0  # how many times this client logged in (observability, tests, benchmark)

    def __repr__(self):
        return f"<SupersetClient {self.url} user={self.username!r}>"

    # -- transport ---------------------------------------------------------------------------
    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, method, path, **kwargs):
        url = urljoin(self.url, path)
        try:
            return self._session().request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            log.error("Superset %s %s unreachable: %s", method, path, type(exc).__name__)
            raise SupersetUnavailable(f"Superset at {self.url} could not be reached ({type(exc).__name__})") from None

    def _json_field(self, method, path, response, field):
        """``response.json()[field]``, or a SupersetError when Superset answered something else."""
        try:
            return response.json()[field]
        except (ValueError, KeyError, TypeError):
            log.error("Superset %s %s answered %s without %r", method, path, response.status_code, field)
            raise SupersetError(f"Superset gave an unexpected answer to {method} {path}") from None

    def _fail(self, method, path, response):
        reason = _short_reason(response)
        log.error("Superset %s %s answered %s: %s", method, path, response.status_code, reason)
        return SupersetError(f"Superset answered {response.status_code} to {method} {path}")

    # -- login -------------------------------------------------------------------------------
    def _log_in(self):
        path = "api/v1/security/login"
        response = self._send(
            "POST", path,
            json={"username": self.username, "password": self._password, "provider": "db", "refresh": True},
        )
        if response.status_code != 200:
            raise self._fail("POST", path, response)
        access_token = self._json_field("POST", path, response, "access_token")
        path = "api/v1/security/csrf_token/"
        response = self._send("GET", path, headers={"Authorization": f"Bearer {access_token}"})
        if response.status_code != 200:
            raise self._fail("GET", path, response)
        exp = jwt_claims(access_token).get("exp")
        expires_at = (exp - time.time() if exp else FALLBACK_LIFETIME_SECS) - EXPIRY_MARGIN_SECS + time.monotonic()
        self.logins += 1
        csrf_token = self._json_field("GET", path, response, "result")
        return _Login(access_token, csrf_token, response.cookies.get_dict(), expires_at)

    def _current_login(self, stale=None):
        """The valid login, logging in (once, for all threads) when there is none or it is ``stale``."""
        with self._lock:
            login = self._login
            if login is None or login is stale or time.monotonic() >= login.expires_at:
                login = self._login = self._log_in()
            return login

    def forget_login(self):
        """Drop the cached login (the next request logs in again)."""
        with self._lock:
            self._login = None

    def request(self, method, path, **kwargs):
        """
        An authenticated API call (Bearer + CSRF header + session cookie); returns the response.

        Retries once with a fresh login on 401, or on 400 when the CSRF session went stale.
        """
        login = self._current_login()
        for attempt in (1, 2):
            response = self._send(
                method, path,
                headers={"Authorization": f"Bearer {login.access_token}", "X-CSRFToken": login.csrf_token,
                         "Referer": self.url},
                cookies=login.cookies, **kwargs,
            )
            stale = response.status_code == 401 or (
                response.status_code == 400 and "csrf" in response.text.lower()
            )
            if not stale or attempt == 2:
                return response
            login = self._current_login(stale=login)
        return response  # pragma: no cover

    def guest_token(self, user, resources, rls):
        """
        A guest token for ``resources`` (``[{"type": "dashboard", "id": uuid}]``) with RLS ``rls``.

        ``user`` is ``{"username", "first_name", "last_name"}``, shown in Superset's logs.
        """
        path = "api/v1/security/guest_token/"
        response = self.request("POST", path, json={"user": user, "resources": resources, "rls": rls})
        if response.status_code != 200:
            raise self._fail("POST", path, response)
        return self._json_field("POST", path, response, "token")


_clients = {}
_clients_lock = threading.Lock()


def get_client(config):
    """
    The process-wide client for ``config`` (a SUPERSET_CONFIG dict).

    Keyed by the connection settings, so changing them (or forking a worker) yields a new client.
    """
    url = config.get("internal_service_url") or config["service_url"]
    key = (os.getpid(), url, config.get("username"), config.get("password"), float(config.get("timeout_secs", 5)))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = SupersetClient(url, config.get("username"), config.get("password"), key[-1])
        return client

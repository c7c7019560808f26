"""
De-identified tracking rows: what ``event_row`` stores when ``ASPECTS_ENABLE_PII`` is off.

The rule (docs/concepts/privacy.rst lists every field and the events that carry it):

* columns: no ``username``; ``ip`` empty, or its network when ``ASPECTS_TRACKING_IP_NETWORK_BITS``
  asks for one; ``session`` a keyed hash (sessions can be counted, not linked back to the
  platform's session); ``agent`` reduced to browser family and OS ("Chrome on Linux");
* ``context`` and ``event`` JSON (also JSON carried *as a string*, as browser and implicit server
  events do): keys that name a person are removed at any depth (:data:`PERSONAL_KEYS`, plus
  per-event rules such as the form fields of implicit request events and the old/new values of
  ``edx.user.settings.changed``); e-mail addresses, profile URLs (``/u/<username>``...) and the
  event's own username, IP and session id are replaced wherever they still appear as text.
* the numeric ``user_id`` stays: it is what joins events with enrollments and grades.

The event id is computed from the original event before any of this, so a live copy and a copy
loaded from ``tracking.log`` still fold into one row. The common event holds none of it: a look at
its parsed keys and a few substring checks on its texts tell so (≈5 µs), and only events that hold
personal data are rewritten.
"""

import hashlib
import hmac
import ipaddress
import json
import re

import orjson
from django.conf import settings
from django.core.signals import setting_changed

# Keys removed at any depth of ``context`` and ``event`` (dict keys; as written here or in their
# Capitalised, Title_Case and UPPER spellings, see :func:`spellings`).
PERSONAL_KEYS = frozenset((
    # who: names and contact
    "username", "user_name", "email", "email_address", "secondary_email", "full_name", "fullname",
    "first_name", "last_name", "name_on_certificate", "phone_number", "mailing_address",
    # the platform's events that name a *target* person (forums, instructor dashboard, ORA staff tools)
    "target_username", "author_username", "old_username", "new_username", "student", "instructor",
    "unique_student_identifier", "identifiers", "student_username", "learner_username",
    # where / which device / which session
    "ip", "ip_address", "client_ip", "remote_addr", "agent", "user_agent", "userAgent", "session",
    "session_id", "session_key", "traits", "advertisingId",
    # learner-chosen file names of ORA uploads often carry their name
    "fileName", "file_name", "files_names", "files_name",
    "password",
))


def spellings(keys):
    """``keys`` as written, lower, Capitalised, Title_Case and UPPER: a set lookup stays one lookup."""
    return frozenset(v for k in keys for v in (k, k.lower(), k.capitalize(), k.title(), k.upper()))


# Extra keys for some events, by event-name prefix: "name" is personal only there (elsewhere it is
# a rubric criterion, a tab, a tool...).
EVENT_KEYS = (
    ("/", frozenset(("name", "city", "country", "year_of_birth", "gender", "level_of_education",
                     "goals", "bio", "location"))),  # implicit request events: the GET/POST form fields
    ("edx.certificate.", frozenset(("name",))),
    ("edx.user.settings.", frozenset(("old", "new"))),  # unless the setting is in SAFE_SETTINGS
)
# edx.user.settings.changed keeps old/new for these settings (not personal on their own).
SAFE_SETTINGS = frozenset(("language", "pref-lang", "time_zone", "dark-lang", "account_privacy",
                           "level_of_education", "gender", "country"))

_OLD_NEW = spellings(("old", "new"))
_USER_URL = re.compile(r'(/u/|/accounts/|/preferences/|[?&](?:username|email|user|student)=)([^/?&#"\s\\]+)')
_EMAIL_DOMAIN = re.compile(r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")  # starts with "@": fast
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_BOUNDARY = re.compile(r"[\w-]")


def _dumps(value):
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):  # what only Python's json writes (lone surrogates...)
        return json.dumps(value, ensure_ascii=False)


def _loads(text):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN, Infinity, lone surrogates
        return json.loads(text)


def _parsed(value):
    """``value``, or what it holds when it is a string of JSON (None when that does not parse)."""
    if value.__class__ is str and value[:1] in "{[":
        try:
            return _loads(value)
        except ValueError:
            return None
    return value


def _replace_token(text, token, marker):
    """``token`` replaced where it stands alone (not inside a longer word): 'ada' but not 'adam'."""
    out, start = [], 0
    while (found := text.find(token, start)) >= 0:
        end = found + len(token)
        if (found and _BOUNDARY.match(text[found - 1])) or (end < len(text) and _BOUNDARY.match(text[end])):
            out.append(text[start:end])
        else:
            out.append(text[start:found] + marker)
        start = end
    return "".join(out) + text[start:] if out else text


def agent_family(agent):
    """'Chrome on Linux', 'edX app on Android', 'bot'...: what a dashboard needs, not a fingerprint."""
    if not agent:
        return ""
    lower = agent.lower()
    if "bot" in lower or "crawler" in lower or "spider" in lower:
        return "bot"
    if "edx/org.edx.mobile" in lower or "edxapp" in lower or "okhttp" in lower:
        browser = "edX app"
    else:
        browser = next((name for token, name in (("edg/", "Edge"), ("opr/", "Opera"), ("firefox/", "Firefox"),
                                                 ("chrome/", "Chrome"), ("chromium/", "Chrome"),
                                                 ("safari/", "Safari")) if token in lower), "other")
    system = next((name for token, name in (("android", "Android"), ("iphone", "iOS"), ("ipad", "iOS"),
                                            ("ios", "iOS"), ("windows", "Windows"), ("cros", "ChromeOS"),
                                            ("mac os", "macOS"), ("macintosh", "macOS"), ("linux", "Linux"))
                   if token in lower), "other")
    return f"{browser} on {system}"


class Deidentifier:  # pylint: disable=too-many-instance-attributes
    """The PII-off rules with their settings resolved once (see :func:`current`)."""

    CACHE_LIMIT = 100_000

    def __init__(self, session_key, ip_bits=None, extra_keys=()):
        self.session_key = session_key
        self.ip_bits = ip_bits or {}
        self.keys = spellings(PERSONAL_KEYS | frozenset(extra_keys))
        self.event_keys = tuple((prefix, self.keys | spellings(extra)) for prefix, extra in EVENT_KEYS)
        self._sessions, self._ips, self._agents = {}, {}, {}

    # -- columns ----------------------------------------------------------------------------
    def session(self, value):
        """HMAC-SHA256 of the session id with the key, 32 hex digits ('' stays '')."""
        if not value:
            return ""
        hashed = self._sessions.get(value)
        if hashed is None:
            if len(self._sessions) >= self.CACHE_LIMIT:
                self._sessions.clear()
            hashed = self._sessions[value] = hmac.new(self.session_key, value.encode("utf-8", "surrogatepass"),
                                                      hashlib.sha256).hexdigest()[:32]
        return hashed

    def ip(self, value):
        """'' (the default), or the address's network ('10.0.3.0/24') when a prefix length is set."""
        if not value or not self.ip_bits:
            return ""
        network = self._ips.get(value)
        if network is None:
            try:
                address = ipaddress.ip_address(value.split(",")[0].strip())
                bits = self.ip_bits.get(f"ipv{address.version}")
                network = str(ipaddress.ip_network(f"{address}/{bits}", strict=False)) if bits is not None else ""
            except ValueError:
                network = ""
            if len(self._ips) >= self.CACHE_LIMIT:
                self._ips.clear()
            self._ips[value] = network
        return network

    def agent(self, value):
        family = self._agents.get(value)
        if family is None:
            if len(self._agents) >= self.CACHE_LIMIT:
                self._agents.clear()
            family = self._agents[value] = agent_family(value)
        return family

    # -- JSON and text ------------------------------------------------------------------------
    def keys_for(self, name):
        for prefix, keys in self.event_keys:
            if name.startswith(prefix):
                return keys
        return self.keys

    def json_text(self, value, text, keys, own, settings_event=False):
        """
        ``text`` (the JSON of ``value``, or a plain string) without personal keys, e-mails, profile
        URLs and ``own`` values. ``value`` is the parsed object when there is one: checking its keys
        costs far less than scanning the text, and a clean value is not re-serialised.
        """
        if not text:
            return text
        if self.dirty(value, keys):
            text = _dumps(self.scrub(_parsed(value), keys, settings_event))
        text = self.plain_text(text)
        for token, marker in own:
            if token in text:
                text = _replace_token(text, token, marker)
        return text

    def dirty(self, value, keys):
        """Whether ``value`` (parsed, or a string that may be JSON) holds one of ``keys``."""
        value = _parsed(value)
        return value.__class__ in (dict, list) and self.needs(value, keys)

    def needs(self, value, keys):
        """Whether ``value`` holds one of ``keys`` at any depth (also inside JSON strings)."""
        if value.__class__ is dict:
            if not keys.isdisjoint(value):
                return True
            value = value.values()
        for item in value:
            kind = item.__class__
            if (kind is dict or kind is list) and self.needs(item, keys):
                return True
            if kind is str and item[:1] in "{[" and '"' in item:
                try:
                    inner = _loads(item)
                except ValueError:
                    continue
                if inner.__class__ in (dict, list) and self.needs(inner, keys):
                    return True
        return False

    @staticmethod
    def plain_text(text):
        """E-mail addresses and usernames in profile/account URLs removed from free text or a URL."""
        ats = text.count("@")  # usage keys have two ("+type@", "+block@"): count them out before a regex scan
        if ats and ats > text.count("+type@") + text.count("+block@") and _EMAIL_DOMAIN.search(text):
            text = _EMAIL.sub("[email]", text)
        if ("/u/" in text or "/accounts/" in text or "/preferences/" in text or "=" in text) and _USER_URL.search(text):
            text = _USER_URL.sub(r"\1[user]", text)
        return text

    def scrub(self, value, keys, settings_event=False):
        """A copy of ``value`` without the ``keys`` (any depth); JSON strings inside are scrubbed too."""
        if isinstance(value, dict):
            if settings_event and value.get("setting") in SAFE_SETTINGS:
                keys = keys - _OLD_NEW
            return {k: self.scrub(v, keys) for k, v in value.items() if k not in keys}
        if isinstance(value, list):
            return [self.scrub(v, keys) for v in value]
        if isinstance(value, str) and value[:1] in "{[" and '"' in value:
            try:
                inner = _loads(value)
            except ValueError:
                return value
            return _dumps(self.scrub(inner, keys)) if inner.__class__ in (dict, list) else value
        return value

    def row(self, row, context, payload):
        """
        De-identify a ``tracking_events`` row in place (``EVENT_COLUMNS`` order). The event's own
        username, IP and session id (read from the row first) are removed wherever they still appear.

        The common event holds none of it: one look at the JSON's keys and one at the joined texts
        tell so, and its texts are kept as they are.
        """
        username, session, ip = row[6], row[10], row[14]
        row[6] = ""
        row[10] = self.session(session)
        row[13] = self.agent(row[13])
        row[14] = self.ip(ip)
        joined = "\0".join((row[2], row[3], row[11], row[12], row[16], row[17]))
        own = tuple((token, marker) for token, marker in ((username, "[user]"), (ip, "[ip]"), (session, "[session]"))
                    if len(token) > 1 and token in joined)
        name = row[3] or row[2]
        keys = self.keys_for(name)
        if (not own and self.plain_text(joined) is joined and not self.dirty(context, self.keys)
                and not self.dirty(payload, keys)):
            return row
        row[16] = self.json_text(context, row[16], self.keys, own)
        row[17] = self.json_text(payload, row[17], keys, own, name.startswith("edx.user.settings."))
        for index in (2, 3, 11, 12):  # name, event_type (a path for implicit events), page, referer
            row[index] = self.json_text(None, row[index], keys, own)
        return row

    def text(self, text):
        """A reject's raw text: scrubbed as an event when it parses, as plain text when not."""
        try:
            event = _loads(text)
        except ValueError:
            event = None
        if isinstance(event, dict):
            name = str(event.get("event_type") or event.get("name") or "")
            own = tuple((str(event.get(k) or ""), m) for k, m in (("username", "[user]"), ("ip", "[ip]"),
                                                                    ("session", "[session]")))
            scrubbed = self.scrub(event, self.keys_for(name), name.startswith("edx.user.settings."))
            return self.json_text(None, _dumps(scrubbed), self.keys, tuple(o for o in own if len(o[0]) > 1))
        return _KEY_VALUE.sub(r'\1""', _IPV4.sub("[ip]", self.plain_text(text)))


# What a line that does not parse may still say about a person: "username": "ada" and the like.
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_KEY_VALUE = re.compile(r'(?i)(\\?"(?:%s)\\?"\s*:\s*)(?:\\?"(?:[^"\\]|\\.)*?\\?"|[^,}\]\s]+)'
                        % "|".join(sorted(re.escape(k) for k in PERSONAL_KEYS)))


def session_key():
    """ASPECTS_TRACKING_SESSION_HASH_KEY, else a key derived from SECRET_KEY (never SECRET_KEY itself)."""
    key = getattr(settings, "ASPECTS_TRACKING_SESSION_HASH_KEY", None)
    if key:
        return key.encode() if isinstance(key, str) else bytes(key)
    secret = str(getattr(settings, "SECRET_KEY", ""))
    return hashlib.sha256(b"platform-plugin-aspects tracking session\0" + secret.encode()).digest()


_current = []


def current():
    """The process's :class:`Deidentifier`, or None when ``ASPECTS_ENABLE_PII`` is on (rows as sent)."""
    if not _current:
        if getattr(settings, "ASPECTS_ENABLE_PII", False):
            _current.append(None)
        else:
            _current.append(Deidentifier(session_key(), getattr(settings, "ASPECTS_TRACKING_IP_NETWORK_BITS", None),
                                         getattr(settings, "ASPECTS_TRACKING_PERSONAL_KEYS", ())))
    return _current[0]


def _forget(**_kwargs):
    _current.clear()


setting_changed.connect(_forget, dispatch_uid="aspects-tracking-privacy")

"""
From a tracking event (a dict live, a line in a log file) to a ``tracking_events`` row, or to a reject.

The live backend and the log loader share this module, so an event gets the same row — and above
all the same ``event_id`` — whichever way it arrives. The id is a uuid5 over the event's canonical
JSON (keys sorted, datetimes written the way edx event-tracking's logger writes them), which is what
lets ReplacingMergeTree fold the live copy and the copy loaded later from ``tracking.log``.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone

import orjson

from . import privacy

# Fixed forever: changing it changes every event id and breaks deduplication.
EVENT_ID_NAMESPACE = uuid.UUID("6f6a2f62-5b1e-4b8e-9d7e-2c1f0e0a7a51")
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
# RFC 4122 version (5) and variant bits, as uuid.UUID(..., version=5) sets them.
_UUID_CLEAR_BITS = ~((0xF000 << 64) | (0xC000 << 48))
_UUID5_BITS = (5 << 76) | (0x8000 << 48)

EVENT_COLUMNS = (
    "event_id", "time", "name", "event_type", "event_source", "user_id", "username", "course_key", "org",
    "block_id", "session", "page", "referer", "agent", "ip", "host", "context", "event", "loaded_from",
)
REJECT_COLUMNS = ("reject_id", "reason", "raw", "raw_size", "source_file", "source_offset")
REJECT_RAW_LIMIT = 64 * 1024
TRACKING_MARKER = "[tracking]"
_MIN_YEAR, _MAX_YEAR = 1900, 2262  # what DateTime64(6) can hold
_INT64_MAX = 2**63 - 1
_BLOCK_KEY_PREFIXES = ("block-v1:", "ccx-block-v1:", "i4x://", "lb:", "lct:")


class Rejected(ValueError):
    """The input cannot become an event row; ``str()`` is the reason stored in ``tracking_rejects``."""


@dataclass
class Reject:
    """One line or event that could not be stored, and why."""

    reason: str
    raw: str
    raw_size: int
    source_file: str = ""
    source_offset: int = 0

    def row(self):
        """
        The ``tracking_rejects`` row (``REJECT_COLUMNS`` order); the raw text is cut at 64 KiB and,
        with ASPECTS_ENABLE_PII off, scrubbed like an event first (a reject is no back door).
        """
        deidentifier = privacy.current()
        raw = self.raw if deidentifier is None else deidentifier.text(self.raw)
        raw = raw if len(raw) <= REJECT_RAW_LIMIT else raw[:REJECT_RAW_LIMIT]
        raw = raw.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates cannot be sent
        reason = self.reason[:1000] if deidentifier is None else deidentifier.plain_text(self.reason[:1000])
        key = f"{self.source_file}\0{self.source_offset}\0{reason}\0{raw}"
        reject_id = uuid.uuid5(EVENT_ID_NAMESPACE, key.encode("utf-8", "backslashreplace").decode("utf-8"))
        return [reject_id, reason, raw, self.raw_size, self.source_file, self.source_offset]


def encode_json(value):
    """``json.dumps`` ``default`` hook: datetimes as UTC ISO-8601, like event-tracking's logger backend."""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


_SERIALIZE_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def serialize(event):
    """
    The live event dict as one line of JSON (this runs in the request: orjson, a few µs).

    Datetimes are written as event-tracking's logger writes them (UTC ISO-8601), so the parsed
    content — and therefore the event id — equals that of the same event's ``tracking.log`` line;
    the bytes differ (compact, UTF-8) and need not match. Python's json takes what orjson refuses
    (lone surrogates, integers beyond 64 bits).
    """
    try:
        return orjson.dumps(event, default=encode_json, option=_SERIALIZE_OPTIONS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return logger_json(event)


def logger_json(event):
    """The event exactly as edx event-tracking's ``LoggerBackend`` writes it to ``tracking.log``."""
    return json.dumps(event, default=encode_json)


def canonical_json(event):
    """
    The event's canonical JSON (UTF-8 bytes, keys sorted, no spaces): the input of its id.

    orjson for speed; Python's json only for what orjson refuses (integers beyond 64 bits, lone
    surrogates), which is deterministic too: the same event always takes the same branch.
    """
    try:
        return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogatepass")


def event_id(event):
    """uuid5 (RFC 4122: SHA-1 of namespace + name) of the canonical JSON of a *parsed* event."""
    return uuid.UUID(int=_event_id_int(event))


def _event_id_int(event):
    """:func:`event_id` as the 128-bit integer ClickHouse's UUID column takes (no UUID object per row)."""
    value = int.from_bytes(hashlib.sha1(_NAMESPACE_BYTES + canonical_json(event)).digest()[:16], "big")
    return (value & _UUID_CLEAR_BITS) | _UUID5_BITS


def loads(text):
    """
    Parse JSON: orjson, or Python's json for what only it accepts (NaN, Infinity, lone surrogates).

    Known trade-off: orjson reads integers beyond 64 bits as floats, so such a number in a payload
    is stored with double precision (the id stays deterministic). Checking every line for them
    with a regex cost more than the whole parse.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _dumps(value):
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, ensure_ascii=False)


def parse_time(value):
    """A timezone-aware UTC datetime from an ISO-8601 string or epoch seconds; Rejected otherwise."""
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise Rejected(f"unreadable time {value[:64]!r}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            parsed = datetime.fromtimestamp(value, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise Rejected(f"time out of range: {value!r}") from None
    else:
        raise Rejected("no time: the event has neither 'time' nor 'timestamp'")
    parsed = parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    if not _MIN_YEAR <= parsed.year < _MAX_YEAR:
        raise Rejected(f"time out of range: {value!r}")
    return parsed


def _user_id(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -_INT64_MAX <= value <= _INT64_MAX else None
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _text(value):
    """A column string: '' for missing, JSON for structures, str() for the rest."""
    if value.__class__ is str:  # the common case first: this runs 13 times per event
        return value
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return _dumps(value)
    return str(value)


def org_from_course_key(course_key):
    """``Org`` of ``course-v1:Org+Course+Run`` (also ``ccx-v1:``) or of the old ``Org/Course/Run``."""
    if ":" in course_key:
        return course_key.split(":", 1)[1].split("+", 1)[0]
    if "/" in course_key:
        return course_key.split("/", 1)[0]
    return ""


_BLOCK_PAYLOAD_KEYS = ("usage_key", "problem_id", "block_id", "block_key", "id", "problem", "item_id")
_VIDEO_EVENT_PREFIXES = ("edx.video.", "play_video", "pause_video", "seek_video", "stop_video", "load_video",
                         "complete_video", "speed_change_video", "show_transcript", "hide_transcript",
                         "video_")
_JUMP_TO_RE = re.compile(r"(?:ccx-)?block-v1:[^/?#\s\"']+|i4x://[^?#\s\"']+")


def _video_key(course_key, short_id):
    """The usage key of a video named by its short id (``event.id``) in ``course_key``."""
    if short_id.startswith("i4x-") and "-video-" in short_id:  # old courses: i4x-Org-Course-video-<id>
        short_id = short_id.split("-video-", 1)[1]
    if course_key.startswith("course-v1:"):
        return f"block-v1:{course_key[10:]}+type@video+block@{short_id}"
    if course_key.startswith("ccx-v1:"):
        return f"ccx-block-v1:{course_key[7:]}+type@video+block@{short_id}"
    if "/" in course_key and ":" not in course_key:
        org, course = course_key.split("/")[:2]
        return f"i4x://{org}/{course}/video/{short_id}"
    return ""


def block_id_of(context, payload, name="", course_key=""):
    """
    The usage key of the block an event concerns, or ''.

    Browser events carry their payload as a JSON *string*; video events name their block by its
    short id (``event.id``), made into a usage key with the course key; navigation events name
    the sequence (``id``) or a ``jump_to`` URL (``target_url``).
    """
    module = context.get("module")
    if isinstance(module, dict) and isinstance(module.get("usage_key"), str):
        return module["usage_key"]
    if isinstance(payload, str) and payload.startswith("{"):
        try:
            payload = loads(payload)
        except ValueError:
            return ""
    if not isinstance(payload, dict):
        return ""
    for key in _BLOCK_PAYLOAD_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value.startswith(_BLOCK_KEY_PREFIXES):
            return value
    short_id = payload.get("id")
    if (isinstance(short_id, str) and short_id and course_key and name.startswith(_VIDEO_EVENT_PREFIXES)
            and ":" not in short_id and "/" not in short_id and "+" not in short_id):
        return _video_key(course_key, short_id)
    target = payload.get("target_url")
    if isinstance(target, str) and ("block-v1:" in target or "i4x:" in target):
        match = _JUMP_TO_RE.search(target)
        if match:
            return match.group(0)
    return ""


def event_row(event, loaded_from="live"):
    """
    The ``tracking_events`` row (``EVENT_COLUMNS`` order) of a parsed event; Rejected if unusable.

    The id is computed from the event as sent; with ASPECTS_ENABLE_PII off the row is then
    de-identified (``privacy.Deidentifier.row``), so live and loaded copies still share one id.
    """
    if not isinstance(event, dict):
        raise Rejected(f"not a JSON object but a {type(event).__name__}")
    context = event.get("context")
    if not isinstance(context, dict):
        context = {}
    payload = event.get("event", event.get("data"))
    time = parse_time(event.get("time") or event.get("timestamp"))
    course_key = _text(context.get("course_id"))
    event_type = _text(event.get("event_type"))
    name = _text(event.get("name")) or event_type
    row = [
        _event_id_int(event),
        time,
        name,
        event_type,
        _text(event.get("event_source")),
        _user_id(context.get("user_id")),
        _text(event.get("username") or context.get("username")),
        course_key,
        _text(context.get("org_id")) or org_from_course_key(course_key),
        block_id_of(context, payload, name, course_key),
        _text(event.get("session") or context.get("session")),
        _text(event.get("page") or context.get("page")),
        _text(event.get("referer") or context.get("referer")),
        _text(event.get("agent") or context.get("agent")),
        _text(event.get("ip") or context.get("ip")),
        _text(event.get("host") or context.get("host")),
        _dumps(context),
        _text(payload),
        loaded_from,
    ]
    deidentifier = privacy.current()
    return row if deidentifier is None else deidentifier.row(row, context, payload)


def json_part(line):
    """
    The JSON of a log line: the whole line, or what follows a logger prefix.

    Handles raw JSON lines and Cairn/Tutor-style lines such as
    ``2026-11-24 10:00:00,123 INFO 7 [tracking] logger.py:41 - {...}``.
    """
    if line.startswith("{"):
        return line
    marker = line.find(TRACKING_MARKER)
    start = line.find("{", marker + len(TRACKING_MARKER) if marker >= 0 else 0)
    if start < 0:
        raise Rejected("no JSON object on the line")
    return line[start:]


def row_from_json(text, loaded_from="live", max_bytes=None):
    """The row of one event's JSON text; Rejected with the reason when it cannot be stored."""
    if max_bytes and len(text) * 4 > max_bytes:  # a character is at most 4 bytes: count only when it matters
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise Rejected(f"event too large: {size} bytes > ASPECTS_TRACKING_MAX_EVENT_BYTES={max_bytes}")
    try:
        event = loads(text)
    except ValueError as exc:
        raise Rejected(f"malformed JSON: {exc}") from None
    return event_row(event, loaded_from)

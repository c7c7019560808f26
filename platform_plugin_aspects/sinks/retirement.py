"""
Retirement: remove a batch of users' personal data from every table of the plugin's database.

The tables are *discovered*, not listed, so a table added by a later migration (the analytics
model's, an operator's) is covered without touching this module. The rule, per MergeTree table of
the database (docs/concepts/privacy.rst, "Retirement"):

1. A table that holds personal data as a whole — a sink marked ``pii``, a table named in
   ``EVENT_SINK_CLICKHOUSE_PII_MODELS``, or a table whose COMMENT contains ``pii:delete`` — and has a
   ``user_id`` column: the users' rows are deleted.
2. Any other table with a ``user_id`` column: in the users' rows, the columns named like personal
   data (:data:`PERSONAL_COLUMNS`) or whose COMMENT starts with ``pii:blank`` get their type's
   default value; the free-text/JSON columns (:data:`SCRUBBED_COLUMNS`, or COMMENT ``pii:scrub``)
   lose personal keys, e-mail addresses, the row's own username, IP and session id and the users'
   known names. The numeric ``user_id`` and everything else stay, so anonymous activity still
   counts. Other users' rows that *mention* one of the users' names (a forum vote's target, an
   instructor event's "student") lose those names and nothing else. A table with a ``username``
   column where no row has one was written de-identified: its text columns are not even read.
3. ``tracking_rejects`` (no ``user_id``: raw lines): lines naming one of the users (their user id,
   or a username/e-mail found in the tables above before they were cleared) are deleted.

One statement per table for the whole batch of users. Lightweight ones (``UPDATE ... SET`` patch
parts, ``DELETE FROM`` masks) where the table supports them: on a 10M-event table they cost a
fraction of ``ALTER TABLE ... UPDATE``, which rewrites the touched columns of every part the users
appear in (benchmarks/retirement.py measures both). Queries stop seeing the values at once; the old
bytes leave the disk when ClickHouse merges the parts (``ALTER TABLE ... APPLY PATCHES`` / ``APPLY
DELETED MASK`` force it). ``ASPECTS_RETIREMENT_MUTATIONS = "heavyweight"`` rewrites at once instead.
"""

import logging
import re

from django.conf import settings

from ..tracking.privacy import PERSONAL_KEYS
from ..tracking.store import EVENTS_TABLE, REJECTS_TABLE
from .base import all_sinks

log = logging.getLogger(__name__)

# Column names that hold personal data wherever they appear next to a user_id: cleared on retirement.
PERSONAL_COLUMNS = frozenset(("username", "email", "full_name", "ip", "agent", "session", "external_user_id"))
# Free-text / JSON columns scrubbed (not blanked) on retirement, per table.
SCRUBBED_COLUMNS = {EVENTS_TABLE: ("name", "event_type", "page", "referer", "context", "event")}
_SYNC = {"mutations_sync": 2}
_KEYS = "|".join(sorted(PERSONAL_KEYS))
# "key": "value" (also \"key\": \"value\" inside a JSON string): the value emptied, quoting kept.
_KEY_STRING_RE = r'(\\?"(?i:' + _KEYS + r')\\?"\s*:\s*)(\\?")(?:[^"\\]|\\.)*?\\?"'
_KEY_SCALAR_RE = r'(\\?"(?i:' + _KEYS + r')\\?"\s*:\s*)(?:-?\d[\d.eE+-]*|true|false)'
_EMAIL_RE = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_USER_URL_RE = r'(/u/|/accounts/|/preferences/|[?&](?:username|email|user|student)=)[^/?&#"\s\\]+'
REGEX_PARAMETERS = {"key_string": _KEY_STRING_RE, "key_scalar": _KEY_SCALAR_RE, "email": _EMAIL_RE,
                    "user_url": _USER_URL_RE}


def _text(column):
    return f"CAST(ifNull({column}, '') AS String)"  # LowCardinality/Nullable: arrayFold wants plain String


# A value stands alone: "ada" in "ada@x" or "/u/ada", never inside "adam" or "learner10" for "learner1".
_EDGE = r"[^\pL\pN_-]"
_REDACT = r"'\\1[redacted]\\2'"


def values_pattern(values):
    """RE2: any of ``values`` standing alone (the boundary characters are captured and put back)."""
    if not values:
        return r"[^\s\S]"  # matches nothing
    return f"(^|{_EDGE})(?:" + "|".join(re.escape(v) for v in values) + f")($|{_EDGE})"


def _without_values(text):
    """SQL: ``text`` without the batch's values (twice: two values side by side share a boundary)."""
    once = f"replaceRegexpAll({text}, {{values_re:String}}, {_REDACT})"
    return f"replaceRegexpAll({once}, {{values_re:String}}, {_REDACT})"


def scrub_expression(column, own_columns):
    """
    SQL: ``column`` without personal key/values, e-mails and profile URLs, the batch's known names
    (``{values_re}``) and the row's own ``own_columns`` (its username, IP, session id).
    """
    expression = (f"replaceRegexpAll(replaceRegexpAll(replaceRegexpAll(replaceRegexpAll({_text(column)}, "
                  "{key_string:String}, '\\\\1\\\\2\\\\2'), {key_scalar:String}, '\\\\1null'), "
                  "{email:String}, '[email]'), {user_url:String}, '\\\\1[user]')")
    if own_columns:
        own = ", ".join(f"toString({c})" for c in own_columns)
        expression = (f"arrayFold((acc, v) -> replaceAll(acc, v, '[redacted]'), arrayFilter(v -> length(v) > 1, "
                      f"[{own}]), {expression})")
    return expression


def mentions(column, count):
    """SQL: whether ``column`` holds one of the batch's values standing alone (a cheap multi-search first)."""
    exact = f"match({_text(column)}, {{values_re:String}})"
    return f"(multiSearchAny({_text(column)}, {{values:Array(String)}}) AND {exact})" if count <= 255 else exact


def _is_string(type_name):
    return type_name.replace("LowCardinality(", "").replace("Nullable(", "").startswith("String")


class Table:
    """What retirement must do to one table, from its columns, comments and settings."""

    def __init__(self, name, engine, comment, columns):
        self.name, self.engine, self.comment = name, engine, comment
        self.columns = columns  # {name: (type, comment)}

    @property
    def lightweight(self):
        """Lightweight UPDATE needs the block number column (migration 0021 sets it on our tables)."""
        return "enable_block_number_column = 1" in self.engine and "enable_block_offset_column = 1" in self.engine

    def action(self, pii_tables):
        """``("delete", None, ())``, ``("update", {column: expression}, scrubbed columns)`` or None."""
        if "user_id" not in self.columns:
            return None
        if self.name in pii_tables or "pii:delete" in self.comment:
            return "delete", None, ()
        own = [c for c in ("username", "ip", "session") if c in self.columns and _is_string(self.columns[c][0])]
        assignments, scrubbed = {}, []
        for column, (type_name, comment) in self.columns.items():
            if column in SCRUBBED_COLUMNS.get(self.name, ()) or comment.startswith("pii:scrub"):
                if _is_string(type_name):
                    assignments[column] = scrub_expression(column, own)
                    scrubbed.append(column)
            elif column in PERSONAL_COLUMNS or comment.startswith("pii:blank"):
                assignments[column] = f"defaultValueOfTypeName('{type_name}')"
        return ("update", assignments, scrubbed) if assignments else None

    def written_with_names(self, clickhouse):
        """
        Whether any row carries a username (rows written with ASPECTS_ENABLE_PII on). Tables without
        a username column are assumed to: their scrubbed columns are always rewritten.
        """
        if "username" not in self.columns:
            return True
        return bool(clickhouse.query(f"SELECT count() FROM (SELECT 1 FROM {clickhouse.qualified(self.name)} "
                                     "WHERE username != '' LIMIT 1)")[0][0])

    def update(self, qualified, assignments, scrubbed, values, lightweight):
        """
        One UPDATE: the users' rows are cleared; other rows that *mention* one of the users' values
        (a forum vote's target, an instructor's "student") lose those values and nothing else.
        """
        where = "user_id IN {ids:Array(Int64)}"
        if values and scrubbed:
            where += "".join(f" OR {mentions(column, len(values))}" for column in scrubbed)
            assignments = {column: ("if(user_id IN {ids:Array(Int64)}, "
                                    + (f"{_without_values(expression)}, {_without_values(_text(column))})"
                                       if column in scrubbed else f"{expression}, `{column}`)"))
                           for column, expression in assignments.items()}
        sets = ", ".join(f"`{column}` = {expression}" for column, expression in assignments.items())
        if lightweight:
            return f"UPDATE {qualified} SET {sets} WHERE {where}"
        return f"ALTER TABLE {qualified} UPDATE {sets} WHERE {where}"


def discover(clickhouse):
    """Every MergeTree table of the plugin's database, with its columns (one query)."""
    rows = clickhouse.query(
        "SELECT t.name, t.engine_full, t.comment, c.name, c.type, c.comment FROM system.tables AS t "
        "INNER JOIN system.columns AS c ON c.database = t.database AND c.table = t.name "
        "WHERE t.database = {db:String} AND t.engine LIKE '%MergeTree%' ORDER BY t.name, c.position",
        {"db": clickhouse.database})
    tables = {}
    for name, engine, comment, column, type_name, column_comment in rows:
        table = tables.setdefault(name, Table(name, engine, comment, {}))
        table.columns[column] = (type_name, column_comment)
    return tables


def pii_tables():
    """The tables whose rows are personal data as a whole (deleted, not blanked, on retirement)."""
    names = {sink.table for sink in all_sinks() if sink.pii and sink.table}
    return names | set(getattr(settings, "EVENT_SINK_CLICKHOUSE_PII_MODELS", []))


def personal_values(clickhouse, tables, user_ids):
    """
    The users' usernames, e-mails and full names as the tables hold them, read before they are
    cleared: removed wherever they still appear in the users' rows and in raw rejected lines.
    """
    pii = pii_tables()
    selects = [f"SELECT toString({column}) AS value FROM {clickhouse.qualified(table.name)} "
               "WHERE user_id IN {ids:Array(Int64)}"
               for table in tables.values() if "user_id" in table.columns
               for column in ("username", "email", "full_name", "name") if column in table.columns
               and (column != "name" or table.name in pii)]  # elsewhere "name" is not a person's
    if not selects:
        return []
    rows = clickhouse.query(f"SELECT DISTINCT value FROM ({' UNION ALL '.join(selects)}) WHERE length(value) > 1",
                            {"ids": user_ids})
    return sorted(value for (value,) in rows)


def retire_users(user_ids, clickhouse):
    """Remove ``user_ids``' personal data from every table that holds it (the rule is in the module docstring)."""
    user_ids = sorted({int(u) for u in user_ids})
    if not user_ids:
        return []
    tables = discover(clickhouse)
    values = personal_values(clickhouse, tables, user_ids)
    heavyweight = getattr(settings, "ASPECTS_RETIREMENT_MUTATIONS", "lightweight") == "heavyweight"
    parameters = {"ids": user_ids, "values": values, "values_re": values_pattern(values), **REGEX_PARAMETERS}
    statements = []
    pii = pii_tables()

    def delete(table, where):
        qualified = clickhouse.qualified(table)
        if heavyweight:
            return f"ALTER TABLE {qualified} DELETE WHERE {where}"
        return f"DELETE FROM {qualified} WHERE {where}"

    for table in tables.values():
        action = table.action(pii)
        if action is None:
            continue
        kind, assignments, scrubbed = action
        if kind == "delete":
            statements.append(delete(table.name, "user_id IN {ids:Array(Int64)}"))
        else:
            if scrubbed and not table.written_with_names(clickhouse):
                # De-identified when written (ASPECTS_ENABLE_PII was never on for it): its text holds
                # no names, so it is not read at all: only the small personal columns are blanked.
                assignments = {k: v for k, v in assignments.items() if k not in scrubbed}
                scrubbed = []
            statements.append(table.update(clickhouse.qualified(table.name), assignments, scrubbed, values,
                                           table.lightweight and not heavyweight))
    if REJECTS_TABLE in tables:
        # A raw line names the user by id ("user_id": 42) or by a value found above.
        parameters["user_id_re"] = r'\\?"user_id\\?"\s*:\s*\\?"?(?:' + "|".join(map(str, user_ids)) + r')\b'
        statements.append(delete(REJECTS_TABLE, "match(raw, {user_id_re:String})"
                                 + (f" OR {mentions('raw', len(values))}" if values else "")))
    for statement in statements:
        clickhouse.command(statement, {k: v for k, v in parameters.items() if "{" + k + ":" in statement},
                           settings=_SYNC)
    log.info("Retired %d user(s) from ClickHouse: %d statement(s)", len(user_ids), len(statements))
    return statements

"""
Row-level-security clauses for guest tokens, built so that no value can change a clause's meaning.

A clause template is operator-written SQL with placeholders. Upstream ran ``str.format`` with the
``CourseKey`` and the Django ``User`` as arguments, which let a template read any attribute of those
objects (``{user.password}``) and pasted values (usernames!) into SQL unescaped. Here:

* only the placeholders ``{course_id}``, ``{org}``, ``{user_id}`` and ``{username}`` exist, with no
  attribute access, indexing, conversion or format spec: anything else is a configuration error;
* every value becomes a ClickHouse SQL literal: inside a quoted string of the template
  (``org = '{org}'``, ``key LIKE '{course_id}%'``) it is escaped in place; outside one it becomes a
  complete quoted literal (or a bare integer for ``{user_id}``);
* a template whose quotes do not balance, or that holds a comment, is refused, since a value would
  land in a context where escaping does not protect it;
* a template whose parentheses do not balance is refused: Superset joins clauses as
  ``(a) AND (b) AND (c)``, so ``x') OR ('1' = '1`` in ``c`` would make the whole filter true;
* a clause that would hold a Jinja delimiter (``{{``, ``{%``, ``{#``) is refused: Superset renders
  guest-token clauses as Jinja templates first, and SQL escaping means nothing to Jinja.

Clauses go into a JWT that the browser can read, so they must never hold secrets.
"""

from string import Formatter

from django.core.exceptions import ImproperlyConfigured

PLACEHOLDERS = ("course_id", "org", "user_id", "username")

# The Aspects defaults: a course's staff see their course (and its org's rows only).
DEFAULT_CLAUSE_TEMPLATES = ("org = {org}", "course_key = {course_id}")


_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "`": "\\`", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\0": "\\0"}
_COMMENT_MARKERS = ("--", "/*", "*/", "#")
_JINJA_MARKERS = ("{{", "{%", "{#")


def escape_string(value):
    """
    Escape ``value`` for use between single quotes in ClickHouse SQL.

    Backslashes and quotes (single, double, backtick) are escaped so the value cannot end a literal
    or a quoted identifier; line breaks, tabs and NUL become escapes too, so a value never spans lines.
    ClickHouse reads each escape back as the character itself, so the value keeps its meaning.
    """
    return "".join(_ESCAPES.get(char, char) for char in str(value))


def _scan(text, in_string, depth):
    """
    Walk SQL ``text`` from inside/outside a quoted string at parenthesis ``depth``; return both after it.

    Raises ValueError on a comment marker outside strings (a placeholder inside a comment could
    otherwise let a value, ``*/``, end the comment and become SQL) and on a ``)`` closing more than
    was opened: Superset ANDs clauses as ``(clause)`` without grouping them further, so
    ``a') OR ('1' = '1`` would turn every rule before it into an OR.
    """
    index = 0
    while index < len(text):
        char = text[index]
        if in_string and char == "\\":
            index += 2  # an escaped character never closes the string
            continue
        if not in_string and text.startswith(_COMMENT_MARKERS, index):
            raise ValueError("comments are not allowed in RLS clause templates")
        if char == "'":
            if in_string and text[index + 1:index + 2] == "'":
                index += 2  # '' is an escaped quote
                continue
            in_string = not in_string
        elif not in_string and char in "()":
            depth += 1 if char == "(" else -1
            if depth < 0:
                raise ValueError("a ')' closes a parenthesis the clause did not open")
        index += 1
    return in_string, depth


def render_clause(template, values):
    """
    Fill ``template`` with ``values`` (a dict of the PLACEHOLDERS) as SQL literals.

    Raises ImproperlyConfigured for an unknown placeholder, attribute or index access, a
    conversion or format spec, or unbalanced quotes. The message names the template, never a value.
    """
    parts = []
    in_string, depth = False, 0
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise ImproperlyConfigured(f"RLS clause template {template!r} is malformed: {exc}") from exc
    for literal, field, spec, conversion in parsed:
        parts.append(literal)
        try:
            in_string, depth = _scan(literal, in_string, depth)
        except ValueError as exc:
            raise ImproperlyConfigured(f"RLS clause template {template!r}: {exc}") from None
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise ImproperlyConfigured(
                f"RLS clause template {template!r}: only {{course_id}}, {{org}}, {{user_id}} and {{username}} "
                f"are allowed, without attributes, indexes or format specs (found {{{field}}})"
            )
        value = values[field]
        if in_string:
            parts.append(escape_string(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            parts.append(str(int(value)))
        else:
            parts.append(f"'{escape_string(value)}'")
    if in_string:
        raise ImproperlyConfigured(f"RLS clause template {template!r} has an unterminated string literal")
    if depth:
        raise ImproperlyConfigured(f"RLS clause template {template!r} leaves a parenthesis open")
    clause = "".join(parts)
    if any(marker in clause for marker in _JINJA_MARKERS):
        # Superset runs each clause through Jinja before it reaches SQL, where no escaping protects it.
        raise ImproperlyConfigured(
            f"RLS clause template {template!r} renders a Jinja delimiter ({{{{, {{% or {{#), which Superset would run"
        )
    return clause


# Stand-in values for checking a template before any user or course is known (Studio's editor).
_SAMPLE_VALUES = {"course_id": "course-v1:Org+Course+Run", "org": "Org", "user_id": 1, "username": "user"}


def check_clause_template(template):
    """
    Raise ImproperlyConfigured unless ``template`` is a string that ``render_clause`` accepts.

    For templates written where they are saved (an XBlock's ``filters``), so the author hears about a
    mistake then rather than course staff meeting a dashboard that cannot load.
    """
    if not isinstance(template, str):
        raise ImproperlyConfigured(f"RLS clause template {template!r} is not a string")
    render_clause(template, _SAMPLE_VALUES)


def clause_values(user, course_key):
    """The only values a template can reach: plain strings and one integer, never server objects."""
    return {
        "course_id": str(course_key),
        "org": str(course_key.org),
        "user_id": int(user.id),
        "username": str(user.username),
    }


def rls_clauses(user, course_key, extra_templates=()):
    """The guest token's RLS rules: the course's org and key, then the operator's extra clauses."""
    values = clause_values(user, course_key)
    return [{"clause": render_clause(t, values)} for t in (*DEFAULT_CLAUSE_TEMPLATES, *extra_templates)]

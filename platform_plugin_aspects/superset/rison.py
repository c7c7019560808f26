"""Rison, the URL encoding Superset's REST API and native filters use for structured values."""

import re


def rison(value):
    """Encode ``value`` (dict/list/str/number/bool/None) as Rison, the URL format Superset's filters use."""
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if value is None:
        return "!n"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "(" + ",".join(f"{rison(str(k))}:{rison(v)}" for k, v in sorted(value.items())) + ")"
    if isinstance(value, (list, tuple)):
        return "!(" + ",".join(rison(v) for v in value) + ")"
    text = str(value)
    if text and re.fullmatch(r"[A-Za-z_./~-][A-Za-z0-9_./~-]*", text):
        return text
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"

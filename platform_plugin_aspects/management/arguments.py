"""Argument types and help formatting shared by the operator commands (kept out of each command)."""

import argparse
import textwrap

from django.core.management.base import DjangoHelpFormatter


class _ExamplesFormatter(DjangoHelpFormatter):
    """Django's ordering of options; the description's paragraphs are wrapped, indented lines (examples) kept."""

    def _fill_text(self, text, width, indent):
        lines = []
        for line in text.splitlines():
            lines += [indent + line] if line.startswith(" ") or not line else textwrap.wrap(
                line, width, initial_indent=indent, subsequent_indent=indent)
        return "\n".join(lines)


class RawHelpMixin:
    """Mix into a BaseCommand so ``--help`` prints ``help`` as written, examples included."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = _ExamplesFormatter
        return parser


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def non_negative_float(text):
    """argparse type: a number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative (got {value})")
    return value

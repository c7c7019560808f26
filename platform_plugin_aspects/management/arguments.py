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


def _bounded(convert, minimum, what, rule):
    """An argparse type converting with ``convert`` and refusing values below ``minimum``."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{rule} (got {value})")
        return value

    return parse


positive_int = _bounded(int, 1, "an integer", "must be at least 1")
non_negative_float = _bounded(float, 0, "a number", "must not be negative")

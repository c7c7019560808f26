"""Every operator command's ``--help`` teaches: its examples print one per line, as written."""

from pathlib import Path

import pytest
from django.core.management import load_command_class

COMMANDS = sorted(path.stem for path in (Path(__file__).resolve().parents[1] / "platform_plugin_aspects" /
                                         "management" / "commands").glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("name", COMMANDS)
def test_help_keeps_its_examples_one_per_line(name):
    command = load_command_class("platform_plugin_aspects", name)
    examples = [line for line in command.help.splitlines() if line.strip().startswith("manage.py")]
    assert examples, f"{name} --help shows no example"
    shown = command.create_parser("manage.py", name).format_help().splitlines()
    for example in examples:
        assert example.rstrip() in shown, f"{name} --help mangles {example!r}"

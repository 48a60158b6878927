"""The CLI's table of commands: `main` dispatches on the name a row's parser registers."""

from __future__ import annotations

import argparse

from order_platform.cli import COMMANDS


def test_each_command_is_filed_under_the_name_its_parser_registers() -> None:
    for name, command in COMMANDS.items():
        subcommands = argparse.ArgumentParser().add_subparsers(dest="command")
        command.add_parser(subcommands)

        assert list(subcommands.choices) == [name]

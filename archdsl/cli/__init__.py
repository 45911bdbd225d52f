"""The `archdsl` command: argument parsing, I/O and exit codes; presentation of tables and diffs."""

from archdsl.cli.commands import main, run

__all__ = ["main", "run"]

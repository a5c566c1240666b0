"""The `chmd` command line: one click group; each verb lives in its own module here."""

from __future__ import annotations

import click

from chmd import __version__


@click.group(context_settings={"auto_envvar_prefix": "CHMD", "help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chmd")
def main() -> None:
    """chmd — the Catalyst Health Monitor daemon."""


# Each verb module registers itself on `main` when imported; keep this list explicit.
COMMAND_MODULES: tuple[str, ...] = ("reload",)


def _register() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"chmd.cli.{name}")


_register()

"""The `chmd` command line: one click group; each verb lives in its own module here."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from chmd import __version__

if TYPE_CHECKING:
    from chmd.config import LoadedConfig

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = os.EX_CONFIG  # 78: invalid configuration; systemd's RestartPreventExitStatus=

_F = TypeVar("_F", bound=Callable[..., Any])


def _default_config(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path:
    if value is not None:
        return value
    from chmd.config import default_config_path

    return default_config_path()


def config_option(func: _F) -> _F:
    """`-c/--config FILE` (env CHMD_CONFIG): etc/chmd.yaml when it exists in the working
    directory, else /etc/chmd/chmd.yaml. The command receives it as `config: Path`."""
    return click.option(
        "-c",
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        envvar="CHMD_CONFIG",
        callback=_default_config,
        help="chmd.yaml to use  [env CHMD_CONFIG; default: etc/chmd.yaml if it exists, "
        "else /etc/chmd/chmd.yaml]",
    )(func)


def state_dir_option(func: _F) -> _F:
    """`--state-dir DIR`: overrides chmd.yaml's `state_dir`; the command receives
    `state_dir: Path | None` (None: read it from the config)."""
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Use this state directory instead of the one chmd.yaml names.",
    )(func)


def exit_config_error(problems: list[str], what: str | None = None) -> NoReturn:
    """Every problem on stderr and exit 78 (EX_CONFIG). With `what` (`nothing started`) a
    last line `N errors; <what>.` follows the problems."""
    for problem in problems:
        click.echo(problem, err=True)
    if what is not None:
        click.echo(f"{plural(len(problems), 'error')}; {what}.", err=True)
    raise SystemExit(EXIT_CONFIG)


def load_config_or_exit(config: Path, what: str | None = None) -> LoadedConfig:
    """chmd.yaml loaded; when invalid, `exit_config_error(problems, what)`."""
    from chmd.config import load_config
    from chmd.errors import ConfigError

    try:
        return load_config(config)
    except ConfigError as exc:
        exit_config_error(exc.problems, what)


def plural(count: int, word: str) -> str:
    """`1 error`, `2 errors`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


@click.group(context_settings={"auto_envvar_prefix": "CHMD", "help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chmd")
def main() -> None:
    """chmd — the Catalyst Health Monitor daemon."""


# Each verb module registers itself on `main` when imported; keep this list explicit.
COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "check",
    "schema",
    "version",
    "reload",
    "rules",
    "alerts",
    "notify",
    "silence",
    "poll",
)


def _register() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"chmd.cli.{name}")


_register()

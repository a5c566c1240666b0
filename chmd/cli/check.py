"""`chmd check`: validate chmd.yaml, the inventory and the rule files; like `amtool check-config`.

Exit 0 when valid (warnings, such as literal secrets, are printed but pass), 78 when
not, after every problem of every file and a count. `--show` prints the effective
configuration — defaults filled in, groups merged into devices, paths absolute — as
YAML with every secret replaced by its reference (`env:NAME`) or `<secret>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from chmd.cli import EXIT_CONFIG, config_option, main, plural
from chmd.config import LoadedConfig, load_config
from chmd.errors import ConfigError


def report_problems(problems: list[str], what: str = "nothing started") -> None:
    """Every problem on stderr, then `N errors; <what>.`"""
    for problem in problems:
        click.echo(problem, err=True)
    click.echo(f"{plural(len(problems), 'error')}; {what}.", err=True)


def effective(loaded: LoadedConfig) -> dict[str, Any]:
    """The effective configuration as plain data; secrets dump as references or masks."""
    config = loaded.config.model_dump(mode="json", by_alias=True)
    devices = {
        d.name: d.model_dump(mode="json", exclude={"name"}, exclude_none=True)
        for d in loaded.devices
    }
    return {
        **config,
        "devices": devices,
        "rule_files": [str(p) for p in loaded.rule_files],
    }


@main.command()
@config_option
@click.option("--show", is_flag=True, help="Print the effective configuration (secrets masked).")
def check(config: Path, show: bool) -> None:
    """Validate the configuration; exit 0 if valid, 78 if not."""
    try:
        loaded = load_config(config)
    except ConfigError as exc:
        report_problems(exc.problems, "nothing started")
        raise SystemExit(EXIT_CONFIG) from None
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    if show:
        click.echo(yaml.safe_dump(effective(loaded), sort_keys=False, allow_unicode=True), nl=False)
    summary = (
        f"{config}: ok: {plural(len(loaded.devices), 'device')}, "
        f"{plural(len(loaded.rule_files), 'rule file')}"
    )
    if loaded.warnings:
        summary += f", {plural(len(loaded.warnings), 'warning')}"
    click.echo(summary, err=show)

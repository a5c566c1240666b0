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

from chmd.cli import config_option, load_config_or_exit, main, plural
from chmd.config import LoadedConfig


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
    loaded = load_config_or_exit(config, "nothing started")
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

"""`chmd rules test FILE…` (like `promtool test rules`) and `chmd rules check FILE…`."""

from __future__ import annotations

from pathlib import Path

import click

from chmd.cli import EXIT_FAILURE, exit_config_error, main, plural
from chmd.errors import ConfigError


@main.group()
def rules() -> None:
    """Check and unit-test rule files."""


@rules.command("test")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("-v", "--verbose", is_flag=True, help="Also list the cases that pass.")
def test_rules(files: tuple[Path, ...], verbose: bool) -> None:
    """Run rule test files (input series over time, alerts expected at instants).

    Prints PASS/FAIL per case; exits 1 if any case fails, 78 if a file is invalid.
    """
    from chmd.rules.testing import run_test_file

    failed = passed = 0
    for path in files:
        try:
            results = run_test_file(path)
        except ConfigError as exc:
            exit_config_error(exc.problems)
        for result in results:
            if result.passed:
                passed += 1
                if verbose:
                    click.echo(f"PASS {path}: {result.name}")
                continue
            failed += 1
            click.echo(f"FAIL {path}: {result.name}")
            for failure in result.failures:
                click.echo(f"  {failure}")
    click.echo(f"{plural(passed, 'case')} passed, {failed} failed")
    if failed:
        raise SystemExit(EXIT_FAILURE)


@rules.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def check_rules(files: tuple[Path, ...]) -> None:
    """Validate rule files; print every problem as file:line:column (exit 78 if any)."""
    from chmd.rules.load import load_rule_files

    try:
        ruleset = load_rule_files(list(files))
    except ConfigError as exc:
        exit_config_error([*exc.problems, plural(len(exc.problems), "error")])
    click.echo(f"{plural(len(ruleset.rules), 'rule')} in {plural(len(files), 'file')}: OK")

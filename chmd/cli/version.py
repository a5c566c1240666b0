"""`chmd version`: the chmd version, and the versions of the libraries that talk to devices."""

from __future__ import annotations

import platform
from importlib import metadata

import click

from chmd import __version__, native
from chmd.cli import main

LIBRARIES = ("pysnmp", "asyncssh", "influxdb-client", "apprise", "pydantic", "structlog")


def _version_of(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@main.command()
@click.option("--verbose", "-v", is_flag=True, help="Also show Python and library versions.")
def version(verbose: bool) -> None:
    """Print chmd's version."""
    click.echo(f"chmd {__version__}")
    if verbose:
        click.echo(f"python {platform.python_version()}")
        click.echo(f"hot path: {native.guard().reason}")
        for name in LIBRARIES:
            click.echo(f"{name} {_version_of(name)}")

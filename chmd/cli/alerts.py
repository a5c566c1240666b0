"""`chmd alerts`: the current alerts, as the running daemon last saved them in its state dir."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from chmd.cli import EXIT_FAILURE, config_option, load_config_or_exit, main, state_dir_option
from chmd.errors import ChmdError
from chmd.model import Alert, AlertState

_ORDER = {
    AlertState.FIRING: 0,
    AlertState.PENDING: 1,
    AlertState.RESOLVED: 2,
    AlertState.INACTIVE: 3,
}


@main.group(invoke_without_command=True)
@click.pass_context
@config_option
@state_dir_option
@click.option(
    "-a", "--all", "show_all", is_flag=True, help="Include resolved alerts still remembered."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def alerts(
    ctx: click.Context, config: Path, state_dir: Path | None, show_all: bool, fmt: str
) -> None:
    """List current alerts: state, since, severity, rule, value, summary."""
    if ctx.invoked_subcommand is not None:
        return  # `chmd alerts ack ID` (registered by chmd.cli.notify)
    from chmd.rules.persist import read_alerts

    if state_dir is None:
        state_dir = Path(load_config_or_exit(config).config.state_dir)
    try:
        found, saved = read_alerts(state_dir)
    except ChmdError as exc:
        click.echo(f"chmd alerts: {exc}", err=True)
        raise SystemExit(EXIT_FAILURE) from exc
    shown = [a for a in found if show_all or a.state in (AlertState.PENDING, AlertState.FIRING)]
    shown.sort(key=lambda a: (_ORDER[a.state], -a.severity.rank, a.active_since))
    if fmt == "json":
        click.echo(json.dumps([_json(a) for a in shown], indent=2))
        return
    if saved is None:
        click.echo(f"no alert state in {state_dir} (is the daemon running with this state_dir?)")
        return
    click.echo(render_table(shown, saved))


def _since(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _value(alert: Alert) -> str:
    return "" if alert.value is None else f"{alert.value:.6g}"


def render_table(shown: list[Alert], saved: datetime) -> str:
    """Fixed-width table, most urgent first; the header says when the daemon saved it."""
    rows = [("STATE", "SINCE", "SEVERITY", "RULE", "VALUE", "SUMMARY")]
    for alert in shown:
        state = alert.state.value + (" (flapping)" if alert.flapping else "")
        since = alert.resolved_at if alert.state is AlertState.RESOLVED else alert.active_since
        rows.append(
            (
                state,
                _since(since or alert.active_since),
                alert.severity.value,
                alert.rule,
                _value(alert),
                alert.summary,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"# state saved {_since(saved)}; {len(shown)} alert(s)"]
    for row in rows:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)) + "  " + row[5]
        )
    return "\n".join(line.rstrip() for line in lines)


def _json(alert: Alert) -> dict[str, object]:
    return {
        "rule": alert.rule,
        "fingerprint": alert.fingerprint,
        "state": alert.state.value,
        "severity": alert.severity.value,
        "labels": dict(alert.labels),
        "value": alert.value,
        "summary": alert.summary,
        "description": alert.description,
        "active_since": alert.active_since.isoformat(),
        "fired_at": alert.fired_at.isoformat() if alert.fired_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "flapping": alert.flapping,
        "annotations": dict(alert.annotations),
    }


# `chmd alerts ack ID [--comment]` lives with the notification stage (chmd/cli/notify.py).
from chmd.cli.notify import ack_command  # noqa: E402

ack_command(alerts)

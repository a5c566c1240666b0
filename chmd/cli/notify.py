"""`chmd notify test RECEIVER`, `chmd routes test LABEL=VALUE…` and `chmd alerts ack ID`.

`notify test` sends one test message through the receiver's Apprise URLs (with the
configured retries) and reports the delivery, like `amtool`'s receiver tests.
`routes test` prints which receivers an alert with those labels reaches, like
`amtool config routes test`. `alerts ack` acknowledges a firing alert by id.
"""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime
from pathlib import Path

import click
from prometheus_client import CollectorRegistry

from chmd.cli import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    config_option,
    load_config_or_exit,
    main,
    state_dir_option,
)
from chmd.configtypes import format_duration
from chmd.errors import NotifyError
from chmd.model import Notification
from chmd.notify.settings import NotifySettings


def load_notify(config: Path) -> tuple[NotifySettings, Path]:
    """The `notify:` section and the state dir of chmd.yaml; exits 78 when it is invalid."""
    loaded = load_config_or_exit(config)
    return loaded.config.notify, Path(loaded.config.state_dir)


@main.group()
def notify() -> None:
    """Notification receivers."""


@notify.command("test")
@config_option
@click.argument("receiver")
@click.option("--message", default="This is a test notification from chmd.", show_default=True)
def notify_test(config: Path, receiver: str, message: str) -> None:
    """Send a test message to RECEIVER and report the delivery (exit 1 if it failed)."""
    from chmd.notify.apprise_client import targets_for
    from chmd.notify.dispatcher import Dispatcher, Outcome, ReceiverClient
    from chmd.notify.metrics import NotifyMetrics

    settings, _ = load_notify(config)
    if receiver not in settings.receivers:
        known = ", ".join(sorted(settings.receivers)) or "none defined"
        click.echo(f"chmd notify test: no receiver {receiver!r} (receivers: {known})", err=True)
        raise SystemExit(EXIT_FAILURE)
    spec = settings.receivers[receiver]
    try:
        client = ReceiverClient(receiver, targets_for(receiver, spec), spec.format)
    except NotifyError as exc:
        click.echo(f"chmd notify test: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from exc
    registry = CollectorRegistry()
    metrics = NotifyMetrics(registry)
    dispatcher = Dispatcher({receiver: client}, settings.delivery, metrics)
    now = datetime.now(UTC)
    note = Notification(
        receiver, f"[TEST] chmd test notification {now:%H:%M:%S}Z", message, False, ()
    )
    outcome = asyncio.run(dispatcher.send_now(note, "info"))
    attempts = {
        s.labels["outcome"]: int(s.value)
        for m in metrics.attempts.collect()
        for s in m.samples
        if s.name.endswith("_total")
    }
    tried = ", ".join(f"{k} {v}" for k, v in sorted(attempts.items()))
    click.echo(f"{receiver}: {outcome} ({len(client.targets)} target(s); attempts: {tried})")
    if outcome is not Outcome.DELIVERED:
        click.echo(f"last error: {dispatcher.last_error(receiver)}", err=True)
        raise SystemExit(EXIT_FAILURE)


@main.group()
def routes() -> None:
    """The notification routing tree."""


@routes.command("test")
@config_option
@click.argument("labels", nargs=-1, required=True)
def routes_test(config: Path, labels: tuple[str, ...]) -> None:
    """Print the receivers an alert with LABELS (name=value …) reaches.

    Use rule=NAME and severity=LEVEL for the rule and severity; exit 1 when no route
    matches (only possible when the root route has matchers).
    """
    from chmd.alerts.routing import compile_routes, match_routes

    settings, _ = load_notify(config)
    given = {}
    for item in labels:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: write name=value", param_hint="LABELS")
        given[name] = value
    given.setdefault("alertname", given.get("rule", ""))
    root = compile_routes(settings)
    if root is None:
        click.echo("no `notify.route` configured: alerts reach no receiver")
        raise SystemExit(EXIT_FAILURE)
    nodes = match_routes(root, given)
    if not nodes:
        click.echo("no route matches")
        raise SystemExit(EXIT_FAILURE)
    click.echo(",".join(dict.fromkeys(n.receiver for n in nodes)))
    for node in nodes:
        steps = "; ".join(
            f"after {format_duration(s.after_s)}: {','.join(s.receivers)}" for s in node.escalation
        )
        click.echo(
            f"  route {node.id}: receiver {node.receiver}, group_by {list(node.group_by)}, "
            f"group_wait {format_duration(node.group_wait_s)}, "
            f"group_interval {format_duration(node.group_interval_s)}, "
            f"repeat_interval {format_duration(node.repeat_interval_s)}, "
            f"send_resolved {str(node.send_resolved).lower()}"
            + (f", escalation [{steps}]" if steps else "")
        )


def ack_command(alerts_group: click.Group) -> None:
    """Register `ack` on the `chmd alerts` group (called by chmd.cli.alerts)."""

    @alerts_group.command("ack")
    @config_option
    @click.argument("alert_id")
    @click.option("--comment", default="", help="Why, or who is on it.")
    @click.option("--by", default=None, help="Who acknowledges  [default: the login name]")
    @state_dir_option
    def ack(
        config: Path, alert_id: str, comment: str, by: str | None, state_dir: Path | None
    ) -> None:
        """Acknowledge firing alert ALERT_ID (a fingerprint or a unique prefix of it).

        Stops repeats and escalation until the alert resolves or its severity rises.
        """
        from chmd.alerts.acks import AckError, ack_alert

        if state_dir is None:
            state_dir = load_notify(config)[1]
        who = by or getpass.getuser()
        now = datetime.now(UTC)
        try:
            done = ack_alert(state_dir, alert_id, comment, who, now)
        except AckError as exc:
            click.echo(f"chmd alerts ack: {exc}", err=True)
            raise SystemExit(EXIT_FAILURE) from exc
        click.echo(f"acknowledged {done.fingerprint} ({done.severity}) as {who}")

"""`chmd silence add|list|expire`: run-time silences kept in the state dir.

    chmd silence add device=core-sw1 --for 2h --comment "IOS upgrade, CHG-1234"
    chmd silence add rule=interface_down 'group=campus' --until 2026-12-01T06:00:00+01:00
    chmd silence list
    chmd silence expire 3f9c

The running daemon picks changes up at its next evaluation tick.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from chmd.cli import EXIT_FAILURE, config_option, main, state_dir_option
from chmd.cli.notify import load_notify
from chmd.configtypes import parse_duration


def _state_dir(config: Path, state_dir: Path | None) -> Path:
    """`<state_dir>/notify` of chmd.yaml's (or the given) state dir."""
    from chmd.alerts.snapshot import notify_state_dir

    return notify_state_dir(state_dir if state_dir is not None else load_notify(config)[1])


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if moment else "-"


@main.group()
def silence() -> None:
    """Silences: mute matching alerts for a while (maintenance)."""


@silence.command("add")
@config_option
@state_dir_option
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", default=None, help="How long, e.g. 30m, 2h, 1d.")
@click.option("--until", "until", default=None, help="End time, ISO 8601 with zone.")
@click.option(
    "--start", "start", default=None, help="Start time, ISO 8601 with zone [default: now]"
)
@click.option("--comment", required=True, help="Why (shown in `silence list` and the audit log).")
@click.option("--by", default=None, help="Who  [default: the login name]")
def silence_add(
    config: Path,
    state_dir: Path | None,
    matchers: tuple[str, ...],
    duration: str | None,
    until: str | None,
    start: str | None,
    comment: str,
    by: str | None,
) -> None:
    """Silence alerts matching every MATCHER (label=value, label!=value, label=~regex)."""
    from chmd.alerts.audit import AuditEvent, AuditLog
    from chmd.alerts.silences import SilenceStore, new_silence

    if (duration is None) == (until is None):
        raise click.UsageError("give exactly one of --for DURATION or --until TIME")
    now = datetime.now(UTC)
    try:
        starts = _parse_time(start) if start else now
        ends = _parse_time(until) if until else starts + timedelta(seconds=parse_duration(duration))
        made = new_silence(list(matchers), starts, ends, comment, by or getpass.getuser())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    directory = _state_dir(config, state_dir)
    SilenceStore(directory).add(made)
    AuditLog(directory).append(
        AuditEvent(
            "silence_add",
            now,
            {
                "id": made.id,
                "matchers": " ".join(str(m) for m in made.matchers),
                "ends_at": ends.isoformat(),
                "by": made.created_by,
                "comment": comment,
            },
        )
    )
    click.echo(f"{made.id}  until {_when(ends)}  {' '.join(str(m) for m in made.matchers)}")


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r}: give a time zone, e.g. {text}+01:00 or {text}Z")
    return moment


@silence.command("list")
@config_option
@state_dir_option
@click.option("-a", "--all", "show_all", is_flag=True, help="Include expired silences.")
def silence_list(config: Path, state_dir: Path | None, show_all: bool) -> None:
    """List silences and the YAML maintenance windows."""
    from chmd.alerts.silences import SilenceStore, maintenance_windows
    from chmd.alerts.snapshot import notify_state_dir

    settings, directory = load_notify(config) if state_dir is None else (None, state_dir)
    directory = notify_state_dir(directory)
    now = datetime.now(UTC)
    rows = [("ID", "STATE", "STARTS", "ENDS", "BY", "MATCHERS", "COMMENT")]
    found = list(SilenceStore(directory).all())
    if settings is not None:
        found = list(maintenance_windows(settings)) + found
    for s in found:
        if s.expired(now) and not show_all:
            continue
        state = "active" if s.active(now) else "expired" if s.expired(now) else "pending"
        if s.recurring:
            state += " (recurring)"
        matchers = " ".join(str(m) for m in s.matchers)
        rows.append(
            (s.id, state, _when(s.starts_at), _when(s.ends_at), s.created_by, matchers, s.comment)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for row in rows:
        click.echo(
            (
                "  ".join(c.ljust(w) for c, w in zip(row[:6], widths, strict=True)) + "  " + row[6]
            ).rstrip()
        )


@silence.command("expire")
@config_option
@state_dir_option
@click.argument("silence_id")
@click.option("--by", default=None, help="Who  [default: the login name]")
def silence_expire(config: Path, state_dir: Path | None, silence_id: str, by: str | None) -> None:
    """End silence SILENCE_ID (or a unique prefix of it) now."""
    from chmd.alerts.audit import AuditEvent, AuditLog
    from chmd.alerts.silences import SilenceStore

    directory = _state_dir(config, state_dir)
    now = datetime.now(UTC)
    try:
        done = SilenceStore(directory).expire(silence_id, now)
    except KeyError as exc:
        click.echo(f"chmd silence expire: {exc.args[0]}", err=True)
        raise SystemExit(EXIT_FAILURE) from exc
    AuditLog(directory).append(
        AuditEvent("silence_expire", now, {"id": done.id, "by": by or getpass.getuser()})
    )
    click.echo(f"expired {done.id}")

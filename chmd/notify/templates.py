"""Message templates: `string.Template` text (`$name` / `${name}`), checked at load.

A message is a *title* and a *body* about one group of alerts; the body's `$alerts`
is each alert rendered with the *alert line* template, one after the other. The
defaults read well in email, chat and SMS: the title alone says what, where and how
bad; each alert line is short and carries its ack link.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from string import Template

from chmd.configtypes import format_duration
from chmd.model import Alert, AlertState, Severity

DEFAULT_TITLE = "[$STATUS] $SEVERITY $device: $headline$note"
DEFAULT_BODY = "$alerts"
DEFAULT_ALERT_LINE = (
    "$STATE $SEVERITY $rule on $device$where$at_site: $summary\n"
    "  value $value, since $since ($duration), id $id$ack_line"
)

GROUP_FIELDS = frozenset(
    {
        "STATUS",
        "status",
        "SEVERITY",
        "severity",
        "device",
        "site",
        "rule",
        "headline",
        "note",
        "count",
        "firing",
        "resolved",
        "receiver",
        "alerts",
    }
)
ALERT_FIELDS = frozenset(
    {
        "STATE",
        "state",
        "SEVERITY",
        "severity",
        "rule",
        "device",
        "site",
        "role",
        "ifName",
        "where",
        "at_site",
        "summary",
        "description",
        "value",
        "since",
        "duration",
        "id",
        "fingerprint",
        "ack_url",
        "ack_line",
        "resolved_at",
    }
)


def check_template(text: str, fields: frozenset[str] = GROUP_FIELDS | ALERT_FIELDS) -> None:
    """Raise ValueError for bad `$` syntax or an unknown field name."""
    template = Template(text)
    if not template.is_valid():
        raise ValueError("bad template: write $name or ${name}, and $$ for a dollar sign")
    unknown = sorted(set(template.get_identifiers()) - fields)
    if unknown:
        raise ValueError(
            f"unknown template field(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )


@dataclass(frozen=True, slots=True)
class Templates:
    title: str = DEFAULT_TITLE
    body: str = DEFAULT_BODY
    alert_line: str = DEFAULT_ALERT_LINE


AckUrl = Callable[[Alert], str | None]


def _fmt_time(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""


def _fmt_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.6g}"


def _common(values: Sequence[str], plural: str) -> str:
    distinct = sorted({v for v in values if v})
    if len(distinct) == 1:
        return distinct[0]
    return f"{len(distinct)} {plural}" if distinct else ""


def alert_fields(alert: Alert, now: datetime, ack_url: AckUrl) -> dict[str, str]:
    url = ack_url(alert) if alert.state is AlertState.FIRING else None
    since = alert.fired_at or alert.active_since
    end = alert.resolved_at if alert.state is AlertState.RESOLVED and alert.resolved_at else now
    if_name = alert.label("ifName")
    return {
        "STATE": str(alert.state).upper(),
        "state": str(alert.state),
        "SEVERITY": str(alert.severity).upper(),
        "severity": str(alert.severity),
        "rule": alert.rule,
        "device": alert.label("device", "?"),
        "site": alert.label("site"),
        "role": alert.label("role"),
        "ifName": if_name,
        "where": f" {if_name}" if if_name else "",
        "at_site": f" at site {site}" if (site := alert.label("site")) else "",
        "summary": alert.summary or alert.rule,
        "description": alert.description,
        "value": _fmt_value(alert.value),
        "since": _fmt_time(since),
        "duration": format_duration(max(0, int((end - since).total_seconds()))),
        "id": alert.fingerprint[:12],
        "fingerprint": alert.fingerprint,
        "ack_url": url or "",
        "ack_line": f"\n  ack: {url}" if url else "",
        "resolved_at": _fmt_time(alert.resolved_at),
    }


def render(
    templates: Templates,
    receiver: str,
    alerts: Sequence[Alert],
    now: datetime,
    ack_url: AckUrl,
    note: str = "",
) -> tuple[str, str]:
    """(title, body) for one group of alerts. Firing alerts come first, worst first."""
    ordered = sorted(
        alerts, key=lambda a: (a.state is AlertState.RESOLVED, -a.severity.rank, a.fingerprint)
    )
    firing = [a for a in ordered if a.state is not AlertState.RESOLVED]
    worst = max(
        (a.severity for a in firing or ordered), key=lambda s: s.rank, default=Severity.INFO
    )
    rules = [a.rule for a in ordered]
    if len(ordered) == 1:
        headline = ordered[0].summary or ordered[0].rule
    else:
        counts = {r: rules.count(r) for r in sorted(set(rules))}
        parts = [f"{r} x{n}" if n > 1 else r for r, n in counts.items()]
        headline = f"{len(ordered)} alerts: {', '.join(parts)}"
    lines = [
        Template(templates.alert_line).safe_substitute(alert_fields(a, now, ack_url))
        for a in ordered
    ]
    status = "firing" if firing else "resolved"
    fields = {
        "STATUS": status.upper(),
        "status": status,
        "SEVERITY": str(worst).upper(),
        "severity": str(worst),
        "device": _common([a.label("device") for a in ordered], "devices"),
        "site": _common([a.label("site") for a in ordered], "sites"),
        "rule": _common(rules, "rules"),
        "headline": headline,
        "note": f" ({note})" if note else "",
        "count": str(len(ordered)),
        "firing": str(len(firing)),
        "resolved": str(len(ordered) - len(firing)),
        "receiver": receiver,
        "alerts": "\n\n".join(lines),
    }
    title = Template(templates.title).safe_substitute(fields)
    body = Template(templates.body).safe_substitute(fields)
    return title, body


def notify_type(alerts: Sequence[Alert]) -> str:
    firing = [a for a in alerts if a.state is not AlertState.RESOLVED]
    if not firing:
        return "success"
    worst = max(a.severity.rank for a in firing)
    if worst >= Severity.MAJOR.rank:
        return "failure"
    return "warning" if worst >= Severity.WARNING.rank else "info"

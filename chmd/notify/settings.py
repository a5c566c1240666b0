"""`notify:` section of etc/chmd.yaml (owned by the notification stage).

Receivers (Apprise URLs are secrets), the routing tree, named time intervals,
inhibition rules, maintenance windows, acknowledgement links and delivery limits.
Every cross-reference (receiver names, interval names, matchers, templates) is
checked here, at load, so `chmd check` proves the section before the daemon starts.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from chmd.alerts.matchers import parse_matcher
from chmd.alerts.timeintervals import compile_interval
from chmd.configtypes import Duration, Secret, SecretValue, StrictModel
from chmd.notify.templates import check_template

DEVICE_UNREACHABLE_RULE = "device_unreachable"


class Receiver(StrictModel):
    """A named destination: one or more Apprise URLs and/or an Apprise config file."""

    urls: list[SecretValue] = Field(default_factory=list)  # Apprise URLs carry tokens: secrets
    config: str | None = None  # path of an Apprise config file (text or YAML)
    title: str | None = None  # template overrides; None → the defaults in chmd.notify.templates
    body: str | None = None
    alert_line: str | None = None
    format: str = "text"  # Apprise body format: text | markdown | html

    @field_validator("title", "body", "alert_line")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            check_template(value)
        return value

    @field_validator("urls")
    @classmethod
    def _apprise_urls(cls, urls: list[Secret]) -> list[Secret]:
        from chmd.notify.apprise_client import recognises  # heavy: only with receivers

        for i, url in enumerate(urls):
            if not recognises(url.reveal()):
                text = url.reveal()
                scheme = text.partition("://")[0] if "://" in text else "?"
                raise ValueError(
                    f"urls[{i}]: Apprise does not recognise this URL (scheme {scheme!r})"
                )
        return urls

    @field_validator("config")
    @classmethod
    def _config_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A relative Apprise config path is relative to chmd.yaml's directory."""
        base = (info.context or {}).get("base_dir")
        if value is None or not isinstance(base, Path) or Path(value).is_absolute():
            return value
        return str(base / value)

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value not in ("text", "markdown", "html"):
            raise ValueError("format must be text, markdown or html")
        return value

    @model_validator(mode="after")
    def _has_target(self) -> Receiver:
        if not self.urls and not self.config:
            raise ValueError("a receiver needs `urls:` (Apprise URLs) or `config:` (a file)")
        return self


class TimeRange(StrictModel):
    start: str  # HH:MM, local to the interval's location
    end: str  # HH:MM (24:00 allowed)


class TimeIntervalSpec(StrictModel):
    """Weekdays and times in a zone; omitted weekdays/times mean every day/all day."""

    weekdays: list[str] = Field(default_factory=list)  # monday, monday:friday
    times: list[TimeRange] = Field(default_factory=list)
    location: str = "UTC"

    @model_validator(mode="after")
    def _compiles(self) -> TimeIntervalSpec:
        compile_interval(self.weekdays, [(t.start, t.end) for t in self.times], self.location)
        return self


def _check_matchers(values: list[str]) -> list[str]:
    for text in values:
        parse_matcher(text)
    return values


class EscalationStep(StrictModel):
    """After `after` still firing and not acknowledged, also notify `receivers`."""

    after: Duration
    receivers: list[str]


class Route(StrictModel):
    """A node of the routing tree; unset timings and receiver inherit from the parent."""

    receiver: str | None = None
    matchers: list[str] = Field(default_factory=list)
    continue_: bool = Field(False, alias="continue")
    group_by: list[str] | None = None  # ["..."] groups by every label
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    send_resolved: bool | None = None
    active_time_intervals: list[str] = Field(default_factory=list)
    mute_time_intervals: list[str] = Field(default_factory=list)
    escalation: list[EscalationStep] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)

    _matchers = field_validator("matchers")(_check_matchers)


class InhibitRule(StrictModel):
    """While an alert matching `source` fires, alerts matching `target` that share the
    `equal` labels are muted (the source itself never inhibits itself)."""

    source: list[str]
    target: list[str] = Field(default_factory=list)
    equal: list[str] = Field(default_factory=list)

    _source = field_validator("source", "target")(_check_matchers)


DEFAULT_INHIBIT_RULES = [
    InhibitRule(
        source=[f"rule={DEVICE_UNREACHABLE_RULE}"],
        target=[f"rule!={DEVICE_UNREACHABLE_RULE}"],
        equal=["device"],
    )
]


class MaintenanceWindow(StrictModel):
    """A silence from YAML: one-off (`starts_at`/`ends_at`) and/or recurring (`time_intervals`)."""

    name: str
    matchers: list[str]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    time_intervals: list[str] = Field(default_factory=list)
    comment: str = ""

    _matchers = field_validator("matchers")(_check_matchers)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-12-01T22:00:00+01:00 or …Z")
        return value

    @model_validator(mode="after")
    def _bounded(self) -> MaintenanceWindow:
        if not self.matchers:
            raise ValueError("a maintenance window needs at least one matcher")
        if not self.time_intervals and self.ends_at is None:
            raise ValueError("give `ends_at:` (one-off) or `time_intervals:` (recurring)")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class AckSettings(StrictModel):
    """Signed acknowledgement links in messages (none without a key and a base URL)."""

    secret_key: SecretValue | None = None  # HMAC-SHA256 key; e.g. credential:chmd-ack-key
    base_url: str | None = (
        None  # how users reach chmd's HTTP listener, e.g. https://chmd.example:9108
    )
    link_ttl: Duration = 86400.0


class DeliverySettings(StrictModel):
    attempts: int = Field(5, ge=1)  # per receiver target, first try included
    backoff_initial: Duration = 2.0
    backoff_max: Duration = 60.0
    timeout: Duration = 30.0  # one Apprise call
    storm_limit: int = Field(30, ge=1)  # messages per receiver per storm_window
    storm_window: Duration = 300.0
    queue_size: int = Field(1000, ge=1)  # per receiver; beyond it, held back like a storm


class NotifySettings(StrictModel):
    receivers: dict[str, Receiver] = Field(default_factory=dict)
    route: Route | None = None  # None: no notifications (alerts are still tracked)
    time_intervals: dict[str, list[TimeIntervalSpec]] = Field(default_factory=dict)
    inhibit_rules: list[InhibitRule] = Field(default_factory=lambda: list(DEFAULT_INHIBIT_RULES))
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    ack: AckSettings = Field(default_factory=AckSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)

    @model_validator(mode="before")
    @classmethod
    def _empty_keys(cls, data: Any) -> Any:
        """A key written with only comments under it (`delivery:`) means its defaults."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data

    @model_validator(mode="after")
    def _references(self) -> NotifySettings:
        if self.route is not None:
            if self.route.receiver is None:
                raise ValueError("route: the root route needs `receiver:`")
            self._check_route(self.route, "route")
        for window in self.maintenance:
            self._check_intervals(window.time_intervals, f"maintenance {window.name!r}")
        return self

    def _check_route(self, route: Route, where: str) -> None:
        names = [route.receiver] if route.receiver else []
        names += [r for step in route.escalation for r in step.receivers]
        for name in names:
            if name not in self.receivers:
                known = ", ".join(sorted(self.receivers)) or "none defined"
                raise ValueError(f"{where}: unknown receiver {name!r} (receivers: {known})")
        self._check_intervals(route.active_time_intervals + route.mute_time_intervals, where)
        for i, child in enumerate(route.routes):
            self._check_route(child, f"{where}.routes[{i}]")

    def _check_intervals(self, names: list[str], where: str) -> None:
        for name in names:
            if name not in self.time_intervals:
                known = ", ".join(sorted(self.time_intervals)) or "none defined"
                raise ValueError(
                    f"{where}: unknown time interval {name!r} (time_intervals: {known})"
                )

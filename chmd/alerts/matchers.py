"""Label matchers, written as Alertmanager writes them: `name=value`, `name!=value`,
`name=~regex`, `name!~regex` (values may be double-quoted).

An alert is matched against its *match labels*: its own labels plus `rule` (also
spelled `alertname`) and `severity`. `group` and `tag` are set matchers: `group=core`
matches when `core` is one of the comma-separated names in the `groups` label (`tags`
for `tag`), so a device in several inventory groups can be silenced by any of them.
Matchers are compiled once, at config load (regexes are anchored, as in Prometheus).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from chmd.model import Alert

Op = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
_SET_LABELS = {"group": "groups", "tag": "tags"}


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.name in _SET_LABELS and self.name not in labels:
            members = [m for m in labels.get(_SET_LABELS[self.name], "").split(",") if m]
            hit = any(self._value_matches(m) for m in members)
            return hit if self.op in ("=", "=~") else not hit
        value = labels.get(self.name, "")
        positive = self._value_matches(value)
        return positive if self.op in ("=", "=~") else not positive

    def _value_matches(self, value: str) -> bool:
        if self.pattern is not None:
            return self.pattern.fullmatch(value) is not None
        return value == self.value

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    """`device=~"core-.*"` → Matcher. Raises ValueError naming the problem."""
    match = _MATCHER.match(text)
    if not match:
        raise ValueError(f"bad matcher {text!r} (write label=value, label!=value, label=~regex)")
    name, op, raw = match.group(1), match.group(2), match.group(3)
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1].replace('\\"', '"')
    pattern = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(raw)
        except re.error as exc:
            raise ValueError(f"bad regex in matcher {text!r}: {exc}") from exc
    return Matcher(name, op, raw, pattern)  # type: ignore[arg-type]  # op is one of the four


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(t) for t in texts)


def match_labels(alert: Alert) -> dict[str, str]:
    """The labels matchers see: the alert's labels plus rule/alertname and severity."""
    labels = dict(alert.labels)
    labels.setdefault("rule", alert.rule)
    labels.setdefault("alertname", alert.rule)
    labels.setdefault("severity", str(alert.severity))
    return labels


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def device_labels(devices: Iterable[Any]) -> dict[str, dict[str, str]]:
    """Per-device extra labels for routing and silences: the inventory tags (site, role, …)
    and, when the inventory provides them, `groups` as a comma-separated list."""
    labels: dict[str, dict[str, str]] = {}
    for device in devices:
        extra = dict(getattr(device, "tags", {}) or {})
        groups = getattr(device, "groups", None)
        if groups:
            extra["groups"] = ",".join(groups)
        labels[str(device.name)] = extra
    return labels

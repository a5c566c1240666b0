"""Inhibition: a firing *source* alert mutes *target* alerts sharing the `equal` labels.

Shipped default (`notify.inhibit_rules`): a firing `device_unreachable` alert mutes
every other alert of the same device, so a switch going down is one message, not one
per port. Pure: the caller passes the firing alerts' match labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chmd.alerts.matchers import Matcher, matches_all, parse_matchers
from chmd.notify.settings import NotifySettings


@dataclass(frozen=True, slots=True)
class Inhibition:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def mutes(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        return (
            matches_all(self.source, source)
            and matches_all(self.target, target)
            and all(source.get(name, "") == target.get(name, "") for name in self.equal)
        )


def compile_inhibitions(settings: NotifySettings) -> tuple[Inhibition, ...]:
    return tuple(
        Inhibition(parse_matchers(r.source), parse_matchers(r.target), tuple(r.equal))
        for r in settings.inhibit_rules
    )


def inhibiting_alert(
    rules: Sequence[Inhibition],
    firing: Mapping[str, Mapping[str, str]],
    fingerprint: str,
    labels: Mapping[str, str],
) -> str | None:
    """The fingerprint of a firing alert that inhibits this one, or None.

    `firing` maps each firing alert's fingerprint to its match labels; an alert never
    inhibits itself.
    """
    for rule in rules:
        for source_fp, source in firing.items():
            if source_fp != fingerprint and rule.mutes(source, labels):
                return source_fp
    return None

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


class InhibitionIndex:
    """The firing source alerts of every rule, indexed by their `equal` label values, so
    checking a target costs one lookup per rule instead of a scan of every firing alert."""

    def __init__(
        self, rules: Sequence[Inhibition], firing: Mapping[str, Mapping[str, str]]
    ) -> None:
        self._rules = rules
        self._sources: list[dict[tuple[str, ...], list[str]]] = []
        for rule in rules:
            index: dict[tuple[str, ...], list[str]] = {}
            for fp, labels in firing.items():
                if matches_all(rule.source, labels):
                    index.setdefault(_key(rule, labels), []).append(fp)
            self._sources.append(index)

    def inhibited_by(self, fingerprint: str, labels: Mapping[str, str]) -> str | None:
        """The fingerprint of a firing alert that inhibits this one (never itself), or None."""
        for rule, index in zip(self._rules, self._sources, strict=True):
            if not index or not matches_all(rule.target, labels):
                continue
            for source in index.get(_key(rule, labels), ()):
                if source != fingerprint:
                    return source
        return None


def _key(rule: Inhibition, labels: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(labels.get(name, "") for name in rule.equal)


def inhibiting_alert(
    rules: Sequence[Inhibition],
    firing: Mapping[str, Mapping[str, str]],
    fingerprint: str,
    labels: Mapping[str, str],
) -> str | None:
    """The fingerprint of a firing alert that inhibits this one, or None.

    `firing` maps each firing alert's fingerprint to its match labels; an alert never
    inhibits itself. (One-off form of `InhibitionIndex`.)
    """
    return InhibitionIndex(rules, firing).inhibited_by(fingerprint, labels)

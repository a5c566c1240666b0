"""Inhibition: which firing source mutes which target (pure)."""

from __future__ import annotations

from chmd.alerts.inhibit import InhibitionIndex, compile_inhibitions
from chmd.notify.settings import NotifySettings

DOWN = {"rule": "device_unreachable", "device": "sw1", "severity": "critical"}
PORT = {"rule": "interface_down", "device": "sw1", "ifName": "Gi1/0/1", "severity": "major"}
OTHER = {"rule": "interface_down", "device": "sw2", "ifName": "Gi1/0/1", "severity": "major"}


def index(
    firing: dict[str, dict[str, str]], rules: list[dict[str, list[str]]] | None = None
) -> InhibitionIndex:
    cfg = NotifySettings.model_validate({} if rules is None else {"inhibit_rules": rules})
    return InhibitionIndex(compile_inhibitions(cfg), firing)


def test_default_rule_mutes_only_the_same_device() -> None:
    """A firing device_unreachable on sw1 mutes sw1's port alert, not sw2's, not itself."""
    idx = index({"down": DOWN, "port": PORT, "other": OTHER})
    assert idx.inhibited_by("port", PORT) == "down"
    assert idx.inhibited_by("other", OTHER) is None
    assert idx.inhibited_by("down", DOWN) is None


def test_no_source_firing_no_inhibition() -> None:
    """Without a firing source alert nothing is muted."""
    assert index({"port": PORT}).inhibited_by("port", PORT) is None


def test_configured_rule_replaces_default() -> None:
    """A custom rule (critical mutes warning on the same device) replaces the shipped one."""
    rules = [{"source": ["severity=critical"], "target": ["severity=warning"], "equal": ["device"]}]
    warning = {**PORT, "severity": "warning"}
    idx = index({"down": DOWN, "port": PORT, "warn": warning}, rules)
    assert idx.inhibited_by("warn", warning) == "down"
    assert idx.inhibited_by("port", PORT) is None

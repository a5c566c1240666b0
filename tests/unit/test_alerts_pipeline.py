"""AlertPipeline as a pure function of (alerts, now): no sockets, no sleeps.

A recording sender stands in for the dispatcher (the seam the pipeline is built
on); every delivery is confirmed at once unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chmd.alerts.pipeline import AlertPipeline
from chmd.alerts.silences import SilenceStore, new_silence
from chmd.model import Alert, AlertState, Notification, Severity
from chmd.notify.dispatcher import Outcome
from chmd.notify.settings import NotifySettings

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alert(
    rule: str = "interface_down",
    device: str = "sw1",
    if_name: str | None = "Gi1/0/1",
    severity: Severity = Severity.MAJOR,
    state: AlertState = AlertState.FIRING,
    since: float = 0,
    resolved: float | None = None,
) -> Alert:
    labels = {"device": device, "site": "zrh"}
    if if_name:
        labels["ifName"] = if_name
    fp = f"{rule}-{device}-{if_name}"
    return Alert(
        rule=rule,
        fingerprint=fp,
        labels=tuple(sorted(labels.items())),
        severity=severity,
        state=state,
        value=0.0,
        summary=f"{device} {if_name or ''} {rule}".strip(),
        description="",
        active_since=at(since),
        fired_at=at(since),
        resolved_at=at(resolved) if resolved is not None else None,
    )


def resolve(a: Alert, when: float) -> Alert:
    return replace(a, state=AlertState.RESOLVED, resolved_at=at(when))


@dataclass
class Sent:
    notification: Notification
    notify_type: str


class RecordingSender:
    def __init__(self, outcome: Outcome = Outcome.DELIVERED) -> None:
        self.sent: list[Sent] = []
        self.outcome = outcome
        self.held: list[Callable[[Outcome], None]] = []
        self.defer = False

    def submit(
        self,
        notification: Notification,
        notify_type: str,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.sent.append(Sent(notification, notify_type))
        if on_done is None:
            return
        if self.defer:
            self.held.append(on_done)
        else:
            on_done(self.outcome)

    def to(self, receiver: str) -> list[Notification]:
        return [s.notification for s in self.sent if s.notification.receiver == receiver]


def settings(top: dict[str, Any] | None = None, **route: Any) -> NotifySettings:
    base: dict[str, Any] = {
        "receiver": "ops",
        "group_by": ["device", "rule"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "1h",
    }
    base.update(route)
    return NotifySettings.model_validate(
        {
            "receivers": {
                "ops": {"urls": ["json://127.0.0.1:9/ops"]},
                "oncall": {"urls": ["json://127.0.0.1:9/oncall"]},
                "boss": {"urls": ["json://127.0.0.1:9/boss"]},
            },
            "route": base,
            "ack": {"secret_key": "k" * 32, "base_url": "https://chmd.example:9108"},
            **(top or {}),
        }
    )


def make(
    tmp_path: Path, cfg: NotifySettings | None = None
) -> tuple[AlertPipeline, RecordingSender]:
    sender = RecordingSender()
    return AlertPipeline(cfg or settings(), tmp_path, sender), sender


async def tick(
    p: AlertPipeline, active: list[Alert], t: float, changed: list[Alert] | None = None
) -> None:
    await p.process(changed or [], active, at(t))


async def test_group_waits_then_sends_one_message_for_the_group(tmp_path: Path) -> None:
    """Three ports of one device going down within group_wait make one message, after group_wait."""
    p, sender = make(tmp_path)
    ports = [alert(if_name=f"Gi1/0/{i}", since=i) for i in (1, 2, 3)]
    await tick(p, ports[:1], 0)
    await tick(p, ports[:2], 10)
    await tick(p, ports, 20)
    assert sender.sent == []
    await tick(p, ports, 30)
    assert len(sender.sent) == 1
    note = sender.sent[0].notification
    assert {a.fingerprint for a in note.alerts} == {a.fingerprint for a in ports}
    assert note.title == "[FIRING] MAJOR sw1: 3 alerts: interface_down x3"
    assert sender.sent[0].notify_type == "failure"


async def test_no_second_message_while_nothing_changes(tmp_path: Path) -> None:
    """After the first message, unchanged firing alerts are not re-sent before repeat_interval."""
    p, sender = make(tmp_path)
    a = alert()
    for t in range(0, 3600, 60):
        await tick(p, [a], t)
    assert len(sender.sent) == 1


async def test_repeat_after_repeat_interval(tmp_path: Path) -> None:
    """A still-firing group is re-sent as a reminder once repeat_interval (1h) has passed."""
    p, sender = make(tmp_path)
    a = alert()
    for t in range(0, 3600 + 30 + 301, 60):
        await tick(p, [a], t)
    assert len(sender.sent) == 2
    assert "(reminder)" in sender.sent[1].notification.title


async def test_recovery_message_names_the_resolved_alert(tmp_path: Path) -> None:
    """When the only alert resolves, the next flush sends one RESOLVED message of kind success."""
    p, sender = make(tmp_path)
    a = alert()
    await tick(p, [a], 0)
    await tick(p, [a], 30)
    done = resolve(a, 100)
    await tick(p, [], 100, changed=[done])
    await tick(p, [], 330)
    assert len(sender.sent) == 2
    recovery = sender.sent[1]
    assert recovery.notification.title.startswith("[RESOLVED]")
    assert recovery.notification.resolved
    assert recovery.notify_type == "success"
    assert [x.state for x in recovery.notification.alerts] == [AlertState.RESOLVED]


async def test_no_recovery_message_with_send_resolved_off(tmp_path: Path) -> None:
    """send_resolved: false records the recovery without a message."""
    p, sender = make(tmp_path, settings(send_resolved=False))
    a = alert()
    await tick(p, [a], 0)
    await tick(p, [a], 30)
    await tick(p, [], 100, changed=[resolve(a, 100)])
    await tick(p, [], 330)
    assert len(sender.sent) == 1


async def test_alert_resolved_before_group_wait_is_never_sent(tmp_path: Path) -> None:
    """A blip that fires and resolves within group_wait produces no message at all."""
    p, sender = make(tmp_path)
    a = alert()
    await tick(p, [a], 0)
    await tick(p, [], 10, changed=[resolve(a, 10)])
    for t in (30, 330, 630):
        await tick(p, [], t)
    assert sender.sent == []


async def test_silence_mutes_then_alert_is_sent_when_it_ends(tmp_path: Path) -> None:
    """Nothing is sent during a silence; an alert still firing when it ends is sent then."""
    p, sender = make(tmp_path)
    SilenceStore(tmp_path / "notify").add(
        new_silence(["device=sw1"], at(0), at(600), "maintenance", "test")
    )
    a = alert(since=60)
    for t in range(60, 600, 30):
        await tick(p, [a], t)
    assert sender.sent == []
    for t in range(600, 1000, 30):
        await tick(p, [a], t)
    assert len(sender.sent) == 1
    assert p.verdicts[a.fingerprint].visible


async def test_silence_by_inventory_group_mutes_only_that_groups_devices(tmp_path: Path) -> None:
    """`group=core` silences alerts of a device the inventory puts in group core (listed
    with another group), while the same alert of a device outside it is sent."""
    from chmd.alerts.matchers import device_labels
    from chmd.inventory.load import load_inventory

    inventory = tmp_path / "devices.yaml"
    inventory.write_text(
        "groups:\n  campus: {}\n  core: {tags: {role: core}}\n"
        "devices:\n"
        "  sw1: {host: 192.0.2.1, groups: [campus, core]}\n"
        "  sw2: {host: 192.0.2.2, groups: [campus]}\n",
        encoding="utf-8",
    )
    loaded = load_inventory([(inventory, "devices.yaml")], tmp_path)
    assert loaded.errors == []
    sender = RecordingSender()
    p = AlertPipeline(
        settings(), tmp_path, sender, device_labels=device_labels(loaded.inventory.devices)
    )
    SilenceStore(tmp_path / "notify").add(
        new_silence(["group=core"], at(0), at(3600), "core maintenance", "test")
    )
    muted, sent = alert(device="sw1", since=60), alert(device="sw2", since=60)
    for t in range(60, 600, 30):
        await tick(p, [muted, sent], t)
    assert [[a.fingerprint for a in n.alerts] for n in sender.to("ops")] == [[sent.fingerprint]]
    assert not p.verdicts[muted.fingerprint].visible


async def test_alert_resolved_inside_maintenance_window_is_never_sent(tmp_path: Path) -> None:
    """An alert that fires and resolves inside a YAML maintenance window produces no message."""
    cfg = settings(
        {"maintenance": [{"name": "upgrade", "matchers": ["site=zrh"], "ends_at": at(900)}]}
    )
    p, sender = make(tmp_path, cfg)
    a = alert(since=60)
    for t in range(60, 400, 30):
        await tick(p, [a], t)
    await tick(p, [], 400, changed=[resolve(a, 400)])
    for t in range(430, 1500, 30):
        await tick(p, [], t)
    assert sender.sent == []


async def test_device_unreachable_inhibits_port_alerts(tmp_path: Path) -> None:
    """Shipped inhibition: while a device is unreachable only that alert is sent for it."""
    p, sender = make(tmp_path)
    down = alert(rule="device_unreachable", if_name=None, severity=Severity.CRITICAL)
    ports = [alert(if_name=f"Gi1/0/{i}") for i in (1, 2)]
    other = alert(device="sw2")
    for t in range(0, 400, 30):
        await tick(p, [down, *ports, other], t)
    rules = sorted((n.alerts[0].rule, n.alerts[0].label("device")) for n in sender.to("ops"))
    assert rules == [("device_unreachable", "sw1"), ("interface_down", "sw2")]
    assert p.verdicts[ports[0].fingerprint].inhibited_by == down.fingerprint


async def test_escalates_to_second_receiver_after_step_time(tmp_path: Path) -> None:
    """Still firing and unacknowledged after 15m, the group is also sent to the step's receiver."""
    p, sender = make(tmp_path, settings(escalation=[{"after": "15m", "receivers": ["oncall"]}]))
    a = alert()
    for t in range(0, 900, 30):
        await tick(p, [a], t)
    assert sender.to("oncall") == []
    await tick(p, [a], 900)
    [escalated] = sender.to("oncall")
    assert "escalated" in escalated.title
    assert [e["event"] for e in p.audit.read()].count("escalation") == 1


async def test_second_step_after_sixty_minutes(tmp_path: Path) -> None:
    """Escalation steps run in order: oncall at 15m, boss at 60m, each once."""
    steps = [{"after": "15m", "receivers": ["oncall"]}, {"after": "60m", "receivers": ["boss"]}]
    p, sender = make(tmp_path, settings(escalation=steps, repeat_interval="4h"))
    a = alert()
    for t in range(0, 3700, 60):
        await tick(p, [a], t)
    assert (len(sender.to("oncall")), len(sender.to("boss"))) == (1, 1)


async def test_ack_stops_escalation_and_repeats(tmp_path: Path) -> None:
    """An acknowledged alert neither escalates nor repeats."""
    p, sender = make(tmp_path, settings(escalation=[{"after": "15m", "receivers": ["oncall"]}]))
    a = alert()
    for t in range(0, 300, 30):
        await tick(p, [a], t)
    p.ack(a.fingerprint, "alice", "looking", at(300))
    for t in range(300, 3 * 3600, 60):
        await tick(p, [a], t)
    assert len(sender.to("ops")) == 1
    assert sender.to("oncall") == []


async def test_ack_is_void_when_severity_rises(tmp_path: Path) -> None:
    """An ack of a major alert is void once the alert is critical: escalation resumes."""
    p, sender = make(tmp_path, settings(escalation=[{"after": "15m", "receivers": ["oncall"]}]))
    a = alert()
    await tick(p, [a], 0)
    p.ack(a.fingerprint, "alice", "", at(60))
    worse = replace(a, severity=Severity.CRITICAL)
    for t in range(60, 1000, 60):
        await tick(p, [worse], t)
    assert len(sender.to("oncall")) == 1


async def test_new_alert_in_group_is_sent_at_group_interval(tmp_path: Path) -> None:
    """A second port going down in an already-notified group is sent at the next group_interval."""
    p, sender = make(tmp_path)
    a, b = alert(if_name="Gi1/0/1"), alert(if_name="Gi1/0/2", since=100)
    await tick(p, [a], 0)
    await tick(p, [a], 30)
    await tick(p, [a, b], 100)
    await tick(p, [a, b], 300)
    assert len(sender.sent) == 1
    await tick(p, [a, b], 330)
    assert len(sender.sent) == 2
    assert len(sender.sent[1].notification.alerts) == 2


async def test_restart_does_not_resend(tmp_path: Path) -> None:
    """A new pipeline on the same state dir sends nothing for alerts already notified."""
    p, sender = make(tmp_path)
    a = alert()
    await tick(p, [a], 0)
    await tick(p, [a], 30)
    assert len(sender.sent) == 1
    p2, sender2 = make(tmp_path)
    for t in range(60, 1200, 30):
        await tick(p2, [a], t)
    assert sender2.sent == []


async def test_restart_announces_recovery_that_happened_while_down(tmp_path: Path) -> None:
    """An alert that is gone after a restart is announced as resolved (the log remembers it)."""
    p, _ = make(tmp_path)
    a = alert()
    await tick(p, [a], 0)
    await tick(p, [a], 30)
    p2, sender2 = make(tmp_path)
    await tick(p2, [], 600)
    assert [n.title.split()[0] for n in sender2.to("ops")] == ["[RESOLVED]"]


async def test_failed_delivery_is_retried_at_next_flush(tmp_path: Path) -> None:
    """A finally failed delivery is not recorded: the next flush sends it again."""
    p, sender = make(tmp_path)
    sender.outcome = Outcome.FAILED
    a = alert()
    await tick(p, [a], 0)
    await tick(p, [a], 30)
    sender.outcome = Outcome.DELIVERED
    await tick(p, [a], 60)
    assert len(sender.sent) == 1
    await tick(p, [a], 330)
    assert len(sender.sent) == 2


async def test_in_flight_delivery_is_not_duplicated(tmp_path: Path) -> None:
    """While a message is in flight, the next flush does not send the same change again."""
    p, sender = make(tmp_path)
    sender.defer = True
    a = alert()
    await tick(p, [a], 0)
    await tick(p, [a], 30)
    await tick(p, [a], 330)
    assert len(sender.sent) == 1


async def test_continue_sends_to_both_routes(tmp_path: Path) -> None:
    """A matching child with continue: true lets the alert reach the next matching sibling too."""
    cfg = settings(
        routes=[
            {"matchers": ["site=zrh"], "receiver": "oncall", "continue": True},
            {"matchers": ["severity=~major|critical"], "receiver": "boss"},
        ]
    )
    p, sender = make(tmp_path, cfg)
    a = alert()
    await tick(p, [a], 0)
    await tick(p, [a], 30)
    assert sorted(s.notification.receiver for s in sender.sent) == ["boss", "oncall"]


async def test_message_carries_a_valid_ack_link(tmp_path: Path) -> None:
    """Firing alert lines carry a signed ack link to the configured base URL."""
    p, sender = make(tmp_path)
    await tick(p, [alert()], 0)
    await tick(p, [alert()], 30)
    body = sender.sent[0].notification.body
    assert "ack: https://chmd.example:9108/-/ack/interface_down-sw1-Gi1%2F0%2F1?exp=" in body


async def test_audit_samples_for_ack(tmp_path: Path) -> None:
    """An ack becomes an `alerts` sample tagged event=ack and a line in audit.jsonl."""
    p, _ = make(tmp_path)
    a = alert()
    await tick(p, [a], 0)
    p.ack(a.fingerprint, "alice", "on it", at(10))
    [sample] = p.drain_samples()
    assert sample.measurement == "alerts"
    assert sample.tags == {
        "event": "ack",
        "by": "alice",
        "device": "sw1",
        "rule": "interface_down",
        "fingerprint": "interface_down-sw1-Gi1/0/1",
    }
    assert sample.fields["comment"] == "on it"
    assert p.drain_samples() == []
    assert p.audit.read()[0]["event"] == "ack"


async def test_route_time_mute_holds_messages(tmp_path: Path) -> None:
    """Inside a route's mute_time_interval nothing is sent; after it, the group is sent."""
    morning = {"morning": [{"times": [{"start": "10:00", "end": "10:10"}]}]}
    cfg = settings({"time_intervals": morning}, mute_time_intervals=["morning"])
    p, sender = make(tmp_path, cfg)
    a = alert()
    for t in range(0, 600, 30):
        await tick(p, [a], t)
    assert sender.sent == []
    for t in range(600, 960, 30):
        await tick(p, [a], t)
    assert len(sender.sent) == 1


@pytest.mark.parametrize("device_labels", [{"sw1": {"role": "core"}}])
async def test_device_labels_enrich_routing(
    tmp_path: Path, device_labels: dict[str, dict[str, str]]
) -> None:
    """Inventory tags passed as device_labels can be matched by routes (role=core → oncall)."""
    cfg = settings(routes=[{"matchers": ["role=core"], "receiver": "oncall"}])
    sender = RecordingSender()
    p = AlertPipeline(cfg, tmp_path, sender, device_labels=device_labels)
    await tick(p, [alert()], 0)
    await tick(p, [alert()], 30)
    assert [s.notification.receiver for s in sender.sent] == ["oncall"]


async def test_device_labels_set_after_a_reload_route_new_groups(tmp_path: Path) -> None:
    """Labels given by `set_device_labels` (a reload that changed devices but kept `notify`)
    route the alerts grouped from then on: sw1 tagged role=core later goes to oncall."""
    cfg = settings(routes=[{"matchers": ["role=core"], "receiver": "oncall"}])
    sender = RecordingSender()
    p = AlertPipeline(cfg, tmp_path, sender, device_labels={})
    p.set_device_labels({"sw1": {"role": "core"}})
    await tick(p, [alert()], 0)
    await tick(p, [alert()], 30)
    assert [s.notification.receiver for s in sender.sent] == ["oncall"]


async def test_ack_made_by_another_process_becomes_a_sample(tmp_path: Path) -> None:
    """An ack written by `chmd alerts ack` (another process) becomes one alerts sample."""
    from chmd.alerts.acks import ack_alert

    p, _ = make(tmp_path)
    a = alert()
    await tick(p, [a], 0)
    ack_alert(tmp_path, a.fingerprint[:6], "cli ack", "bob", at(5))
    await tick(p, [a], 10)
    await tick(p, [a], 20)
    samples = p.drain_samples()
    assert [(s.tags["event"], s.tags.get("by"), s.fields.get("comment")) for s in samples] == [
        ("ack", "bob", "cli ack")
    ]


async def test_suppressed_alerts_are_counted_by_stage(tmp_path: Path) -> None:
    """At a flush, inhibited and silenced alerts count in chmd_notify_suppressed_total{stage}."""
    from prometheus_client import CollectorRegistry

    from chmd.notify.metrics import NotifyMetrics

    registry = CollectorRegistry()
    sender = RecordingSender()
    p = AlertPipeline(settings(), tmp_path, sender, metrics=NotifyMetrics(registry))
    SilenceStore(tmp_path / "notify").add(new_silence(["device=sw2"], at(0), at(600), "", "t"))
    down = alert(rule="device_unreachable", if_name=None, severity=Severity.CRITICAL)
    await tick(p, [down, alert(), alert(device="sw2")], 0)
    await tick(p, [down, alert(), alert(device="sw2")], 30)

    def value(stage: str) -> float | None:
        return registry.get_sample_value("chmd_notify_suppressed_total", {"stage": stage})

    assert (value("inhibited"), value("silenced")) == (1.0, 1.0)

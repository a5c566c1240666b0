"""AlertPipeline: who hears about which alert, and when.

The daemon calls `await process(changed, active, now)` once per evaluation tick with
the rule engine's output. The stages run in this fixed order for every alert:

1. **silence** — maintenance windows (YAML) and silences (`chmd silence add`);
2. **inhibit** — a firing source alert mutes its targets (device unreachable mutes
   every other alert of that device);
3. **route** — the routing tree picks the receivers' route node(s);
4. **group** — alerts sharing the node's `group_by` labels form one group and one
   message; a new group waits `group_wait`, later changes `group_interval`;
5. **time mute** — outside a route's active intervals or inside a mute interval, the
   group is not flushed;
6. **escalate** — steps whose `after` has passed with an unacknowledged alert firing
   add their receivers to the group;
7. **dedup** — per receiver, compared with the notification log: new firing alerts,
   recoveries (`send_resolved`) and repeats after `repeat_interval` (not for acked
   alerts) are sent; everything else is skipped with a reason;
8. **deliver** — handed to the dispatcher, which never blocks this tick.

Everything but delivery is a function of the inputs and `now`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import structlog
from prometheus_client import CollectorRegistry

from chmd.alerts import acks as ack_mod
from chmd.alerts.ack_http import Handler, ack_handlers
from chmd.alerts.audit import AuditEvent, AuditLog, audit_samples
from chmd.alerts.dedup import Action, due_escalations, plan_flush
from chmd.alerts.inhibit import InhibitionIndex, compile_inhibitions
from chmd.alerts.matchers import match_labels
from chmd.alerts.nflog import GroupRecord, NotificationLog
from chmd.alerts.routing import RouteNode, compile_routes, match_routes
from chmd.alerts.silences import SilenceStore, active_silence, maintenance_windows
from chmd.alerts.snapshot import notify_state_dir, restore_alerts, write_snapshot
from chmd.configtypes import format_duration
from chmd.model import Alert, AlertState, Notification, Sample
from chmd.notify.apprise_client import targets_for
from chmd.notify.dispatcher import Dispatcher, Outcome, ReceiverClient
from chmd.notify.metrics import NotifyMetrics
from chmd.notify.settings import NotifySettings
from chmd.notify.templates import (
    DEFAULT_ALERT_LINE,
    DEFAULT_BODY,
    DEFAULT_TITLE,
    Templates,
    notify_type,
    render,
)

log = structlog.get_logger("chmd.alerts")


class Sender(Protocol):
    """What the pipeline needs from delivery (chmd.notify.dispatcher.Dispatcher)."""

    def submit(
        self,
        notification: Notification,
        notify_type: str,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> None: ...


@dataclass
class Group:
    key: str
    node: RouteNode
    labels: tuple[tuple[str, str], ...]
    created_at: datetime
    next_flush: datetime
    alerts: dict[str, Alert] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why an alert is (not) in messages this tick: None means visible."""

    silenced_by: str | None = None
    inhibited_by: str | None = None

    @property
    def visible(self) -> bool:
        return self.silenced_by is None and self.inhibited_by is None


class AlertPipeline:
    """Stateful across ticks (groups, notification log, acks, silences); see module doc."""

    def __init__(
        self,
        settings: NotifySettings,
        state_dir: Path,
        sender: Sender | None,
        *,
        device_labels: Mapping[str, Mapping[str, str]] | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: NotifyMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.state_dir = notify_state_dir(state_dir)  # <state_dir>/notify
        self._sender = sender
        self._device_labels = device_labels or {}
        self._wall_clock = wall_clock
        self._root = compile_routes(settings)
        self._inhibitions = compile_inhibitions(settings)
        self._windows = maintenance_windows(settings)
        self.silences = SilenceStore(self.state_dir)
        self.acks = ack_mod.AckStore(self.state_dir)
        self.audit = AuditLog(self.state_dir)
        self.nflog = NotificationLog(self.state_dir)
        self._groups: dict[str, Group] = {}
        self._alerts: dict[str, Alert] = {a.fingerprint: a for a in restore_alerts(self.state_dir)}
        self._events: list[AuditEvent] = []
        self._templates = {
            name: Templates(
                title=r.title or DEFAULT_TITLE,
                body=r.body or DEFAULT_BODY,
                alert_line=r.alert_line or DEFAULT_ALERT_LINE,
            )
            for name, r in settings.receivers.items()
        }
        self.verdicts: dict[str, Verdict] = {}
        self.dispatcher: Dispatcher | None = None
        self._metrics = metrics
        self._shutdown_timeout_s = 10.0
        self._seen: tuple[set[tuple[str, datetime]], dict[str, datetime | None]] | None = None

    @classmethod
    def create(
        cls,
        settings: NotifySettings,
        state_dir: Path,
        metrics: NotifyMetrics | CollectorRegistry,
        *,
        device_labels: Mapping[str, Mapping[str, str]] | None = None,
        shutdown_timeout_s: float = 10.0,
    ) -> AlertPipeline:
        """The daemon's constructor: Apprise receivers, dispatcher and metrics wired up.

        `metrics` is the composed `NotifyMetrics` (chmd.metrics.Metrics.notify) or a registry
        to build it on. Call `await start()` in the running loop, `process()` each tick,
        `aclose()` at exit. Raises NotifyError if a receiver's Apprise config cannot load.
        """
        if isinstance(metrics, CollectorRegistry):
            metrics = NotifyMetrics(metrics)
        pipeline = cls(settings, state_dir, None, device_labels=device_labels, metrics=metrics)
        clients = {
            name: ReceiverClient(name, targets_for(name, receiver), receiver.format)
            for name, receiver in settings.receivers.items()
        }
        pipeline.dispatcher = Dispatcher(clients, settings.delivery, metrics, pipeline.on_delivery)
        pipeline._sender = pipeline.dispatcher
        pipeline._shutdown_timeout_s = shutdown_timeout_s
        return pipeline

    def set_device_labels(self, device_labels: Mapping[str, Mapping[str, str]]) -> None:
        """The inventory's labels per device (site, role, …), merged into alerts from the next
        tick on: a reload that changed devices but not `notify` keeps this pipeline."""
        self._device_labels = device_labels

    async def start(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.start()

    async def aclose(self) -> None:
        """Deliver what is queued (bounded), then stop; the log is already on disk."""
        if self.dispatcher is not None:
            await self.dispatcher.aclose(self._shutdown_timeout_s)
        self.nflog.save()

    # -- the tick -------------------------------------------------------------------

    async def process(
        self, changed: Sequence[Alert], active: Sequence[Alert], now: datetime
    ) -> None:
        """Run one evaluation tick's alerts through every stage (never blocks on delivery)."""
        self.silences.refresh()
        self.acks.refresh()
        self._note_outside_changes(now)
        snapshot_before = dict(self._alerts)
        self._ingest(changed, active, now)
        labels = {fp: self._labels(a) for fp, a in self._alerts.items()}
        self.verdicts = self._verdicts(labels, now)
        if self._root is not None:
            self._assign_groups(labels, now)
            for group in list(self._groups.values()):
                self._tick_group(group, now)
        self._cleanup()
        if self._alerts != snapshot_before:
            write_snapshot(self.state_dir, self._alerts.values())
        self.nflog.save()

    def _ingest(self, changed: Sequence[Alert], active: Sequence[Alert], now: datetime) -> None:
        seen: set[str] = set()
        for alert in [*active, *changed]:
            seen.add(alert.fingerprint)
            if alert.state is AlertState.FIRING or (
                alert.state is AlertState.RESOLVED and alert.fingerprint in self._alerts
            ):
                self._alerts[alert.fingerprint] = self._enrich(alert)
        for fp, held in list(self._alerts.items()):
            if held.state is AlertState.FIRING and fp not in seen:
                # The engine no longer reports it (rule removed, series gone): resolved now.
                self._alerts[fp] = replace(held, state=AlertState.RESOLVED, resolved_at=now)

    def _enrich(self, alert: Alert) -> Alert:
        extra = self._device_labels.get(alert.label("device"))
        if not extra:
            return alert
        merged = dict(extra) | dict(alert.labels)
        return replace(alert, labels=tuple(sorted(merged.items())))

    def _labels(self, alert: Alert) -> dict[str, str]:
        return match_labels(alert)

    def _verdicts(self, labels: Mapping[str, dict[str, str]], now: datetime) -> dict[str, Verdict]:
        silences = [*self._windows, *self.silences.all()]
        firing = {
            fp: lab for fp, lab in labels.items() if self._alerts[fp].state is AlertState.FIRING
        }
        inhibitions = InhibitionIndex(self._inhibitions, firing)
        verdicts = {}
        for fp, lab in labels.items():
            silence = active_silence(silences, lab, now)
            source = None if silence else inhibitions.inhibited_by(fp, lab)
            verdicts[fp] = Verdict(silence.id if silence else None, source)
        return verdicts

    def _assign_groups(self, labels: Mapping[str, dict[str, str]], now: datetime) -> None:
        assert self._root is not None  # noqa: S101  # checked by the caller
        for fp, alert in self._alerts.items():
            for node in match_routes(self._root, labels[fp]):
                group_labels = node.group_labels(labels[fp])
                key = f"{node.id}|{json.dumps(group_labels)}"
                group = self._groups.get(key)
                if group is None:
                    if alert.state is not AlertState.FIRING and key not in self.nflog.groups:
                        continue  # a recovery never opens a group nobody was told about
                    group = self._new_group(key, node, group_labels, now)
                group.alerts[fp] = alert

    def _new_group(
        self, key: str, node: RouteNode, labels: tuple[tuple[str, str], ...], now: datetime
    ) -> Group:
        record = self.nflog.groups.get(key)
        if record is None:
            self.nflog.groups[key] = record = GroupRecord(now)
            self.nflog.mark_dirty()
            first_flush = datetime.fromtimestamp(now.timestamp() + node.group_wait_s, UTC)
        else:
            first_flush = now  # restored after a restart: dedup decides against the log
        group = Group(key, node, labels, record.created_at, first_flush)
        self._groups[key] = group
        return group

    def _tick_group(self, group: Group, now: datetime) -> None:
        record = self.nflog.groups[group.key]
        visible = [a for fp, a in group.alerts.items() if self.verdicts[fp].visible]
        acked = ack_mod.acked_fingerprints(self.acks.acks, visible)
        escalate_now = self._escalations(group, record, visible, acked, now)
        receivers = self._receivers(group.node, record)
        if now >= group.next_flush:
            group.next_flush = datetime.fromtimestamp(
                now.timestamp() + group.node.group_interval_s, UTC
            )
            self._count_suppressed(group, acked, now)
            for receiver in receivers:
                self._flush(group, receiver, visible, acked, now, escalate_now.get(receiver, ""))
            self._drop_notified_resolved(group)
        else:
            for receiver, note in escalate_now.items():
                self._flush(group, receiver, visible, acked, now, note)

    def _count_suppressed(self, group: Group, acked: frozenset[str], now: datetime) -> None:
        """chmd_notify_suppressed_total{stage}: alerts kept out of this flush, by stage."""
        if self._metrics is None:
            return
        for fp in group.alerts:
            verdict = self.verdicts[fp]
            if verdict.silenced_by:
                stage = "silenced"
            elif verdict.inhibited_by:
                stage = "inhibited"
            elif group.node.muted_at(now):
                stage = "muted"
            elif fp in acked:
                stage = "acked"
            else:
                continue
            self._metrics.suppressed.labels(stage).inc()

    def _note_outside_changes(self, now: datetime) -> None:
        """Acks and silences made by the CLI (another process) become `alerts` samples too;
        the CLI already wrote them to the audit file."""
        acks = {(fp, a.at) for fp, a in self.acks.acks.items()}
        silences = {s.id: s.ends_at for s in self.silences.all()}
        if self._seen is not None:
            seen_acks, seen_silences = self._seen
            for fp, at in sorted(acks - seen_acks):
                ack = self.acks.acks[fp]
                self._events.append(
                    AuditEvent("ack", at, {"fingerprint": fp, "by": ack.by, "comment": ack.comment})
                )
            for sid, ends in silences.items():
                if sid not in seen_silences:
                    self._events.append(AuditEvent("silence_add", now, {"id": sid}))
                elif ends != seen_silences[sid]:
                    self._events.append(AuditEvent("silence_expire", now, {"id": sid}))
        self._seen = (acks, silences)

    def _escalations(
        self,
        group: Group,
        record: GroupRecord,
        visible: Sequence[Alert],
        acked: frozenset[str],
        now: datetime,
    ) -> dict[str, str]:
        steps = group.node.escalation
        if not steps:
            return {}
        unacked = [
            a.fired_at or a.active_since
            for a in visible
            if a.state is AlertState.FIRING and a.fingerprint not in acked
        ]
        due = due_escalations(
            tuple(s.after_s for s in steps),
            frozenset(record.escalated),
            min(unacked, default=None),
            now,
        )
        notes = {}
        for index in due:
            record.escalated.add(index)
            self.nflog.mark_dirty()
            step = steps[index]
            note = f"escalated: firing {format_duration(step.after_s)} without acknowledgement"
            for receiver in step.receivers:
                notes[receiver] = note
                self._audit(
                    "escalation",
                    now,
                    receiver=receiver,
                    step=index,
                    group=group.key,
                    device=dict(group.labels).get("device", ""),
                    rule=dict(group.labels).get("rule", ""),
                )
            log.warning(
                "alert_escalated", group=group.key, step=index, receivers=list(step.receivers)
            )
        return notes

    @staticmethod
    def _receivers(node: RouteNode, record: GroupRecord) -> list[str]:
        names = [node.receiver]
        for index in sorted(record.escalated):
            if index < len(node.escalation):
                names += [r for r in node.escalation[index].receivers if r not in names]
        return names

    def _flush(
        self,
        group: Group,
        receiver: str,
        visible: Sequence[Alert],
        acked: frozenset[str],
        now: datetime,
        note: str,
    ) -> None:
        node = group.node
        if node.muted_at(now):
            log.debug("group_time_muted", group=group.key, receiver=receiver)
            return
        if not visible and group.alerts:
            log.debug("group_all_muted", group=group.key, receiver=receiver)
            return
        entry = self.nflog.get(receiver, group.key)
        plan = plan_flush(
            entry, visible, acked, node.send_resolved, node.repeat_interval_s, now, note
        )
        decision = plan.decision
        log.debug(
            "dedup",
            group=group.key,
            receiver=receiver,
            action=decision.action,
            reason=decision.reason,
        )
        if decision.action is Action.CLEAR:
            self.nflog.confirm(receiver, group.key, plan.entry)
            return
        if decision.action is not Action.SEND or self._sender is None:
            return
        title, body = render(
            self._templates[receiver],
            receiver,
            plan.alerts,
            now,
            lambda a: self._ack_url(a, now),
            plan.note,
        )
        new_entry = plan.entry
        self.nflog.begin(receiver, group.key, new_entry)

        def done(outcome: Outcome) -> None:
            ok = outcome is not Outcome.FAILED
            self.nflog.finish(receiver, group.key, new_entry, ok)
            if ok:
                self.nflog.save()

        resolved_only = not new_entry.firing
        notification = Notification(receiver, title, body, resolved_only, plan.alerts)
        self._sender.submit(notification, notify_type(plan.alerts), done)

    def _drop_notified_resolved(self, group: Group) -> None:
        for fp in [fp for fp, a in group.alerts.items() if a.state is AlertState.RESOLVED]:
            del group.alerts[fp]

    def _cleanup(self) -> None:
        for key, group in list(self._groups.items()):
            if not group.alerts and not self.nflog.in_flight(key):
                del self._groups[key]
                self.nflog.forget_group(key)
        grouped = {fp for g in self._groups.values() for fp in g.alerts}
        gone = [
            fp
            for fp, a in self._alerts.items()
            if a.state is AlertState.RESOLVED and (fp not in grouped or self._root is None)
        ]
        for fp in gone:
            del self._alerts[fp]
        self.acks.forget(gone)

    # -- acknowledgement, links, audit ---------------------------------------------------

    def _ack_url(self, alert: Alert, now: datetime) -> str | None:
        """A signed link valid for `ack.link_ttl` from the tick that renders the message."""
        cfg = self.settings.ack
        if cfg.secret_key is None or cfg.base_url is None:
            return None
        key = cfg.secret_key.reveal().encode()
        return ack_mod.ack_link(cfg.base_url, key, alert.fingerprint, now, cfg.link_ttl)

    def http_routes(self) -> list[tuple[str, str, Handler]]:
        """The ack-link routes to mount on chmd's HTTP server (none without `ack.secret_key`)."""
        if self.settings.ack.secret_key is None:
            return []
        return ack_handlers(self, self.settings.ack.secret_key.reveal().encode())

    def alert(self, fingerprint: str) -> Alert | None:
        return self._alerts.get(fingerprint)

    def ack(self, fingerprint: str, by: str, comment: str, now: datetime) -> ack_mod.Ack:
        """Acknowledge a firing alert this pipeline holds (raises AckError otherwise)."""
        alert = self._alerts.get(fingerprint)
        if alert is None or alert.state is not AlertState.FIRING:
            raise ack_mod.AckError(f"no firing alert {fingerprint[:12]}")
        ack = ack_mod.Ack(fingerprint, now, by, comment, alert.severity)
        self.acks.add(ack)
        if self._seen is not None:
            self._seen[0].add((fingerprint, now))
        self._audit(
            "ack",
            now,
            fingerprint=fingerprint,
            by=by,
            comment=comment,
            device=alert.label("device"),
            rule=alert.rule,
        )
        log.info("alert_acknowledged", fingerprint=fingerprint[:12], by=by)
        return ack

    def on_delivery(
        self, receiver: str, notification: Notification, outcome: Outcome, attempts: int
    ) -> None:
        """Dispatcher hook: audit every final delivery outcome."""
        self._audit(
            "delivery",
            self._wall_clock(),
            receiver=receiver,
            outcome=str(outcome),
            attempts=attempts,
            alerts=len(notification.alerts),
            title=notification.title,
        )

    def _audit(self, kind: str, at: datetime, **data: str | int | float) -> None:
        event = AuditEvent(kind, at, data)
        self.audit.append(event)
        self._events.append(event)

    def drain_samples(self) -> list[Sample]:
        """`alerts` measurement samples for audit events since the last call (for the writer)."""
        events, self._events = self._events, []
        return audit_samples(events)

    def groups(self) -> list[Group]:
        return list(self._groups.values())

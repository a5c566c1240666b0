"""Asynchronous delivery: one queue and one worker per receiver.

`submit` never blocks (the pipeline calls it from the evaluation tick). Each worker
sends its receiver's messages in order, retrying failed targets with exponential
backoff; a slow or failing receiver only delays itself. A storm cap admits at most
`storm_limit` messages per receiver per `storm_window`; the rest are held back and,
when the window ends, one summary message says how many.

Every attempt is counted (`chmd_notify_attempts_total{receiver,outcome}`) and every
final outcome reported to the submitter's callback and to the audit hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import structlog

from chmd.errors import NotifyError
from chmd.model import Notification
from chmd.notify.metrics import NotifyMetrics
from chmd.notify.settings import DeliverySettings

log = structlog.get_logger("chmd.notify")


class Outcome(StrEnum):
    DELIVERED = "delivered"  # every target accepted it
    PARTIAL = "partial"  # some targets accepted it, others failed every attempt
    FAILED = "failed"  # no target accepted it
    HELD_BACK = "held_back"  # storm cap: not sent, counted in the next summary


class Target(Protocol):
    """One destination of a receiver (an Apprise URL). `send` raises NotifyError."""

    label: str

    async def send(
        self, title: str, body: str, notify_type: str, body_format: str, timeout_s: float
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class ReceiverClient:
    name: str
    targets: Sequence[Target]
    body_format: str = "text"


Done = Callable[[Outcome], None]


@dataclass
class _Job:
    notification: Notification
    notify_type: str
    on_done: Done | None
    submitted: float


@dataclass
class StormCap:
    """Fixed-window admission count (pure: `now` is passed in, monotonic seconds)."""

    limit: int
    window_s: float
    window_start: float | None = None
    count: int = 0
    held: int = 0

    def admit(self, now: float) -> bool:
        """Count one message; False when the window's limit is reached (held back)."""
        if self.window_start is None:
            self.window_start = now
        elif now >= self.window_start + self.window_s and not self.held:
            self.window_start, self.count = now, 0
        if self.count < self.limit:
            self.count += 1
            return True
        self.held += 1
        return False

    def summary_due(self, now: float) -> int:
        """Held-back count to report once the window has ended (and restart the window)."""
        if not self.held or self.window_start is None or now < self.window_start + self.window_s:
            return 0
        held, self.held = self.held, 0
        self.window_start, self.count = now, 0
        return held

    def seconds_to_window_end(self, now: float) -> float | None:
        if not self.held or self.window_start is None:
            return None
        return max(0.0, self.window_start + self.window_s - now)


@dataclass
class _Lane:
    client: ReceiverClient
    queue: asyncio.Queue[_Job]
    storm: StormCap
    task: asyncio.Task[None] | None = None
    pending: int = field(default=0)
    failing_since: float | None = None  # logged once when it starts failing, once on recovery
    last_error: str = ""


class Dispatcher:
    """Owns delivery. Lifecycle: `start()` once in the daemon's loop, `submit()` any
    number of times (never blocks, never raises), `aclose()` once at shutdown."""

    def __init__(
        self,
        receivers: Mapping[str, ReceiverClient],
        delivery: DeliverySettings,
        metrics: NotifyMetrics,
        on_outcome: Callable[[str, Notification, Outcome, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._delivery = delivery
        self._metrics = metrics
        self._on_outcome = on_outcome
        self._clock = clock
        self._idle = asyncio.Event()
        self._idle.set()
        self._lanes = {
            name: _Lane(
                client,
                asyncio.Queue(maxsize=delivery.queue_size),
                StormCap(delivery.storm_limit, delivery.storm_window),
            )
            for name, client in receivers.items()
        }

    @property
    def receivers(self) -> list[str]:
        return list(self._lanes)

    async def start(self) -> None:
        for name, lane in self._lanes.items():
            lane.task = asyncio.create_task(self._worker(lane), name=f"notify-{name}")

    def submit(
        self, notification: Notification, notify_type: str, on_done: Done | None = None
    ) -> None:
        lane = self._lanes.get(notification.receiver)
        if lane is None:
            log.error("notify_unknown_receiver", receiver=notification.receiver)
            if on_done:
                on_done(Outcome.FAILED)
            return
        job = _Job(notification, notify_type, on_done, self._clock())
        try:
            lane.queue.put_nowait(job)
        except asyncio.QueueFull:
            lane.storm.held += 1
            self._finish(lane, job, Outcome.HELD_BACK, 0)
            return
        lane.pending += 1
        self._idle.clear()
        self._metrics.queued.labels(notification.receiver).set(lane.pending)

    async def idle(self, timeout_s: float = 30.0) -> None:
        """Wait until every queue is empty and no delivery is in progress (for tests, shutdown)."""
        async with asyncio.timeout(timeout_s):
            await self._idle.wait()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued within `timeout_s`, then stop the workers."""
        with contextlib.suppress(TimeoutError):
            await self.idle(timeout_s)
        for lane in self._lanes.values():
            if lane.task:
                lane.task.cancel()
        await asyncio.gather(
            *(lane.task for lane in self._lanes.values() if lane.task), return_exceptions=True
        )

    async def send_now(self, notification: Notification, notify_type: str = "info") -> Outcome:
        """Deliver one message directly, with retries (for `chmd notify test`)."""
        lane = self._lanes[notification.receiver]
        outcome, _ = await self._deliver(lane.client, notification, notify_type)
        return outcome

    async def _worker(self, lane: _Lane) -> None:
        while True:
            wait = lane.storm.seconds_to_window_end(self._clock())
            try:
                async with asyncio.timeout(wait):
                    job = await lane.queue.get()
            except TimeoutError:
                await self._maybe_summary(lane)
                continue
            await self._maybe_summary(lane)
            if not lane.storm.admit(self._clock()):
                self._finish(lane, job, Outcome.HELD_BACK, 0, queued=True)
                continue
            try:
                outcome, attempts = await self._deliver(
                    lane.client, job.notification, job.notify_type
                )
            except Exception:  # a bug in one receiver's delivery must not kill its lane
                log.exception("notify_delivery_crashed", receiver=lane.client.name)
                outcome, attempts = Outcome.FAILED, 0
            self._finish(lane, job, outcome, attempts, queued=True)

    async def _maybe_summary(self, lane: _Lane) -> None:
        held = lane.storm.summary_due(self._clock())
        if not held:
            return
        window = int(self._delivery.storm_window)
        note = Notification(
            receiver=lane.client.name,
            title=f"chmd: {held} notification(s) held back",
            body=(
                f"chmd held back {held} notification(s) for receiver {lane.client.name} "
                f"(storm limit {self._delivery.storm_limit} per {window}s). "
                "See `chmd alerts` or the alerts dashboard for the full list."
            ),
            resolved=False,
            alerts=(),
        )
        log.warning("notify_storm_held_back", receiver=lane.client.name, held=held)
        job = _Job(note, "warning", None, self._clock())
        outcome, attempts = await self._deliver(lane.client, note, "warning")
        self._finish(lane, job, outcome, attempts)

    def _finish(
        self, lane: _Lane, job: _Job, outcome: Outcome, attempts: int, queued: bool = False
    ) -> None:
        receiver = lane.client.name
        self._metrics.notifications.labels(receiver, str(outcome)).inc()
        self._metrics.delivery_seconds.labels(receiver).observe(
            max(0.0, self._clock() - job.submitted)
        )
        if queued:
            lane.pending -= 1
            if not any(other.pending for other in self._lanes.values()):
                self._idle.set()
            self._metrics.queued.labels(receiver).set(lane.pending)
        self._log_state_change(lane, outcome)
        if self._on_outcome:
            self._on_outcome(receiver, job.notification, outcome, attempts)
        if job.on_done:
            job.on_done(outcome)

    def _log_state_change(self, lane: _Lane, outcome: Outcome) -> None:
        """One warning when a receiver starts failing, one info when it delivers again."""
        if outcome in (Outcome.FAILED, Outcome.PARTIAL) and lane.failing_since is None:
            lane.failing_since = self._clock()
            log.warning(
                "notify_receiver_failing",
                receiver=lane.client.name,
                outcome=str(outcome),
                error=lane.last_error,
            )
        elif outcome is Outcome.DELIVERED and lane.failing_since is not None:
            failing_for_s = round(self._clock() - lane.failing_since, 1)
            lane.failing_since = None
            log.info(
                "notify_receiver_recovered", receiver=lane.client.name, failing_for_s=failing_for_s
            )

    def last_error(self, receiver: str) -> str:
        """The last delivery error of a receiver (for `chmd notify test`); never a URL."""
        return self._lanes[receiver].last_error

    async def _deliver(
        self, client: ReceiverClient, note: Notification, notify_type: str
    ) -> tuple[Outcome, int]:
        """Send to every target, retrying the failed ones; (outcome, Apprise calls made)."""
        remaining = list(client.targets)
        delivered = calls = 0
        delay = self._delivery.backoff_initial
        for attempt in range(1, self._delivery.attempts + 1):
            retry: list[Target] = []
            for target in remaining:
                calls += 1
                result = await self._attempt(client, target, note, notify_type, attempt)
                if result == "success":
                    delivered += 1
                elif result == "retryable_failure":
                    retry.append(target)
            remaining = retry
            if not remaining:
                break
            if attempt < self._delivery.attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._delivery.backoff_max)
        if delivered == len(client.targets):
            return Outcome.DELIVERED, calls
        return (Outcome.PARTIAL if delivered else Outcome.FAILED), calls

    async def _attempt(
        self,
        client: ReceiverClient,
        target: Target,
        note: Notification,
        notify_type: str,
        attempt: int,
    ) -> str:
        """One Apprise call: success | retryable_failure | failure (counted by that name)."""
        try:
            await target.send(
                note.title, note.body, notify_type, client.body_format, self._delivery.timeout
            )
        except NotifyError as exc:
            outcome = "retryable_failure" if exc.retryable else "failure"
            self._lanes[client.name].last_error = str(exc)
            log.debug(
                "notify_attempt_failed",
                receiver=client.name,
                target=target.label,
                attempt=attempt,
                error=str(exc),
                retryable=exc.retryable,
            )
        else:
            outcome = "success"
        self._metrics.attempts.labels(client.name, outcome).inc()
        return outcome

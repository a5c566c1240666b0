"""The time of a counter read (for its rate) is the midpoint of the try that was answered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from harness.aio import run_sync

from chmd.collect.snmp import ber
from chmd.collect.snmp.client import FastClient, SnmpTarget
from chmd.inventory.schema import Device

COLUMN = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)  # ifHCInOctets


class Clock:
    def __init__(self) -> None:
        self.t = 10.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Answer:
    error_status: int
    error_index: int
    varbinds: list[ber.VarBind]


class RetryingEngine:
    """Stands in for UdpEngine: the first try goes unanswered for 2 s, the resend is answered
    0.2 s later (what a lost datagram looks like to the walk)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def next_request_id(self) -> int:
        return 1

    async def request(
        self, *args: Any, on_send: Callable[[], None] | None = None, **kw: Any
    ) -> Answer:
        if on_send is not None:
            on_send()  # first try at t
        self.clock.t += 2.0  # timeout
        if on_send is not None:
            on_send()  # the resend, answered
        self.clock.t += 0.2
        return Answer(
            0,
            0,
            [
                ((*COLUMN, 1), ber.COUNTER64, 5),
                ((*COLUMN, 2), ber.COUNTER64, 6),
                ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 7, 1), ber.COUNTER64, 0),
            ],
        )


def test_row_time_is_the_midpoint_of_the_answered_resend() -> None:
    """After a retry, rows are stamped midway between the resend and the answer (t=12.1),
    not between the first, lost try and the answer (t=11.1: 1 s off for the rate)."""
    device = Device.model_validate(
        {"name": "sw1", "host": "192.0.2.1", "snmp": {"community": "x", "retries": 1}}
    )
    clock = Clock()
    client = FastClient(SnmpTarget.of(device), RetryingEngine(clock))  # type: ignore[arg-type]
    client.clock = clock
    walked = run_sync(client.walk([COLUMN], [COLUMN]))
    assert [vb[2] for vb in walked[COLUMN]] == [5, 6]
    assert client.row_times[COLUMN] == pytest.approx([12.1, 12.1])

"""Bad agents on loopback: a delayed OID past the deadline, answers from another address,
malformed answers. Each becomes one error naming the device and the step."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.snmp import write_data_dir
from helpers import poll_once

from chmd.collect.snmp import ber
from chmd.collect.snmp.collector import SnmpCollector
from chmd.collect.snmp.profiles import load_profiles
from chmd.inventory.schema import Device
from chmd.model import PollResult

pytestmark = pytest.mark.integration
PROFILES = load_profiles()


def poll(dev: Device) -> PollResult:
    return poll_once(SnmpCollector(PROFILES), dev)


def device(port: int, community: str, deadline_s: float = 20, timeout_s: float = 1) -> Device:
    return Device.model_validate(
        {
            "name": "bad1",
            "host": "127.0.0.1",
            "timeout": deadline_s,
            "snmp": {"community": community, "port": port, "timeout": timeout_s, "retries": 0},
        }
    )


def test_delayed_oid_past_the_deadline_names_the_step(snmpsim_factory: Any, tmp_path: Path) -> None:
    """snmpsim delays ifAlias.1 by 6 s; the 2 s deadline abandons the poll in that walk."""
    write_data_dir(tmp_path, ["iosxe_c9300"])
    recording = (tmp_path / "iosxe_c9300.snmprec").read_text().splitlines()
    slow = [
        "1.3.6.1.2.1.31.1.1.1.18.1|4:delay|value=uplink,wait=6000"
        if line.startswith("1.3.6.1.2.1.31.1.1.1.18.1|")
        else line
        for line in recording
    ]
    (tmp_path / "slow.snmprec").write_text("\n".join(slow) + "\n")
    agent = snmpsim_factory(data_dir=tmp_path)
    result = poll(device(agent.port, "slow", deadline_s=2, timeout_s=10))
    assert [(e.reason, e.step) for e in result.errors] == [("deadline", "walk labels interfaces")]
    assert "bad1" in result.errors[0].message
    assert any(s.measurement == "system" for s in result.samples)  # what was read is kept


class OtherAddressAgent:
    """Answers every request correctly, but from a second socket (another source port)."""

    def __init__(self, garbage: bool = False) -> None:
        self.listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.listen.bind(("127.0.0.1", 0))
        self.listen.settimeout(0.2)
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind(("127.0.0.1", 0))
        self.garbage = garbage
        self.port = self.listen.getsockname()[1]
        self.other_port = self.other.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.listen.recvfrom(65535)
            except TimeoutError:
                continue
            request_id = ber.peek_request_id(data) or 0
            reply = ber.encode_response(
                1, b"public", request_id, [((1, 3, 6, 1, 2, 1, 1, 3, 0), ber.TIMETICKS, 5)]
            )
            if self.garbage:
                self.listen.sendto(reply[:-3], peer)  # truncated, from the right address
            else:
                self.other.sendto(reply, peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listen.close()
        self.other.close()


@pytest.fixture
def other_address_agent() -> Iterator[OtherAddressAgent]:
    agent = OtherAddressAgent()
    yield agent
    agent.close()


@pytest.fixture
def garbage_agent() -> Iterator[OtherAddressAgent]:
    agent = OtherAddressAgent(garbage=True)
    yield agent
    agent.close()


def test_answer_from_another_address_is_refused(other_address_agent: OtherAddressAgent) -> None:
    """Answers from another port are ignored; the error names the address that answered."""
    result = poll(device(other_address_agent.port, "public", timeout_s=0.5))
    assert [(e.reason, e.step) for e in result.errors] == [("protocol", "get system")]
    assert f"127.0.0.1:{other_address_agent.other_port}" in result.errors[0].message


def test_malformed_answer_is_a_parse_error(garbage_agent: OtherAddressAgent) -> None:
    """A truncated answer gives reason parse in step `get system`, not a crash or a hang."""
    result = poll(device(garbage_agent.port, "public"))
    assert [(e.reason, e.step) for e in result.errors] == [("parse", "get system")]

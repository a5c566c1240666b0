"""Packed GETs of one call go out back to back (pipelined) over the real UDP engine, against
a scripted agent on loopback: a lost answer is retried with the same request-id, the
engine's in-flight cap holds, a dead pack times out, a v1 noSuchName pack is re-asked."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from harness.aio import run_sync

from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID
from chmd.collect.snmp.client import FastClient, SnmpTarget
from chmd.collect.snmp.transport import UdpEngine
from chmd.configtypes import Secret
from chmd.errors import CollectTimeout

pytestmark = pytest.mark.integration
OIDS: list[OID] = [(1, 3, 6, 1, 2, 1, 2, 2, 1, 10, i) for i in range(1, 12)]  # 11 OIDs
Plan = Callable[[int, list[OID], int], str]  # (request-id, OIDs, try of that id) -> action


def value_of(oid: OID) -> int:
    return oid[-1] * 1000


class ScriptedAgent:
    """A v1/v2c GET responder on 127.0.0.1 whose `plan` says per request what to do:
    "answer", "drop" (no answer), "nosuchname" (v1 error at the pack's second OID) or
    "hold" (keep it; answered together once `release_at` requests are held)."""

    def __init__(self, plan: Plan, release_at: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.plan = plan
        self.release_at = release_at
        self.requests: list[tuple[int, tuple[OID, ...]]] = []  # (request-id, OIDs) as received
        self.most_held = 0
        self._held: list[tuple[bytes, tuple[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                self._release()  # nothing new: answer whatever is held
                continue
            request_id, oids = parse_get(data)
            tries = sum(1 for rid, _ in self.requests if rid == request_id)
            self.requests.append((request_id, tuple(oids)))
            action = self.plan(request_id, oids, tries)
            if action == "drop":
                continue
            if action == "nosuchname":
                reply = ber.encode_response(
                    0, b"public", request_id, [(o, ber.NULL, None) for o in oids], 2, 2
                )
            else:
                vbs = [(o, ber.COUNTER32, value_of(o)) for o in oids]
                reply = ber.encode_response(1, b"public", request_id, vbs)
            if action == "hold":
                self._held.append((reply, peer))
                self.most_held = max(self.most_held, len(self._held))
                if len(self._held) >= self.release_at:
                    self._release()
                continue
            self.sock.sendto(reply, peer)

    def _release(self) -> None:
        held, self._held = self._held, []
        for reply, peer in held:
            self.sock.sendto(reply, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def parse_get(data: bytes) -> tuple[int, list[OID]]:
    """The request-id and OIDs of a GET we sent (decoded with our own response decoder by
    relabelling the PDU: the layout of a GET and a Response is the same)."""
    head = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)  # the message SEQUENCE
    community_at = head + 3  # after the version TLV
    pdu_at = community_at + 2 + data[community_at + 1]
    as_response = data[:pdu_at] + bytes([ber.RESPONSE]) + data[pdu_at + 1 :]
    decoded = ber.decode_response(as_response)
    return decoded.request_id, [vb[0] for vb in decoded.varbinds]


@pytest.fixture
def agent_factory() -> Iterator[Callable[..., ScriptedAgent]]:
    agents: list[ScriptedAgent] = []

    def start(plan: Plan, release_at: int = 0) -> ScriptedAgent:
        agents.append(ScriptedAgent(plan, release_at))
        return agents[-1]

    yield start
    for agent in agents:
        agent.close()


def client(
    agent: ScriptedAgent, engine: UdpEngine, version: str = "2c", timeout_s: float = 0.5
) -> FastClient:
    target = SnmpTarget(
        host="127.0.0.1",
        port=agent.port,
        version=version,
        community=Secret("public"),
        timeout_s=timeout_s,
        retries=2,
        oids_per_get=3,  # 11 OIDs -> 4 packs
    )
    return FastClient(target, engine)


def get(fast: FastClient, engine: UdpEngine, oids: list[OID]) -> list[ber.VarBind]:
    async def run() -> list[ber.VarBind]:
        try:
            return await fast.get(oids)
        finally:
            await engine.aclose()

    return run_sync(run())


def expected() -> list[ber.VarBind]:
    return [(o, ber.COUNTER32, value_of(o)) for o in OIDS]


def test_all_packs_are_sent_before_any_answer_is_read(
    agent_factory: Callable[..., ScriptedAgent],
) -> None:
    """The agent holds its answers until all 4 packs have arrived (or it idles): all 4 were
    held at once, where a GET waiting for each answer before the next pack holds 1."""
    agent = agent_factory(lambda rid, oids, tries: "hold", release_at=4)
    engine = UdpEngine()
    fast = client(agent, engine, timeout_s=5)
    assert get(fast, engine, OIDS) == expected()
    assert agent.most_held == 4
    assert len(agent.requests) == 4
    assert fast.varbinds_read == len(OIDS)


def test_a_lost_answer_is_retried_with_the_same_request_id(
    agent_factory: Callable[..., ScriptedAgent],
) -> None:
    """The third pack's first try goes unanswered: only that pack is sent again, with the
    same request-id, and the GET returns every value in order."""
    third = OIDS[6:9]
    agent = agent_factory(
        lambda rid, oids, tries: "drop" if tuple(oids) == tuple(third) and not tries else "answer"
    )
    engine = UdpEngine()
    fast = client(agent, engine)
    assert get(fast, engine, OIDS) == expected()
    asked = [oids for _, oids in agent.requests]
    assert asked.count(tuple(third)) == 2
    assert len(asked) == 5
    ids = [rid for rid, oids in agent.requests if oids == tuple(third)]
    assert ids[0] == ids[1]
    assert len({rid for rid, _ in agent.requests}) == 4
    assert engine.stats.retries == 1


def test_the_in_flight_cap_bounds_a_pipelined_get(
    agent_factory: Callable[..., ScriptedAgent],
) -> None:
    """With an engine cap of 2 in flight, the agent never holds more than 2 unanswered
    packs (it answers whatever it holds when no new request comes), and all 4 are read."""
    agent = agent_factory(lambda rid, oids, tries: "hold", release_at=3)
    engine = UdpEngine(max_in_flight=2)
    fast = client(agent, engine, timeout_s=5)
    assert get(fast, engine, OIDS) == expected()
    assert agent.most_held == 2
    assert len(agent.requests) == 4


def test_a_pack_never_answered_times_out(agent_factory: Callable[..., ScriptedAgent]) -> None:
    """The second pack is never answered: the GET raises CollectTimeout after its tries,
    and the engine keeps nothing in flight afterwards."""
    second = tuple(OIDS[3:6])
    agent = agent_factory(lambda rid, oids, tries: "drop" if tuple(oids) == second else "answer")
    engine = UdpEngine()
    fast = client(agent, engine, timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(CollectTimeout, match="after 3 tries"):
        get(fast, engine, OIDS)
    assert time.monotonic() - started >= 0.6  # three tries of 0.2 s, not one
    assert sum(1 for _, oids in agent.requests if oids == second) == 3
    assert engine._pending == {}


def test_v1_nosuchname_in_one_pack_re_asks_that_pack(
    agent_factory: Callable[..., ScriptedAgent],
) -> None:
    """SNMPv1: the first pack's first answer is noSuchName at its second OID; that OID comes
    back as noSuchObject, its neighbours are asked again, the other packs are answered once."""
    first = tuple(OIDS[:3])
    agent = agent_factory(
        lambda rid, oids, tries: "nosuchname" if tuple(oids) == first else "answer"
    )
    engine = UdpEngine()
    fast = client(agent, engine, version="1")
    got = get(fast, engine, OIDS)
    want = expected()
    want[1] = (OIDS[1], ber.NO_SUCH_OBJECT, None)
    assert got == want
    asked = [oids for _, oids in agent.requests]
    assert asked.count(first) == 1
    assert (OIDS[0], OIDS[2]) in asked


def test_a_get_of_nothing_sends_nothing(agent_factory: Callable[..., ScriptedAgent]) -> None:
    """A GET of no OIDs returns [] without a request, as the one-pack-at-a-time GET did."""
    agent = agent_factory(lambda rid, oids, tries: "answer")
    engine = UdpEngine()
    fast = client(agent, engine)
    assert get(fast, engine, []) == []
    assert agent.requests == []
    assert engine.stats.sent == 0

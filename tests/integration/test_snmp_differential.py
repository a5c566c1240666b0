"""The fast path against the recordings and against net-snmp, over a real agent (snmpsim).

* Walking the whole agent with chmd's codec returns exactly every servable varbind of the
  recording, for every recording.
* net-snmp's `snmpbulkwalk` (C) and chmd read the same system and interface subtrees.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from harness.aio import run_sync
from harness.snmp import recordings

from chmd.collect.snmp import ber
from chmd.collect.snmp.client import FastClient, SnmpTarget
from chmd.collect.snmp.snmprec import read_snmprec
from chmd.collect.snmp.transport import UdpEngine
from chmd.configtypes import Secret

pytestmark = pytest.mark.integration
SNMPREC = Path(__file__).resolve().parents[1] / "fixtures" / "snmprec"
SUBTREES = [(1, 3, 6, 1, 2, 1, 1), (1, 3, 6, 1, 2, 1, 2, 2), (1, 3, 6, 1, 2, 1, 31, 1, 1)]


def walk(agent: Any, community: str, prefixes: list[ber.OID]) -> dict[ber.OID, list[ber.VarBind]]:
    target = SnmpTarget(
        host=agent.host,
        port=agent.port,
        community=Secret(community),
        timeout_s=5,
        retries=2,
        max_repetitions=50,
    )

    async def run() -> dict[ber.OID, list[ber.VarBind]]:
        engine = UdpEngine()
        try:
            return await FastClient(target, engine).walk(prefixes)
        finally:
            engine.close()

    return run_sync(run())


def unservable(name: str) -> list[ber.OID]:
    """OIDs whose recorded value no agent can encode (anonymised hex `XXYYZZ`, IP `<private>`);
    snmpsim answers endOfMibView from there on, so each subtree is compared up to them."""
    good = {vb[0] for vb in read_snmprec(SNMPREC / f"{name}.snmprec")}
    lines = (SNMPREC / f"{name}.snmprec").read_text().splitlines()
    oids = [ber.parse_oid(line.split("|", 1)[0]) for line in lines if line.strip()]
    return [oid for oid in oids if oid not in good]


def subtrees(oids: list[ber.OID]) -> list[ber.OID]:
    """Prefixes covering every OID: a table column (10 arcs) or a scalar's parent."""
    prefixes = sorted({oid[:10] if len(oid) > 11 else oid[:-1] for oid in oids})
    return [p for p in prefixes if not any(q != p and p[: len(q)] == q for q in prefixes)]


@pytest.mark.parametrize("name", recordings())
def test_whole_agent_walk_equals_the_recording(snmpsim: Any, name: str) -> None:
    """Every servable varbind of the recording comes back, in order, with type and value."""
    want = read_snmprec(SNMPREC / f"{name}.snmprec")
    bad = unservable(name)
    prefixes = subtrees([vb[0] for vb in want])
    compared = 0
    for start in range(0, len(prefixes), 40):
        group = prefixes[start : start + 40]
        walked = walk(snmpsim, name, group)
        for prefix in group:
            n = len(prefix)
            stop = min((b for b in bad if b[:n] == prefix), default=None)
            expected = [vb for vb in want if vb[0][:n] == prefix and (stop is None or vb[0] < stop)]
            assert walked[prefix] == expected, ber.format_oid(prefix)
            compared += len(expected)
    assert compared >= len(want) - 3000  # only what follows an unservable line is skipped


_LINE = re.compile(r"^(\.[\d.]+) = (.*)$", re.S)


def parse_netsnmp(output: str) -> list[ber.VarBind]:
    """`snmpbulkwalk -On -Ox -Oe` output → varbinds (hex strings span several lines)."""
    records: list[str] = []
    for line in output.splitlines():
        if line.startswith("."):
            records.append(line)
        elif records and line.strip():
            records[-1] += " " + line.strip()
    out: list[ber.VarBind] = []
    for record in records:
        match = _LINE.match(record)
        assert match, record
        oid, text = ber.parse_oid(match.group(1)), match.group(2).strip()
        if text.startswith(("No more variables", "No Such")):
            continue  # end of view / empty subtree: chmd's walk returns nothing for it either
        kind, _, rest = text.partition(": ")
        if text == '""':
            out.append((oid, ber.OCTET_STRING, b""))
        elif kind in ("Hex-STRING", "STRING"):
            out.append((oid, ber.OCTET_STRING, bytes.fromhex(rest.replace(" ", ""))))
        elif kind == "INTEGER":
            out.append((oid, ber.INTEGER, int(rest)))
        elif kind in ("Counter32", "Gauge32", "Counter64"):
            tag = {"Counter32": ber.COUNTER32, "Gauge32": ber.GAUGE32, "Counter64": ber.COUNTER64}
            out.append((oid, tag[kind], int(rest)))
        elif kind == "Timeticks":
            out.append((oid, ber.TIMETICKS, int(rest.split(")")[0].lstrip("("))))
        elif kind == "OID":
            out.append((oid, ber.OBJECT_ID, ber.parse_oid(rest)))
        elif kind == "IpAddress":
            out.append((oid, ber.IP_ADDRESS, rest))
        else:
            raise AssertionError(f"unexpected net-snmp value {record!r}")
    return out


@pytest.mark.parametrize("name", recordings())
def test_netsnmp_and_chmd_read_the_same_interface_tables(snmpsim: Any, name: str) -> None:
    """snmpbulkwalk (C) and chmd agree on the system group, ifTable and ifXTable."""
    ours = walk(snmpsim, name, SUBTREES)
    for subtree in SUBTREES:
        output = subprocess.run(
            [
                "snmpbulkwalk",
                "-m",
                "",
                "-On",
                "-Ox",
                "-Oe",
                "-v2c",
                "-c",
                name,
                "-Cr50",
                "-t",
                "5",
                f"{snmpsim.host}:{snmpsim.port}",
                ber.format_oid(subtree),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        theirs = parse_netsnmp(output)
        assert ours[subtree] == theirs, subtree

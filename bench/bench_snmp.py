"""SNMP collection benchmark: chmd's client CPU per varbind against net-snmp and snmp_exporter.

Run from the repo root: `python bench/bench_snmp.py [--seconds S]`.

* The load agent is net-snmp `snmpd` (C). When network namespaces are allowed, it runs in a
  private namespace `chmdbench<pid>` holding 50 veth pairs (100 interfaces + lo = a 101-port
  "switch"). The kernel here has no `dummy` link type, so veth pairs stand in for it. Everything
  (agent, clients, exporter) runs inside that namespace on its 127.0.0.1, and the namespace is
  deleted at the end. Without netns it falls back to plain snmpd on the host loopback and says so.
* Measured in the same run, on the same agent and the same columns (the `interfaces` profile's
  tag and field columns):
  - `snmpbulkwalk` (net-snmp C): CPU of the child processes;
  - chmd multi-column GETBULK walk and packed GETs (the fast v1/v2c path): this process's CPU;
  - pysnmp 7.1 through the same interface (the reference);
  - SNMPv3 authPriv SHA/AES walks: UsmClient (chmd's v3 fast path) beside pysnmp;
  - one full `SnmpCollector.poll` of the device with the shipped profiles, giving CPU per poll
    and devices per core at a 60 s interval;
  - prometheus-snmp-exporter (Go), if installed, scraping the same columns: its process CPU.
Figures are client CPU seconds, not wall time: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chmd import native  # noqa: E402
from chmd.collect.snmp import ber  # noqa: E402
from chmd.collect.snmp.client import (  # noqa: E402
    FastClient,
    SnmpTarget,
)
from chmd.collect.snmp.collector import SnmpCollector  # noqa: E402
from chmd.collect.snmp.profiles import load_profiles  # noqa: E402
from chmd.collect.snmp.pysnmp_client import (  # noqa: E402
    PysnmpClient,
    close_pysnmp_engine,
    new_pysnmp_engine,
)
from chmd.collect.snmp.transport import UdpEngine  # noqa: E402
from chmd.collect.snmp.v3client import UsmClient  # noqa: E402
from chmd.configtypes import Secret  # noqa: E402
from chmd.inventory.schema import Device  # noqa: E402

VETH_PAIRS = 50
COMMUNITY = "public"
V3_USER, V3_AUTH, V3_PRIV = "benchv3", "authpass123", "privpass123"  # SNMPv3 authPriv SHA/AES


def string_columns() -> list[ber.OID]:
    table = next(t for t in load_profiles()["interfaces"].tables if t.name == "interfaces")
    return [t.oid for t in table.tags if t.oid]


def interface_columns() -> list[ber.OID]:
    table = next(t for t in load_profiles()["interfaces"].tables if t.name == "interfaces")
    return [t.oid for t in table.tags if t.oid] + [c.oid for c in table.fields]


# ---------------------------------------------------------------- environment


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def snmpd(base: Path) -> Iterator[int]:
    port = free_udp_port()
    persist = base / "persist"
    persist.mkdir(mode=0o700)
    conf = base / "snmpd.conf"
    conf.write_text(
        f"[snmp] persistentDir {persist}\n"
        f"agentAddress udp:127.0.0.1:{port}\n"
        "sysName chmd-bench\n"
        f"rocommunity {COMMUNITY} 127.0.0.1\n"
        f'createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"\n'
        f"rouser {V3_USER} authpriv\n"
    )
    proc = subprocess.Popen(
        [
            "snmpd",
            "-f",
            "-m",
            "",
            "-I",
            "-smux",
            "-C",
            "-c",
            str(conf),
            "-Lf",
            str(base / "snmpd.log"),
        ]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            probe = subprocess.run(
                [
                    "snmpget",
                    "-m",
                    "",
                    "-v2c",
                    "-c",
                    COMMUNITY,
                    "-t",
                    "0.2",
                    "-r",
                    "0",
                    f"127.0.0.1:{port}",
                    ".1.3.6.1.2.1.1.5.0",
                ],
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "snmpd did not start: " + (base / "snmpd.log").read_text()[-500:]
                )
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# ---------------------------------------------------------------- measurements


IF_TABLES = ((1, 3, 6, 1, 2, 1, 2, 2), (1, 3, 6, 1, 2, 1, 31, 1, 1))  # ifTable, ifXTable


def snmpbulkwalk(port: int, oid: ber.OID) -> int:
    out = subprocess.run(
        [
            "snmpbulkwalk",
            "-m",
            "",
            "-On",
            "-v2c",
            "-c",
            COMMUNITY,
            "-Cr25",
            f"127.0.0.1:{port}",
            ber.format_oid(oid),
        ],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return sum(1 for line in out.splitlines() if " = " in line)


def bench_snmpbulkwalk(port: int, seconds: float) -> tuple[float, int, int, float]:
    """(cpu_s, varbinds, processes, start-up cpu_s per process) of snmpbulkwalk walking the
    whole ifTable and ifXTable, one process per table, repeated for ~seconds."""
    cpu0, varbinds, runs = children_cpu(), 0, 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for table in IF_TABLES:
            varbinds += snmpbulkwalk(port, table)
            runs += 1
    cpu = children_cpu() - cpu0
    cpu0, tiny = children_cpu(), 0
    for _ in range(20):  # the fixed cost of one process: a one-varbind walk (sysName)
        snmpbulkwalk(port, (1, 3, 6, 1, 2, 1, 1, 5))
        tiny += 1
    return cpu, varbinds, runs, (children_cpu() - cpu0) / tiny


def target(port: int) -> SnmpTarget:
    return SnmpTarget(
        host="127.0.0.1", port=port, community=Secret(COMMUNITY), timeout_s=2, retries=2
    )


def v3_target(port: int) -> SnmpTarget:
    return SnmpTarget(
        host="127.0.0.1",
        port=port,
        version="3",
        user=V3_USER,
        auth_protocol="SHA",
        auth_key=Secret(V3_AUTH),
        priv_protocol="AES",
        priv_key=Secret(V3_PRIV),
        timeout_s=2,
        retries=2,
    )


async def bench_v3(port: int, columns: list[ber.OID], seconds: float) -> dict[str, Any]:
    """SNMPv3 authPriv SHA/AES walks (and packed GETs): UsmClient (fast path) beside
    PysnmpClient."""
    out: dict[str, Any] = {}
    engine = UdpEngine()
    try:
        usm_client = UsmClient(v3_target(port), engine)
        cpu, vbs, _ = await bench_walk(usm_client, columns, seconds)
        out[V3_WALK] = (cpu, vbs)
        walked = await usm_client.walk(columns)
        instances = [vb[0] for col in columns[3:10] for vb in walked[col]]
        cpu, vbs, _ = await bench_get(usm_client, instances, seconds)
        out["chmd v3 packed GET, 20/PDU (UsmClient)"] = (cpu, vbs)
    finally:
        await engine.aclose()
    engine_py = new_pysnmp_engine()
    try:
        ref = PysnmpClient(v3_target(port), engine_py)
        cpu, vbs, _ = await bench_walk(ref, columns, seconds)
        out[V3_PYSNMP] = (cpu, vbs)
    finally:
        close_pysnmp_engine(engine_py)
    return out


async def bench_walk(client: Any, columns: list[ber.OID], seconds: float) -> tuple[float, int, int]:
    await client.walk(columns)  # warm-up (address resolution, socket, caches)
    cpu0, varbinds, walks = time.process_time(), 0, 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        walked = await client.walk(columns)
        varbinds += sum(len(v) for v in walked.values())
        walks += 1
    return time.process_time() - cpu0, varbinds, walks


async def bench_get(client: Any, oids: list[ber.OID], seconds: float) -> tuple[float, int, int]:
    await client.get(oids)
    cpu0, varbinds, rounds = time.process_time(), 0, 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        varbinds += len(await client.get(oids))
        rounds += 1
    return time.process_time() - cpu0, varbinds, rounds


async def bench_poll(port: int, seconds: float) -> tuple[float, int, int, int]:
    """(cpu_s, varbinds, polls, samples per poll) of full collector polls."""
    collector = SnmpCollector(load_profiles())
    device = Device.model_validate(
        {"name": "bench", "host": "127.0.0.1", "snmp": {"community": COMMUNITY, "port": port}}
    )
    try:
        first = await collector.poll(device)  # classification + label caches, like a running daemon
        if first.errors:
            raise RuntimeError(f"poll failed: {first.errors}")
        cpu0, varbinds, polls, samples = time.process_time(), 0, 0, 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            result = await collector.poll(device)
            varbinds += result.varbinds
            samples = len(result.samples)
            polls += 1
        return time.process_time() - cpu0, varbinds, polls, samples
    finally:
        await collector.aclose()


def pure_python_poll(port: int, seconds: float) -> tuple[float, int]:
    """The full poll figure with the compiled modules' sources (CHMD_PURE_PYTHON=1), measured
    by a child process in the same namespace: what a machine without a C compiler gets."""
    child = subprocess.run(
        [sys.executable, __file__, "--seconds", str(seconds), "--poll-only", str(port)],
        env=os.environ | {native.PURE_ENV: "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    cpu, vbs, _ = json.loads(child.stdout.splitlines()[-1])
    return cpu, vbs


def exporter_config(columns: list[ber.OID], port_unused: int) -> str:
    names = {c: f"col{i}" for i, c in enumerate(columns)}
    strings = set(string_columns())
    lines = [
        "bench:",
        "  version: 2",
        "  max_repetitions: 25",
        "  retries: 1",
        "  timeout: 5s",
        "  auth:",
        f"    community: {COMMUNITY}",
        "  walk:",
    ]
    lines += [f"  - {ber.format_oid(c)}" for c in columns]
    lines.append("  metrics:")
    for column in columns:
        lines += [
            f"  - name: {names[column]}",
            f"    oid: {ber.format_oid(column)}",
            f"    type: {'DisplayString' if column in strings else 'gauge'}",
            "    help: bench column",
            "    indexes:",
            "    - labelname: ifIndex",
            "      type: gauge",
        ]
    return "\n".join(lines) + "\n"


def bench_exporter(
    base: Path, agent_port: int, columns: list[ber.OID], seconds: float
) -> tuple[float, int, int] | str:
    binary = shutil.which("prometheus-snmp-exporter") or shutil.which("snmp_exporter")
    if binary is None:
        return "prometheus-snmp-exporter not installed (apt-get install prometheus-snmp-exporter)"
    config = base / "snmp.yml"
    config.write_text(exporter_config(columns, agent_port))
    listen = free_tcp_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{listen}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{listen}/snmp?module=bench&target=127.0.0.1:{agent_port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                body = urllib.request.urlopen(url, timeout=5).read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    return "snmp_exporter did not answer"
                time.sleep(0.1)
        per_scrape = sum(1 for line in body.splitlines() if line.startswith("col"))
        cpu0, scrapes = proc_cpu(proc.pid), 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            urllib.request.urlopen(url, timeout=10).read()
            scrapes += 1
        return proc_cpu(proc.pid) - cpu0, per_scrape * scrapes, scrapes
    finally:
        proc.terminate()
        proc.wait(10)


def us(cpu: float, varbinds: int) -> float:
    return cpu / max(1, varbinds) * 1e6


def inner(seconds: float, note: str) -> None:
    columns = interface_columns()
    with tempfile.TemporaryDirectory(prefix="chmd-bench-snmp-") as tmp, snmpd(Path(tmp)) as port:
        n_if = int(
            subprocess.run(
                [
                    "snmpget",
                    "-m",
                    "",
                    "-Oqv",
                    "-v2c",
                    "-c",
                    COMMUNITY,
                    f"127.0.0.1:{port}",
                    ".1.3.6.1.2.1.2.1.0",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        print(f"agent: net-snmp snmpd, {n_if} interfaces ({note})")
        print(f"chmd hot path: {native.guard().reason}")
        print(f"{len(columns)} interface columns; ~{seconds:g} s of polling per figure")
        results: dict[str, tuple[float, int]] = {}

        cpu, vbs, runs, startup = bench_snmpbulkwalk(port, seconds)
        results[NATIVE] = (cpu, vbs)
        results[NATIVE_NET] = (max(0.0, cpu - runs * startup), vbs)
        per_walk = 0

        async def ours() -> None:
            nonlocal per_walk
            engine = UdpEngine()
            fast = FastClient(target(port), engine)
            try:
                cpu, vbs, walks = await bench_walk(fast, columns, seconds)
                results[WALK] = (cpu, vbs)
                per_walk = vbs // max(1, walks)
                walked = await fast.walk(columns)
                instances = [vb[0] for col in columns[3:10] for vb in walked[col]]
                cpu, vbs, _ = await bench_get(fast, instances, seconds)
                results[GET] = (cpu, vbs)
            finally:
                engine.close()
            engine_py = new_pysnmp_engine()
            try:
                ref = PysnmpClient(target(port), engine_py)
                cpu, vbs, _ = await bench_walk(ref, columns, seconds)
                results["pysnmp 7.1 GETBULK walk (reference)"] = (cpu, vbs)
            finally:
                close_pysnmp_engine(engine_py)
            results.update(await bench_v3(port, columns, seconds))
            cpu, vbs, polls, samples = await bench_poll(port, seconds)
            results[POLL] = (cpu, vbs)
            poll_cpu = cpu / max(1, polls)
            print(
                f"chmd full poll: {vbs // max(1, polls)} varbinds, {samples} samples, "
                f"{poll_cpu * 1000:.2f} ms CPU per poll -> "
                f"{60 / poll_cpu:,.0f} devices per core at 60 s"
            )

        asyncio.run(ours())
        if native.guard().compiled:
            results[POLL_PURE] = pure_python_poll(port, seconds)
        exporter = bench_exporter(Path(tmp), port, columns, seconds)
        if isinstance(exporter, str):
            print(f"snmp_exporter: {exporter}")
        else:
            cpu, vbs, scrapes = exporter
            results[EXPORTER] = (cpu, vbs)
            per_scrape = cpu / max(1, scrapes)
            print(
                f"snmp_exporter: {per_scrape * 1000:.2f} ms CPU per scrape -> "
                f"{60 / per_scrape:,.0f} devices per core at 60 s"
            )
        report(results, per_walk)


EXPORTER = "prometheus-snmp-exporter 0.21 (Go)"
NATIVE = "snmpbulkwalk ifTable+ifXTable (C)"
WALK = "chmd GETBULK walk (fast path)"
GET = "chmd packed GET, 20/PDU (fast path)"
POLL = "chmd full device poll (all profiles)"
POLL_PURE = "  same, pure Python (no mypyc build)"
NATIVE_NET = "  same, net of process start-up"
V3_WALK = "chmd v3 walk authPriv SHA/AES (UsmClient)"
V3_PYSNMP = "pysnmp 7.1 v3 walk authPriv SHA/AES"


def report(results: dict[str, tuple[float, int]], per_walk: int) -> None:
    baseline = us(*results[NATIVE])
    head = ("client", "varbinds", "CPU s", "us/varbind", "varbinds/CPU-s", "x native")
    print(f"\n{head[0]:<40} {head[1]:>9} {head[2]:>7} {head[3]:>11} {head[4]:>15} {head[5]:>9}")
    for name, (cpu, vbs) in results.items():
        per = us(cpu, vbs)
        rate = vbs / max(cpu, 1e-9)
        print(f"{name:<40} {vbs:>9} {cpu:>7.2f} {per:>11.2f} {rate:>15,.0f} {per / baseline:>9.2f}")
    walk_us = us(*results[WALK])
    print(f"\nwalk of the interface tables: {per_walk} varbinds per walk")
    native_net = us(*results[NATIVE_NET])
    labels = (
        (WALK, "walk"),
        (GET, "packed GET"),
        (POLL, "full poll"),
        (POLL_PURE, "pure-Python poll"),
    )
    for name, label in labels:
        if name not in results:
            continue
        ours = us(*results[name])
        verdict = "met" if ours <= 3 else "NOT met"
        ratios = f"snmpbulkwalk {ours / baseline:.2f}x, net of start-up {ours / native_net:.2f}x"
        if EXPORTER in results:
            ratios += f", snmp_exporter {ours / us(*results[EXPORTER]):.2f}x"
        print(f"goal <= 3 us CPU per varbind: chmd {label} {ours:.2f} us -> {verdict} ({ratios})")
    if V3_WALK in results:
        v3_us, py_us = us(*results[V3_WALK]), us(*results[V3_PYSNMP])
        verdict = "met" if v3_us <= 3 else "NOT met"
        print(f"SNMPv3 authPriv walk: UsmClient {v3_us:.2f} us, pysnmp {py_us:.2f} us per varbind")
        print(f"  pysnmp / UsmClient: {py_us / v3_us:.1f}x; goal <= 3 us -> {verdict}")
    if EXPORTER in results:
        exp_us = us(*results[EXPORTER])
        print(f"snmp_exporter / chmd walk CPU per varbind: {exp_us / walk_us:.2f}")
    per_device_s = walk_us * per_walk / 1e6
    print(
        f"chmd interface walk: {per_device_s * 1000:.2f} ms CPU per device -> "
        f"{60 / per_device_s:,.0f} devices per core at 60 s"
    )


@contextlib.contextmanager
def namespace() -> Iterator[str | None]:
    """A network namespace with VETH_PAIRS veth pairs, or None when not permitted."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        yield None
        return
    name = f"chmdbench{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True, check=False).returncode:
        yield None
        return
    try:
        ns = ["ip", "netns", "exec", name]
        subprocess.run([*ns, "ip", "link", "set", "lo", "up"], check=True)
        for i in range(VETH_PAIRS):
            subprocess.run(
                [*ns, "ip", "link", "add", f"a{i}", "type", "veth", "peer", "name", f"b{i}"],
                check=True,
            )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per figure")
    parser.add_argument("--inner", metavar="NOTE", help=argparse.SUPPRESS)
    parser.add_argument("--poll-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll_only:
        cpu, vbs, polls, _ = asyncio.run(bench_poll(args.poll_only, args.seconds))
        print(json.dumps([cpu, vbs, polls]))
        return
    if args.inner:
        inner(args.seconds, args.inner)
        return
    with namespace() as ns:
        if ns is None:
            inner(args.seconds, "no network namespace permitted: plain snmpd on the host loopback")
            return
        cmd = [
            "ip",
            "netns",
            "exec",
            ns,
            sys.executable,
            __file__,
            "--seconds",
            str(args.seconds),
            "--inner",
            f"netns {ns} with {VETH_PAIRS} veth pairs",
        ]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()

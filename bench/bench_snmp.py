"""SNMP collection benchmark: chmd's client CPU per varbind against net-snmp and snmp_exporter.

Run from the repo root: `python bench/bench_snmp.py [--seconds S] [--rounds R]`.

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
  - full `SnmpCollector.poll`s of the device with the shipped profiles, giving CPU per poll
    and devices per core at a 60 s interval, in a fresh child process: on the compiled hot path
    (chmd/native.py) and, beside it, on its Python sources;
  - prometheus-snmp-exporter (Go), if installed, scraping the same columns: its process CPU.
Figures are client CPU seconds, not wall time: the machine is shared, and its load moves every
figure by 15-40 % from one minute to the next. So each figure is measured in R interleaved
rounds (S/R seconds each, every figure once per round) and reported as the median over the
rounds, with the best round beside it and the ratio to snmpbulkwalk in the same round.
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
import statistics
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


async def bench_poll(port: int, seconds: float) -> tuple[float, int, int, int, int]:
    """(cpu_s, varbinds, polls, samples per poll, requests) of full collector polls."""
    collector = SnmpCollector(load_profiles())
    device = Device.model_validate(
        {"name": "bench", "host": "127.0.0.1", "snmp": {"community": COMMUNITY, "port": port}}
    )
    try:
        first = await collector.poll(device)  # classification + label caches, like a running daemon
        if first.errors:
            raise RuntimeError(f"poll failed: {first.errors}")
        cpu0, varbinds, polls, samples = time.process_time(), 0, 0, 0
        sent0 = collector.transport_stats.sent
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            result = await collector.poll(device)
            varbinds += result.varbinds
            samples = len(result.samples)
            polls += 1
        requests = collector.transport_stats.sent - sent0
        return time.process_time() - cpu0, varbinds, polls, samples, requests
    finally:
        await collector.aclose()


def child_poll(port: int, seconds: float, *, pure: bool) -> dict[str, tuple[float, int]]:
    """Full polls measured in a fresh child process in the same namespace, like a daemon's
    poller (not after this process's pysnmp and v3 runs): with the compiled modules, or with
    their sources (CHMD_PURE_PYTHON=1, what a machine without a C compiler gets)."""
    env = os.environ | {native.PURE_ENV: "1"} if pure else os.environ
    child = subprocess.run(
        [sys.executable, __file__, "--seconds", str(seconds), "--poll-only", str(port)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    cpu, vbs, polls, samples, requests = json.loads(child.stdout.splitlines()[-1])
    if pure:
        return {POLL_PURE: (cpu, vbs)}
    return {
        POLL: (cpu, vbs),
        POLL_SHAPE: (float(samples), vbs // max(1, polls)),
        POLL_REQUESTS: (float(requests), polls),
    }


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


Figures = dict[str, tuple[float, int]]  # figure → (CPU seconds, varbinds) of one round


def inner(seconds: float, rounds: int, note: str) -> None:
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
        print(
            f"{len(columns)} interface columns; {rounds} rounds of ~{seconds / rounds:g} s per "
            "figure, every figure measured once per round (the machine's load moves them all)"
        )
        per_round: list[Figures] = []
        for number in range(1, rounds + 1):
            figures = one_round(port, columns, seconds / rounds, Path(tmp))
            per_round.append(figures)
            shown = ", ".join(f"{SHORT[k]} {us(*figures[k]):.2f}" for k in SHORT if k in figures)
            print(f"round {number}: us/varbind {shown}")
        report(per_round)


def one_round(port: int, columns: list[ber.OID], seconds: float, tmp: Path) -> Figures:
    figures: Figures = {}
    cpu, vbs, runs, startup = bench_snmpbulkwalk(port, seconds)
    figures[NATIVE] = (cpu, vbs)
    figures[NATIVE_NET] = (max(0.0, cpu - runs * startup), vbs)

    async def ours() -> None:
        engine = UdpEngine()
        fast = FastClient(target(port), engine)
        try:
            cpu, vbs, walks = await bench_walk(fast, columns, seconds)
            figures[WALK] = (cpu, vbs)
            figures[PER_WALK] = (0.0, vbs // max(1, walks))
            walked = await fast.walk(columns)
            instances = [vb[0] for col in columns[3:10] for vb in walked[col]]
            cpu, vbs, _ = await bench_get(fast, instances, seconds)
            figures[GET] = (cpu, vbs)
        finally:
            engine.close()
        engine_py = new_pysnmp_engine()
        try:
            ref = PysnmpClient(target(port), engine_py)
            cpu, vbs, _ = await bench_walk(ref, columns, seconds)
            figures["pysnmp 7.1 GETBULK walk (reference)"] = (cpu, vbs)
        finally:
            close_pysnmp_engine(engine_py)
        figures.update(await bench_v3(port, columns, seconds))

    asyncio.run(ours())
    figures.update(child_poll(port, seconds, pure=False))
    if native.guard().compiled:
        figures.update(child_poll(port, seconds, pure=True))
    exporter = bench_exporter(tmp, port, columns, seconds)
    if isinstance(exporter, str):
        print(f"snmp_exporter: {exporter}")
    else:
        cpu, vbs, scrapes = exporter
        figures[EXPORTER] = (cpu, vbs)
        figures[EXPORTER_SCRAPES] = (cpu, scrapes)
    return figures


EXPORTER = "prometheus-snmp-exporter 0.21 (Go)"
NATIVE = "snmpbulkwalk ifTable+ifXTable (C)"
WALK = "chmd GETBULK walk (fast path)"
GET = "chmd packed GET, 20/PDU (fast path)"
POLL = "chmd full device poll (all profiles)"
POLL_PURE = "  same, pure Python (no mypyc build)"
NATIVE_NET = "  same, net of process start-up"
V3_WALK = "chmd v3 walk authPriv SHA/AES (UsmClient)"
V3_PYSNMP = "pysnmp 7.1 v3 walk authPriv SHA/AES"
# bookkeeping entries of a round (not CPU per varbind figures)
PER_WALK, POLL_SHAPE, POLL_REQUESTS, EXPORTER_SCRAPES = "_walk", "_poll", "_requests", "_scrapes"
SHORT = {NATIVE: "snmpbulkwalk", WALK: "walk", GET: "GET", POLL: "poll", POLL_PURE: "pure poll"}


def median_us(per_round: list[Figures], name: str) -> float:
    return statistics.median(us(*figures[name]) for figures in per_round)


def median_ratio(per_round: list[Figures], name: str, baseline: str) -> float:
    """The median over rounds of name / baseline measured in the same round."""
    return statistics.median(us(*f[name]) / us(*f[baseline]) for f in per_round)


def report(per_round: list[Figures]) -> None:
    """Per figure: the median over rounds (and the best round), and its ratio to
    snmpbulkwalk in the same round. The goals are judged on the medians."""
    last = per_round[-1]
    names = [n for n in last if not n.startswith("_")]
    head = ("client", "varbinds", "CPU s", "us/varbind", "best", "varbinds/CPU-s", "x native")
    print(
        f"\n{head[0]:<40} {head[1]:>9} {head[2]:>7} {head[3]:>10} {head[4]:>6} {head[5]:>15}"
        f" {head[6]:>9}"
    )
    for name in names:
        cpu = sum(f[name][0] for f in per_round)
        vbs = sum(f[name][1] for f in per_round)
        per = median_us(per_round, name)
        best = min(us(*f[name]) for f in per_round)
        print(
            f"{name:<40} {vbs:>9} {cpu:>7.2f} {per:>10.2f} {best:>6.2f} {1e6 / per:>15,.0f}"
            f" {median_ratio(per_round, name, NATIVE):>9.2f}"
        )
    print("(us/varbind: median over the rounds; x native: median of the per-round ratios)")
    samples, per_poll = last[POLL_SHAPE]
    requests, polls = last[POLL_REQUESTS]
    poll_ms = median_us(per_round, POLL) * per_poll / 1000
    print(
        f"\nchmd full poll: {per_poll} varbinds in {requests / max(1, polls):.0f} requests, "
        f"{samples:.0f} samples, {poll_ms:.2f} ms CPU per poll -> "
        f"{60_000 / poll_ms:,.0f} devices per core at 60 s"
    )
    if EXPORTER_SCRAPES in last:
        scrape_ms = statistics.median(
            1000 * c / max(1, n) for c, n in (f[EXPORTER_SCRAPES] for f in per_round)
        )
        print(
            f"snmp_exporter: {scrape_ms:.2f} ms CPU per scrape -> "
            f"{60_000 / scrape_ms:,.0f} devices per core at 60 s"
        )
    per_walk = last[PER_WALK][1]
    print(f"walk of the interface tables: {per_walk} varbinds per walk")
    labels = (
        (WALK, "walk"),
        (GET, "packed GET"),
        (POLL, "full poll"),
        (POLL_PURE, "pure-Python poll"),
    )
    for name, label in labels:
        if name not in last:
            continue
        ours = median_us(per_round, name)
        verdict = "met" if ours <= 3 else "NOT met"
        ratios = (
            f"snmpbulkwalk {median_ratio(per_round, name, NATIVE):.2f}x, net of start-up "
            f"{median_ratio(per_round, name, NATIVE_NET):.2f}x"
        )
        if EXPORTER in last:
            ratios += f", snmp_exporter {median_ratio(per_round, name, EXPORTER):.2f}x"
        rounds = " ".join(f"{us(*f[name]):.2f}" for f in per_round)
        print(
            f"goal <= 3 us CPU per varbind: chmd {label} {ours:.2f} us -> {verdict} "
            f"(rounds: {rounds}; {ratios})"
        )
    if V3_WALK in last:
        v3_us, py_us = median_us(per_round, V3_WALK), median_us(per_round, V3_PYSNMP)
        verdict = "met" if v3_us <= 3 else "NOT met"
        print(f"SNMPv3 authPriv walk: UsmClient {v3_us:.2f} us, pysnmp {py_us:.2f} us per varbind")
        print(f"  pysnmp / UsmClient: {py_us / v3_us:.1f}x; goal <= 3 us -> {verdict}")
    walk_us = median_us(per_round, WALK)
    if EXPORTER in last:
        exp_us = median_us(per_round, EXPORTER)
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
    parser.add_argument("--seconds", type=float, default=9.0, help="measuring time per figure")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds (the seconds are split)"
    )
    parser.add_argument("--inner", metavar="NOTE", help=argparse.SUPPRESS)
    parser.add_argument("--poll-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll_only:
        print(json.dumps(asyncio.run(bench_poll(args.poll_only, args.seconds))))
        return
    if args.inner:
        inner(args.seconds, args.rounds, args.inner)
        return
    with namespace() as ns:
        if ns is None:
            note = "no network namespace permitted: plain snmpd on the host loopback"
            inner(args.seconds, args.rounds, note)
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
            "--rounds",
            str(args.rounds),
            "--inner",
            f"netns {ns} with {VETH_PAIRS} veth pairs",
        ]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()

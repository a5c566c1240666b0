"""Storage benchmark: chmd's writer, spool and replay against a real InfluxDB 1.6.7.

Run from the repo root: `python bench/bench_store.py [--points N] [--devices D] ...`.
It starts its own influxd on 127.0.0.1 (through tests/harness when available, else with its
own start code), and prints:

* client-side CPU per point (and per field) for serialise + batch + write with chmd's
  Writer, next to the CPU `curl` spends POSTing the same line protocol in the same run, and
  both ingest rates;
* spool append and replay throughput (MB/s);
* the replay of a simulated 10-minute outage of 1,000 devices, against real time.

The machine is shared: figures are CPU seconds of this process (and of curl), so other load
shows up mostly in the wall times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from prometheus_client import CollectorRegistry  # noqa: E402

from chmd.model import Sample  # noqa: E402
from chmd.store import lineproto  # noqa: E402
from chmd.store.metrics import StoreMetrics  # noqa: E402
from chmd.store.settings import StorageSettings  # noqa: E402
from chmd.store.spool import Spool  # noqa: E402
from chmd.store.writer import Writer  # noqa: E402

COUNTERS = [
    "ifHCInOctets",
    "ifHCOutOctets",
    "ifHCInUcastPkts",
    "ifHCOutUcastPkts",
    "ifHCInMulticastPkts",
    "ifHCOutMulticastPkts",
    "ifHCInBroadcastPkts",
    "ifHCOutBroadcastPkts",
    "ifInDiscards",
    "ifInErrors",
    "ifOutDiscards",
    "ifOutErrors",
]
RATES = [*COUNTERS[:4], "ifInErrors", "ifOutErrors", "ifInDiscards", "ifOutDiscards"]
RATE_NAMES = [f"{name}_rate" for name in RATES]  # built once, as the collector's layouts do


# --- a server of our own ---------------------------------------------------------------------
class OwnInflux:
    """Fallback when tests/harness is not importable: the COMPONENTS.md recipe."""

    def __init__(self) -> None:
        import socket

        self.base = Path(tempfile.mkdtemp(prefix="bench-influx-"))
        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        self.port, self.rpc = ports
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OwnInflux:
        conf = self.base / "influxdb.conf"
        conf.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{self.rpc}"\n'
            f'[meta]\n  dir = "{self.base}/meta"\n[data]\n  dir = "{self.base}/data"\n'
            f'  wal-dir = "{self.base}/wal"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
        )
        log = (self.base / "influxd.log").open("wb")
        self.proc = subprocess.Popen(["influxd", "-config", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as r:  # noqa: S310 (loopback http URL)
                    if r.status == 204:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("influxd did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def start_influx() -> Any:
    try:
        from harness import InfluxDB
    except ImportError:
        return OwnInflux().start()
    return InfluxDB().start()


def influx_count(url: str, db: str, measurement: str) -> int:
    """Points in raw.<measurement> (every bench point has an `ifMtu` field)."""
    import json
    import urllib.parse

    q = urllib.parse.urlencode({"db": db, "q": f'SELECT count("ifMtu") FROM "raw"."{measurement}"'})  # noqa: S608 (constant query)
    with urllib.request.urlopen(f"{url}/query?{q}", timeout=30) as r:  # noqa: S310 (loopback http URL)
        series = json.loads(r.read())["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


# --- data ----------------------------------------------------------------------------------
def interface_sample(device: int, port: int, t_ns: int, tick: int) -> Sample:
    """One IF-MIB row the way chmd's SNMP collector reports it: 29 fields, 6 tags."""
    fields: dict[str, float | int] = {
        "ifType": 6,
        "ifMtu": 1500,
        "ifSpeed": 1_000_000_000,
        "ifAdminStatus": 1,
        "ifOperStatus": 1,
        "ifHighSpeed": 1000,
    }
    base = device * 1_000_003 + port * 7919 + tick * 123_457
    for i, name in enumerate(COUNTERS):
        fields[name] = base * (i + 1)
    fields["ifCounterDiscontinuityTime"] = 0
    for i, name in enumerate(RATE_NAMES):
        fields[name] = (base % 100_000) / (i + 3)
    fields["in_utilization"] = (base % 10_000) / 100.0
    fields["out_utilization"] = (base % 7_000) / 100.0
    tags = {
        "device": f"sw{device:04d}",
        "agent_host": f"10.{device // 250}.{device % 250}.1",
        "ifIndex": str(port + 1),
        "ifName": f"Gi1/0/{port + 1}",
        "ifDescr": f"GigabitEthernet1/0/{port + 1}",
        "ifAlias": f"access port {port + 1}",
    }
    return Sample("bench_if", tags, fields, t_ns)


def cpu_sample(device: int, t_ns: int, tick: int) -> Sample:
    """A small point: 2 tags, 4 fields (the shape of a CPU/memory/environment reading)."""
    return Sample(
        "bench_cpu",
        {"device": f"sw{device:04d}", "agent_host": f"10.{device // 250}.{device % 250}.1"},
        {"ifMtu": 1, "cpu_5s": (device + tick) % 100, "cpu_1m": 12.5 + tick, "mem_used_pct": 43.25},
        t_ns,
    )


def polls(
    devices: int, ports: int, ticks: int, t0_ns: int, step_s: float, small: bool = False
) -> list[list[Sample]]:
    """One list of samples per device poll, in time order (`small`: 10 small points per
    poll, else `ports` interface rows)."""
    out = []
    for tick in range(ticks):
        t = t0_ns + int(tick * step_s * 1e9)
        for d in range(devices):
            if small:
                out.append([cpu_sample(d * 10 + j, t + d * 1000, tick) for j in range(10)])
            else:
                out.append([interface_sample(d, p, t + d * 1000, tick) for p in range(ports)])
    return out


# --- measurements ----------------------------------------------------------------------------
def settings(url: str, db: str, spool: Path, **extra: Any) -> StorageSettings:
    data: dict[str, Any] = {
        "url": url,
        "database": db,
        "spool_dir": str(spool),
        "retention": {"raw_keep": "30d", "rollups": []},
        "spool_max_bytes": 8 * 1024**3,
    }
    data.update(extra)
    return StorageSettings.model_validate(data)


async def wait_until(cond: Callable[[], bool], limit_s: float = 600) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError("benchmark condition not reached")
        await asyncio.sleep(0.01)


async def chmd_write(
    url: str,
    db: str,
    batches: list[list[Sample]],
    spool: Path,
    pace_pps: float | None = None,
    **extra: Any,
) -> dict[str, float]:
    """Submit every poll through a Writer and wait until InfluxDB has all points. With
    `pace_pps`, polls are submitted at that rate (a server that keeps up: no overload path),
    else as fast as possible."""
    metrics = StoreMetrics(CollectorRegistry())
    # The writer's clock follows the data (polls replayed faster than real time), so rollup
    # windows close as they would live: when the next window's data comes or after the grace.
    data_now = [batches[0][0].time_ns]
    writer = Writer(settings(url, db, spool, **extra), metrics, clock_ns=lambda: data_now[0])
    await writer.start()
    await wait_until(writer._ready.is_set)  # retention ensured: not part of the figure
    total = sum(len(b) for b in batches)
    written = metrics.points_written.labels("raw")
    submit_cpu = 0.0
    sent = 0
    cpu0, wall0 = time.process_time(), time.monotonic()
    for batch in batches:
        data_now[0] = batch[0].time_ns
        before = time.process_time()
        writer.submit(batch)
        submit_cpu += time.process_time() - before
        sent += len(batch)
        await pace(sent, pace_pps, wall0)
    writer.flush()
    await wait_until(lambda: written._value.get() >= total)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    spooled = metrics.spooled_points._value.get()
    await writer.aclose()
    return {
        "points": total,
        "cpu_s": cpu,
        "wall_s": wall,
        "submit_cpu_s": submit_cpu,
        "spooled": spooled,
    }


# Paced polls are submitted in bursts this far apart. An idle wake-up of the event loop costs
# this VM ~100 us of CPU (measured: 117 us at a 6 ms period, 25 us at 0.5 ms), which a wake-up
# per 24-row poll would add to every row; the Writer's work does not depend on the spacing
# (it serialises at its own tick).
PACE_STEP_S = 0.1
PACED_ROUNDS = 3


async def pace(sent: int, pace_pps: float | None, wall0: float) -> None:
    """After `sent` points: return to the loop (unpaced), or sleep once `PACE_STEP_S` ahead."""
    ahead = sent / pace_pps - (time.monotonic() - wall0) if pace_pps else 0.0
    if ahead >= PACE_STEP_S or not pace_pps:
        await asyncio.sleep(max(ahead, 0.0))  # a poll callback returns to the loop


async def paced_loop_cpu(batches: list[list[Sample]], pace_pps: float) -> float:
    """CPU of the paced loop alone (the same sleeps, no Writer): the benchmark's own event
    loop wake-ups, which a daemon spends on its polls anyway."""
    sent = 0
    cpu0, wall0 = time.process_time(), time.monotonic()
    for batch in batches:
        sent += len(batch)
        await pace(sent, pace_pps, wall0)
    return time.process_time() - cpu0


def curl_write(url: str, db: str, bodies: list[bytes], workdir: Path) -> dict[str, float]:
    """The same line protocol, POSTed by one curl process (one request per batch, keep-alive)."""
    import urllib.parse

    for q in (
        f'CREATE DATABASE "{db}"',
        f'CREATE RETENTION POLICY "raw" ON "{db}" DURATION 30d REPLICATION 1 DEFAULT',
    ):
        data = urllib.parse.urlencode({"q": q}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{url}/query", data=data)).close()  # noqa: S310 (loopback http URL)
    config = []
    for i, body in enumerate(bodies):
        path = workdir / f"body{i}.lp"
        path.write_bytes(body)
        if i:
            config.append("next")
        config += [
            f'url = "{url}/write?db={db}&rp=raw&precision=ns"',
            f'data-binary = "@{path}"',
            'output = "/dev/null"',
        ]
    (workdir / "curl.conf").write_text("\n".join(config) + "\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.monotonic()
    subprocess.run(["curl", "-s", "-f", "-K", str(workdir / "curl.conf")], check=True)
    wall = time.monotonic() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "wall_s": wall}


def spool_throughput(bodies: list[bytes], workdir: Path, fsync: str) -> dict[str, float]:
    directory = workdir / f"spool-{fsync}"
    spool = Spool(directory, max_bytes=16 * 1024**3, segment_bytes=16 * 1024**2, fsync=fsync)  # type: ignore[arg-type]
    size = sum(len(b) for b in bodies)
    t0 = time.monotonic()
    for body in bodies:
        spool.append("raw", time.time_ns(), 5000, body)
    spool.close()
    write_s = time.monotonic() - t0
    reader = Spool(directory, max_bytes=16 * 1024**3, segment_bytes=16 * 1024**2, fsync=fsync)  # type: ignore[arg-type]
    t0 = time.monotonic()
    n = 0
    while (record := reader.peek()) is not None:
        n += len(record.body)
        reader.commit(record)
    read_s = time.monotonic() - t0
    reader.close()
    shutil.rmtree(directory, ignore_errors=True)
    assert n == size
    return {
        "mb": size / 1e6,
        "write_mb_s": size / 1e6 / write_s,
        "replay_mb_s": size / 1e6 / read_s,
    }


async def outage(
    server: Any, devices: int, ports: int, minutes: int, workdir: Path
) -> dict[str, float]:
    """Collect `minutes` of 60 s polls of `devices` while influxd is down, then time the replay."""
    metrics = StoreMetrics(CollectorRegistry())
    writer = Writer(
        settings(server.url, "bench_outage", workdir / "outage", fsync="batch"), metrics
    )
    await writer.start()
    await wait_until(writer._ready.is_set)
    server.stop()
    t0 = time.time_ns() - minutes * 60 * 10**9
    total = 0
    spool_cpu = 0.0
    for tick in range(minutes):
        polls = [  # built before the clock starts: the figure is the Writer's
            [interface_sample(d, p, t0 + tick * 60 * 10**9 + d * 1000, tick) for p in range(ports)]
            for d in range(devices)
        ]
        cpu0 = time.process_time()
        for poll in polls:
            writer.submit(poll)
            total += len(poll)
        await asyncio.sleep(0)
        spool_cpu += time.process_time() - cpu0
    cpu0 = time.process_time()
    writer.flush()
    spool_cpu += time.process_time() - cpu0
    await wait_until(lambda: metrics.spooled_points._value.get() >= total)
    spooled_mb = writer.spool.bytes / 1e6
    bodies = []
    record = writer.spool.peek()
    while record is not None:
        bodies.append(record.body)
        record = writer.spool.peek(after=record)
    server.start()
    cpu0, wall0 = time.process_time(), time.monotonic()
    await wait_until(lambda: metrics.replayed_points._value.get() > 0, limit_s=3600)
    first_s = time.monotonic() - wall0  # the writer's retry backoff (up to retry_max x 1.2)
    await wait_until(lambda: not writer.spool.has_records(), limit_s=3600)
    replay_wall, replay_cpu = time.monotonic() - wall0, time.process_time() - cpu0
    await writer.aclose()
    curl = curl_write(server.url, "curl_outage", bodies, workdir)
    return {
        "curl_wall_s": curl["wall_s"],
        "points": total,
        "spooled_mb": spooled_mb,
        "collect_cpu_s": spool_cpu,
        "replay_wall_s": replay_wall,
        "first_batch_s": first_s,
        "replay_cpu_s": replay_cpu,
        "realtime_s": minutes * 60.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points for the CPU figure")
    parser.add_argument("--devices", type=int, default=1000, help="devices in the outage")
    parser.add_argument("--ports", type=int, default=24, help="interfaces per device")
    parser.add_argument("--minutes", type=int, default=10, help="length of the outage")
    parser.add_argument(
        "--parts", default="write,rollups,spool,outage", help="comma-separated subset to run"
    )
    args = parser.parse_args()
    if not shutil.which("curl"):
        sys.exit("curl is needed for the baseline")
    server = start_influx()
    workdir = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        run(server, workdir, args)
    finally:
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)


def write_path(server: Any, workdir: Path, name: str, batches: list[list[Sample]]) -> None:
    points = sum(len(b) for b in batches)
    sample = batches[0][0]
    fields = len(sample.fields)
    measurement = sample.measurement
    lines = [lineproto.encode(s, lineproto.SkipCounts()) or "" for b in batches for s in b]
    bodies = ["\n".join(lines[i : i + 5000]).encode() for i in range(0, len(lines), 5000)]
    print(
        f"\n== write path: {name}, {len(sample.tags)} tags, {fields} fields, "
        f"{len(lines[0])} bytes/line; {points} points in {len(batches)} polls =="
    )
    skipped = lineproto.SkipCounts()
    cpu0 = time.process_time()
    for b in batches:
        for s in b:
            lineproto.encode(s, skipped)
    ser = (time.process_time() - cpu0) / points * 1e6
    tag = measurement.removeprefix("bench_")
    curl = curl_write(server.url, f"curl_{tag}", bodies, workdir)
    plain = asyncio.run(
        chmd_write(server.url, f"chmd_{tag}", batches, workdir / f"{tag}1", gzip=False)
    )
    gz = asyncio.run(chmd_write(server.url, f"chmdgz_{tag}", batches, workdir / f"{tag}2"))
    roll = asyncio.run(
        chmd_write(
            server.url,
            f"chmdroll_{tag}",
            batches,
            workdir / f"{tag}3",
            gzip=False,
            retention={"raw_keep": "30d"},
        )
    )
    # The same Writer at 40 % of curl's ingest rate: InfluxDB keeps up, nothing is spooled.
    # PACED_ROUNDS rounds of a sixth of the polls each, each followed by the same paced loop
    # without a Writer; the figure is the median round (one round moves by 20-40 % here).
    pace = 0.4 * points / curl["wall_s"]
    share = max(1, len(batches) // 6)
    rounds = []
    for r in range(PACED_ROUNDS):
        part = batches[r * share : (r + 1) * share]
        run_ = asyncio.run(
            chmd_write(
                server.url, f"chmdpaced{r}_{tag}", part, workdir / f"{tag}4{r}", pace_pps=pace
            )
        )
        run_["loop_cpu_s"] = asyncio.run(paced_loop_cpu(part, pace))
        run_["writer_us"] = (run_["cpu_s"] - run_["loop_cpu_s"]) / run_["points"] * 1e6
        rounds.append(run_)
    rounds.sort(key=lambda r: r["writer_us"])
    paced = rounds[len(rounds) // 2]
    loop_cpu = paced["loop_cpu_s"]
    for db, want in (
        (f"curl_{tag}", points),
        (f"chmd_{tag}", points),
        (f"chmdgz_{tag}", points),
        (f"chmdroll_{tag}", points),
        *((f"chmdpaced{r}_{tag}", share * len(batches[0])) for r in range(PACED_ROUNDS)),
    ):
        got = influx_count(server.url, db, measurement)
        if got != want:
            raise SystemExit(f"{db}: {got} points stored, {want} expected")

    def per_pt(r: dict[str, float]) -> float:
        return r["cpu_s"] / r.get("points", points) * 1e6

    def show(label: str, us: float, wall: float | None) -> None:
        rate = f"  ingest {points / wall:7.0f} points/s" if wall else ""
        print(f"  {label:40s}{us:6.2f} us/point {us / fields * 1000:5.0f} ns/field{rate}")

    def submit_pt(r: dict[str, float]) -> str:
        return (
            f"    of which in submit() {r['submit_cpu_s'] / points * 1e6:6.2f} us/point; "
            f"{r['spooled'] / points:.0%} of the points went through the spool"
        )

    show("serialise only (lineproto.encode)", ser, None)
    show("chmd Writer, gzip off", per_pt(plain), plain["wall_s"])
    print(submit_pt(plain))
    show("chmd Writer, gzip on (the default)", per_pt(gz), gz["wall_s"])
    print(submit_pt(gz))
    show("chmd Writer, gzip off, 5m+1h rollups", per_pt(roll), roll["wall_s"])
    print(submit_pt(roll))
    writer_pt = paced["writer_us"]
    print(
        f"  chmd Writer, gzip on, paced at {pace:.0f} points/s (40 % of curl's rate, "
        f"{paced['points']:.0f} points a round, {paced['spooled'] / paced['points']:.0%} "
        f"spooled), median of {PACED_ROUNDS} rounds: {per_pt(paced):.2f} us/point, of which "
        f"the benchmark loop's own wake-ups {loop_cpu / paced['points'] * 1e6:.2f}: Writer "
        f"{writer_pt:.2f} us/point {writer_pt / fields * 1000:.0f} ns/field (rounds: "
        + " ".join(f"{r['writer_us']:.2f}" for r in rounds)
        + ")"
    )
    show("curl, same line protocol (baseline)", per_pt(curl), curl["wall_s"])
    print(
        f"  chmd (gzip off) / curl: CPU per point {per_pt(plain) / per_pt(curl):.1f}x, "
        f"ingest rate {curl['wall_s'] / plain['wall_s']:.2f} (1.00 = as fast as curl)"
    )
    print(
        f"  goal < 5 us of Writer CPU per point (InfluxDB keeping up, gzip on): {writer_pt:.2f} us "
        f"-> {'met' if writer_pt < 5 else 'NOT met'}; with the overload path (points through "
        f"the spool): {per_pt(gz):.2f} us; ingest against curl's: "
        f"{curl['wall_s'] / gz['wall_s']:.2f} (gzip on), "
        f"{curl['wall_s'] / plain['wall_s']:.2f} (off)"
    )


def run(server: Any, workdir: Path, args: argparse.Namespace) -> None:
    ports, ticks = 24, 10
    t0 = time.time_ns() - 15 * 60 * 10**9  # 10 polls a minute apart, ending 5 min ago
    print(
        f"InfluxDB {getattr(server, 'version', '1.6.7')} at {server.url}; "
        f"{os.cpu_count()} CPUs (shared)"
    )
    parts = set(args.parts.split(","))
    devices = max(1, args.points // (ports * ticks))
    wide = polls(devices, ports, ticks, t0, 60)
    if "write" in parts:
        write_path(server, workdir, "IF-MIB rows", wide)
        small = polls(max(1, args.points // (10 * ticks)), 1, ticks, t0, 60, small=True)
        write_path(server, workdir, "small points", small)
    if "rollups" in parts:
        snapshot_part(args.devices, ports)
    if "spool" in parts:
        spool_part(wide, workdir)
    if "outage" in parts:
        outage_part(server, workdir, args)


def snapshot_part(devices: int, ports: int) -> None:
    """The rollup path outside the Writer, at the default settings (5m and 1h tiers, the
    default rollup fields): buffering a row, closing and formatting windows, and the periodic
    snapshot of every open window, whose CPU per row depends on how many polls it covers."""
    from chmd.store.rollup import Rollups

    retention = StorageSettings.model_validate({}).retention
    rollups = Rollups(
        {t.name: t.window for t in retention.rollups},
        exclude_fields=retention.rollup_exclude_fields,
        measurements=retention.rollup_measurements,
    )
    series = devices * ports
    print(
        f"\n== rollups: {series:,} interface series, 60 s polls, tiers "
        f"{', '.join(t.name for t in retention.rollups)}, the default rollup fields =="
    )
    hour = 3600 * 10**9
    t0 = (time.time_ns() // hour - 2) * hour

    def poll(tick: int) -> list[tuple[Sample, str]]:
        rows = [
            interface_sample(d, p, t0 + tick * 60 * 10**9, tick)
            for d in range(devices)
            for p in range(ports)
        ]
        return [(s, lineproto.series_key(s)) for s in rows]

    skipped = lineproto.SkipCounts()
    observe_cpu, closed = 0.0, 0
    snapshot_cpu: dict[int, list[float]] = {0: [], 1: [], 2: [], 5: []}
    # 6 polls first, so that 5m windows have closed and 1h windows are open too (the steady
    # state); then snapshots after this many new polls, in turn (the first one discarded)
    plan = [6, 0, 1, 2, 5, 0, 1, 2, 5]
    tick = 0
    for covered in plan:
        for _ in range(covered):
            rows = poll(tick)
            tick += 1
            cpu0 = time.process_time()
            for sample, key in rows:
                for window in rollups.observe(sample, key, lineproto.clean_layout(sample)):
                    lineproto.float_fields(window.names, window.values, skipped)
                    closed += 1
            observe_cpu += time.process_time() - cpu0
        cpu0 = time.process_time()
        "".join(rollups.json_pieces()).encode()
        if covered in snapshot_cpu:
            snapshot_cpu[covered].append(time.process_time() - cpu0)
    rows_total = tick * series
    per_window = {k: sum(v) / len(v) / series * 1e6 for k, v in snapshot_cpu.items()}
    print(
        f"  observe, close and format: {observe_cpu / rows_total * 1e6:.2f} us/row "
        f"({closed:,} windows closed over {tick} polls; {len(rollups._open):,} open at the end)"
    )
    print(
        "  snapshot of every open window: "
        + ", ".join(f"{per_window[k]:.1f} us/series after {k} polls" for k in (0, 1, 2, 5))
    )
    # with 60 s polls, a snapshot every 30 s covers one poll or none, in turn
    every = {30: per_window[1] + per_window[0], 60: per_window[1], 120: per_window[2] / 2}
    every[300] = per_window[5] / 5
    print(
        "  snapshot CPU per row at 60 s polls, saving every: "
        + ", ".join(f"{s} s {us:.1f} us" for s, us in every.items())
        + f" (default {retention.rollup_snapshot_interval:.0f} s)"
    )


def spool_part(wide: list[list[Sample]], workdir: Path) -> None:
    lines = [lineproto.encode(s, lineproto.SkipCounts()) or "" for b in wide for s in b]
    bodies = ["\n".join(lines[i : i + 5000]).encode() for i in range(0, len(lines), 5000)]
    print("\n== spool (5,000-point records of IF-MIB rows) ==")
    for fsync in ("never", "batch"):
        sp = spool_throughput(bodies, workdir, fsync)
        print(
            f"  fsync={fsync:6s} {sp['mb']:7.1f} MB: append {sp['write_mb_s']:7.1f} MB/s, "
            f"replay read+commit {sp['replay_mb_s']:7.1f} MB/s"
        )


def outage_part(server: Any, workdir: Path, args: argparse.Namespace) -> None:
    print(
        f"\n== outage: {args.devices} devices x {args.ports} interfaces, "
        f"{args.minutes} min of 60 s polls, influxd stopped =="
    )
    out = asyncio.run(outage(server, args.devices, args.ports, args.minutes, workdir))
    print(
        f"  {out['points']} points spooled ({out['spooled_mb']:.0f} MB) with "
        f"{out['collect_cpu_s'] / out['points'] * 1e6:.1f} us CPU/point (serialise + batch + spool)"
    )
    print(
        f"  replay to InfluxDB: {out['replay_wall_s']:.1f} s wall "
        f"({out['points'] / out['replay_wall_s']:.0f} points/s, "
        f"{out['spooled_mb'] / out['replay_wall_s']:.1f} MB/s, "
        f"chmd CPU {out['replay_cpu_s']:.1f} s = "
        f"{out['replay_cpu_s'] / out['replay_wall_s'] * 100:.0f}% of the wall time) "
        f"for {out['realtime_s']:.0f} s of real time: "
        f"{out['realtime_s'] / out['replay_wall_s']:.1f}x faster than real time"
    )
    speedup = out["realtime_s"] / out["replay_wall_s"]
    print(
        f"  goal replay >= 10x faster than real time: {speedup:.1f}x -> "
        f"{'met' if speedup >= 10 else 'NOT met'}"
    )
    print(
        f"  of which {out['first_batch_s']:.1f} s until the first replayed batch was acknowledged "
        "(the retry backoff running when influxd came back, plus that batch)"
    )
    print(
        f"  the same line protocol POSTed by curl (one request at a time): "
        f"{out['curl_wall_s']:.1f} s ({out['points'] / out['curl_wall_s']:.0f} points/s); "
        f"chmd replay / curl time: {out['replay_wall_s'] / out['curl_wall_s']:.2f}"
    )


if __name__ == "__main__":
    main()

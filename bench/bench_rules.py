"""Rule evaluation benchmark: N series x 20 rules per cycle, cycle time and memory per series.

    python bench/bench_rules.py [--series 1000000] [--breach 0.0005] [--cycles 3]

What is measured, in one process on one core:

* **cycle**: `RuleEngine.evaluate(now)` over N `interface` series (one field, `in_utilization`,
  with a 1-hour raw window at 60 s = 61 slots) and 20 rules: 14 last-value thresholds, 2
  hysteresis thresholds, 2 `avg` over a 15-minute window, 1 gauge `rate` over 5 minutes and
  1 `nodata`. A fraction `--breach` of the series breaches every threshold, so the per-alert
  state machine runs too (steady state: the alerts are already firing).
* **native baseline**: the same 20 conditions as bare numpy expressions over the same arrays
  (no selectors, no state, no alerts) — what a hand-vectorised checker would cost.
* **memory**: bytes per series of the window arrays (numpy nbytes) and of the whole engine
  (process RSS growth, including tag tuples and the series index).
* **observe**: samples per second through `RuleEngine.observe` (the Python ingest path).

The windows are filled with one hour of data written straight into the arrays (vectorised):
feeding an hour of 1M series through `observe` would take minutes; its own rate is reported.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chmd.model import Sample
from chmd.rules.engine import RuleEngine
from chmd.rules.load import load_rule_files
from chmd.rules.store import Table

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp()
LIMITS = [60 + 2 * k for k in range(14)]  # 60..86 %: 14 last-value thresholds


def rules_yaml() -> str:
    out = ["groups:", "  - name: bench", "    interval: 60s", "    rules:"]
    sel = "select: {measurement: interface, field: in_utilization}"
    for k, limit in enumerate(LIMITS):
        out.append(f"      - {{name: t{k}, kind: threshold, {sel}, op: '>', value: {limit}}}")
    for k, limit in enumerate((90, 95)):
        out.append(
            f"      - {{name: h{k}, kind: threshold, {sel}, op: '>', value: {limit}, "
            f"clear: {limit - 10}}}"
        )
    for k, (limit, window) in enumerate(((88, "15m"), (92, "1h"))):
        out.append(
            f"      - {{name: a{k}, kind: threshold, {sel}, op: '>', value: {limit}, reduce: avg, "
            f"window: {window}}}"
        )
    out.append(
        f"      - {{name: r0, kind: rate, {sel}, function: rate, counter: false, window: 5m, "
        "op: '>', value: 1}"
    )
    out.append(f"      - {{name: n0, kind: nodata, {sel}, absent_for: 3m}}")
    return "\n".join(out) + "\n"


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build_labels(n: int) -> list[tuple[tuple[str, str], ...]]:
    """Realistic tag sets: 48-port switches; device-level strings shared, ifAlias unique."""
    ports = [(str(i + 1), f"Gi1/0/{i + 1}", f"GigabitEthernet1/0/{i + 1}") for i in range(48)]
    labels = []
    for d in range(n // 48 + 1):
        device, host = f"sw{d:06d}", f"10.{d >> 16 & 255}.{d >> 8 & 255}.{d & 255}"
        site, role = f"site{d % 200}", ("access", "core", "dist")[d % 3]
        for index, name, descr in ports:
            if len(labels) == n:
                return labels
            labels.append(
                (
                    ("agent_host", host),
                    ("device", device),
                    ("ifAlias", f"link {d}.{index}"),
                    ("ifDescr", descr),
                    ("ifIndex", index),
                    ("ifName", name),
                    ("role", role),
                    ("site", site),
                )
            )
    return labels


def fill(
    table: Table, labels: list[tuple[tuple[str, str], ...]], breach: float, rng: np.random.Generator
) -> np.ndarray:
    """One hour of 60 s values for every series, written into the arrays directly."""
    for key in labels:
        table.row(key)
    n = len(labels)
    base = rng.uniform(5, 55, n)
    hot = rng.random(n) < breach
    base[hot] = 97.0
    column = table.columns["in_utilization"]
    (ring,) = column.rings.values()
    slots, bucket = ring.spec.slots, ring.spec.bucket_s
    cur = int(NOW // bucket)
    for k in range(slots):
        bid = cur - slots + 1 + k
        ring.vals[:n, bid % slots] = base + rng.normal(0, 1, n) * (~hot)
        ring.aux[:n, bid % slots] = 0.0
    ring.last_bid[:n] = cur
    column.last_v[:n] = ring.vals[:n, cur % slots]
    column.last_t[:n] = cur * bucket
    column.prev_v[:n] = ring.vals[:n, (cur - 1) % slots]
    column.prev_t[:n] = (cur - 1) * bucket
    table.first_t[:n] = NOW - 3600
    table.seen_t[:n] = cur * bucket
    return hot


def python_bytes(table: Table) -> int:
    """Deep size of the series identities: the tag tuples, their pairs and strings (each object
    counted once), the index dict, the row list and the pair intern table."""
    seen: set[int] = set()
    total = sys.getsizeof(table.index) + sys.getsizeof(table.labels) + sys.getsizeof(table._pairs)
    for key in table.labels:
        for obj in (key, *key, *(x for pair in key for x in pair)):
            if id(obj) not in seen:
                seen.add(id(obj))
                total += sys.getsizeof(obj)
    return total


def poll(table: Table, t: float, hot: np.ndarray, rng: np.random.Generator) -> None:
    """Every series reports once more at `t` (a vectorised write of one poll)."""
    n = len(hot)
    column = table.columns["in_utilization"]
    (ring,) = column.rings.values()
    bid = int(t // ring.spec.bucket_s)
    value = np.where(hot, 97.0, column.last_v[:n] + rng.normal(0, 0.5, n))
    ring.vals[:n, bid % ring.spec.slots] = value
    ring.aux[:n, bid % ring.spec.slots] = t - bid * ring.spec.bucket_s
    ring.last_bid[:n] = bid
    column.prev_v[:n], column.prev_t[:n] = column.last_v[:n], column.last_t[:n]
    column.last_v[:n], column.last_t[:n] = value, t
    table.seen_t[:n] = t


def baseline(table: Table, n: int) -> float:
    """The same 20 conditions as bare numpy over the same arrays; seconds per cycle."""
    column = table.columns["in_utilization"]
    (ring,) = column.rings.values()
    start = time.perf_counter()
    v = column.last_v[:n]
    fresh = NOW - column.last_t[:n] <= 600
    count = 0
    for limit in LIMITS:
        count += int(np.count_nonzero((v > limit) & fresh))
    for limit in (90, 95):
        count += int(np.count_nonzero((v > limit) & fresh))
    for limit, slots in ((88, 16), (92, 61)):  # 15 minutes and 1 hour of slots
        avg = ring.vals[:n, :slots].mean(axis=1)
        count += int(np.count_nonzero(avg > limit))
    rate = (ring.vals[:n, 5] - ring.vals[:n, 0]) / 300.0
    count += int(np.count_nonzero(rate > 1))
    count += int(np.count_nonzero(NOW - table.seen_t[:n] >= 180))
    elapsed = time.perf_counter() - start
    assert count >= 0
    return elapsed


def observe_rate(path: Path, count: int) -> float:
    """Samples per second through RuleEngine.observe (new series, then known series)."""
    engine = RuleEngine(load_rule_files([path]))
    labels = build_labels(count)
    samples = [
        Sample(
            "interface",
            dict(key),
            {"in_utilization": 1.0, "ifHCInOctets": 5, "ifOperStatus": 1},
            int(NOW * 1e9),
        )
        for key in labels
    ]
    engine.observe(samples)  # first sight: rows are created
    again = [Sample(s.measurement, s.tags, s.fields, s.time_ns + 60_000_000_000) for s in samples]
    start = time.perf_counter()
    engine.observe(again)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1_000_000)
    parser.add_argument("--breach", type=float, default=0.0005, help="fraction of series breaching")
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    n = args.series
    rng = np.random.default_rng(42)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(rules_yaml())
        ruleset = load_rule_files([path])
        gc.collect()
        before = rss_bytes()
        engine = RuleEngine(ruleset)
        table = engine.store.tables["interface"]
        labels = build_labels(n)
        hot = fill(table, labels, args.breach, rng)
        del labels
        gc.collect()
        after_fill = rss_bytes()
        identity_bytes = python_bytes(table)
        window_bytes = sum(
            a.nbytes
            for c in table.columns.values()
            for a in (c.last_v, c.last_t, c.prev_v, c.prev_t)
        ) + sum(
            r.vals.nbytes + r.aux.nbytes + r.last_bid.nbytes
            for c in table.columns.values()
            for r in c.rings.values()
        )
        window_bytes += table.first_t.nbytes + table.seen_t.nbytes + table.alive.nbytes
        capacity = table.capacity

        start = time.perf_counter()
        first = engine.evaluate(datetime.fromtimestamp(NOW, UTC))
        first_s = time.perf_counter() - start
        cycles = []
        for k in range(1, args.cycles + 1):
            poll(table, NOW + 60 * k, hot, rng)
            start = time.perf_counter()
            changed = engine.evaluate(datetime.fromtimestamp(NOW + 60 * k, UTC))
            cycles.append(time.perf_counter() - start)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        native = min(baseline(table, n) for _ in range(3))
        active = len(engine.active())
        obs = observe_rate(path, min(n, 200_000))

    cycle = min(cycles)
    per_series = window_bytes / capacity
    rules = len(ruleset.rules)
    all_cycles = ", ".join(f"{c:.3f}" for c in cycles)
    lines = [
        f"series: {n:,}   rules: {rules}   rule x series per cycle: {n * rules:,}",
        f"breaching series: {int(hot.sum()):,} ({args.breach:.3%}); active alerts: {active:,}",
        f"first evaluation (binds selectors, {len(first):,} alerts created): {first_s:.3f} s",
        f"steady cycle: {cycle:.3f} s (min of {args.cycles}: {all_cycles}; {len(changed)} changes)",
        f"native numpy baseline, same 20 conditions: {native:.3f} s",
        f"ratio engine/native: {cycle / native:.1f}x",
        f"window arrays: {per_series:.0f} bytes/series (1 h raw window at 60 s); allocated "
        f"{window_bytes / n:.0f} bytes/series with the row capacity's headroom ({capacity:,})",
        f"series identity (tag tuples, index): {identity_bytes / n:.0f} bytes/series (deep sizeof)",
        f"window + identity: {(window_bytes + identity_bytes) / n:.0f} bytes/series; "
        f"RSS growth {(after_fill - before) / n:.0f} bytes/series (incl. the generator's freed "
        f"temporaries); peak RSS {peak / 2**20:.0f} MiB",
        f"observe: {obs:,.0f} samples/s into known series (Python ingest path)",
        f"load average while running: {os.getloadavg()[0]:.1f} (2 cores shared with others)",
        f"goal < 1 s/cycle: {'met' if cycle < 1 else 'NOT met'}; "
        f"goal < 1 KB/series of windows: {'met' if per_series < 1024 else 'NOT met'}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()

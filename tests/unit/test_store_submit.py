"""Writer.submit queues samples; they are serialised at the next tick, at flush, or at once
when a batch's worth is queued (no server: batches go to the spool; no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from chmd.model import Sample
from chmd.store import lineproto
from chmd.store.metrics import StoreMetrics
from chmd.store.settings import StorageSettings
from chmd.store.writer import Writer

T0 = 1_800_000_000 * 10**9


def writer(tmp_path: Path, batch_size: int = 5000) -> Writer:
    settings = StorageSettings.model_validate(
        {"spool_dir": str(tmp_path), "batch_size": batch_size, "retention": {"rollups": []}}
    )
    return Writer(settings, StoreMetrics(CollectorRegistry()))


def points(n: int) -> list[Sample]:
    return [Sample("cpu", {"device": f"d{i % 3}"}, {"v": i}, T0 + i) for i in range(n)]


def test_submit_serialises_at_the_next_tick(tmp_path: Path) -> None:
    """Submitted samples wait in the queue until tick() serialises them into the open batch;
    flush() then hands that batch on (here: to the spool), in submit order."""
    w = writer(tmp_path)
    w.submit(points(3))
    w.submit(iter(points(5)[3:]))  # any iterable: consumed at submit
    assert "raw" not in w._open
    w.tick()
    assert w._open["raw"].points == 5
    w.flush()
    record = w.spool.peek()
    assert record is not None
    assert record.points == 5
    assert [line.split()[-1] for line in record.body.split(b"\n")] == [
        str(T0 + i).encode() for i in range(5)
    ]
    w.spool.close()


def test_a_full_batch_is_serialised_at_once(tmp_path: Path) -> None:
    """Once batch_size points are queued, submit serialises them and seals full batches
    itself, so the queue never holds more than a batch."""
    w = writer(tmp_path, batch_size=10)
    w.submit(points(4))
    assert w.spool.pending_points() == 0
    w.submit(points(21)[4:])
    assert w.spool.pending_points() == 20  # two full batches handed on
    assert w._open["raw"].points == 1
    w.spool.close()


def test_the_c_and_python_writers_make_the_same_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polls mixing what the C writer takes and what it leaves to Python (a string field, a
    NaN, a tag with a backslash) give the same sealed batches, in the same order, either way."""
    poll = [
        Sample("if", {"device": "d", "ifName": f"Gi0/{i}"}, {"in": i, "rate": i / 3}, T0 + i)
        for i in range(7)
    ]
    poll[2] = Sample("if", {"device": "d"}, {"descr": "uplink", "in": 2}, T0 + 2)
    poll[4] = Sample("if", {"device": "d"}, {"rate": float("nan"), "in": 4}, T0 + 4)
    poll[5] = Sample("if", {"device": "d\\x"}, {"in": 5}, T0 + 5)

    def batches(directory: Path) -> list[bytes]:
        w = writer(directory, batch_size=3)
        w.submit(poll)
        w.submit(poll[:2])
        w.flush()
        out, record = [], w.spool.peek()
        while record is not None:
            out.append(record.body)
            record = w.spool.peek(after=record)
        w.spool.close()
        return out

    with_c = batches(tmp_path / "c")
    monkeypatch.setattr(lineproto, "native_append", None)
    monkeypatch.setattr(lineproto, "native_line", None)
    monkeypatch.setattr(lineproto, "native_series", None)
    python = batches(tmp_path / "python")
    assert with_c == python
    assert [body.count(b"\n") + 1 for body in python] == [3, 3, 3]  # 9 points, NaN field dropped

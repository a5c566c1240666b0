"""The disk spool (real files in tmp_path; no sockets, no sleeps)."""

from __future__ import annotations

from pathlib import Path

from chmd.store.spool import Spool


def drain(spool: Spool) -> list[bytes]:
    out = []
    while (record := spool.peek()) is not None:
        out.append(record.body)
        spool.commit(record)
    return out


def test_replays_in_order_across_segments_and_restart(tmp_path: Path) -> None:
    """Records come back oldest first, across segment files and after reopening the spool."""
    spool = Spool(tmp_path, max_bytes=10**6, segment_bytes=1024)
    for i in range(50):
        spool.append("raw", i, 1, b"line %d" % i + b"x" * 100)
    first = spool.peek()
    assert first is not None
    spool.commit(first)
    spool.close()
    reopened = Spool(tmp_path, max_bytes=10**6, segment_bytes=1024)
    assert reopened.pending_points() == 49
    assert drain(reopened) == [b"line %d" % i + b"x" * 100 for i in range(1, 50)]
    assert not reopened.has_records()


def test_torn_last_record_is_skipped(tmp_path: Path) -> None:
    """A record cut short by a crash fails its check and is skipped; the ones before survive."""
    spool = Spool(tmp_path, max_bytes=10**6, segment_bytes=10**5)
    spool.append("raw", 1, 1, b"good")
    spool.append("raw", 2, 1, b"torn record")
    spool.close()
    segment = sorted(tmp_path.glob("*.seg"))[-1]
    segment.write_bytes(segment.read_bytes()[:-3])
    reopened = Spool(tmp_path, max_bytes=10**6, segment_bytes=10**5)
    assert reopened.torn == 1
    assert drain(reopened) == [b"good"]


def test_corrupt_byte_detected_by_crc(tmp_path: Path) -> None:
    """A flipped byte in the last record is caught by the CRC and that record skipped."""
    spool = Spool(tmp_path, max_bytes=10**6, segment_bytes=10**5)
    spool.append("raw", 1, 1, b"first")
    spool.append("raw", 2, 1, b"second")
    spool.close()
    segment = sorted(tmp_path.glob("*.seg"))[-1]
    data = bytearray(segment.read_bytes())
    data[-2] ^= 0xFF
    segment.write_bytes(bytes(data))
    assert drain(Spool(tmp_path, max_bytes=10**6, segment_bytes=10**5)) == [b"first"]


def test_full_spool_drops_oldest_segment_and_counts(tmp_path: Path) -> None:
    """Beyond max_bytes the oldest segment is deleted and its points reported as dropped."""
    dropped: list[tuple[int, int]] = []
    spool = Spool(
        tmp_path,
        max_bytes=4096,
        segment_bytes=1024,
        on_drop=lambda records, points: dropped.append((records, points)),
    )
    for i in range(40):
        spool.append("raw", i, 10, b"%03d" % i + b"y" * 200)
    assert spool.bytes <= 4096
    bodies = drain(spool)
    lost_records = sum(r for r, _ in dropped)
    assert lost_records + len(bodies) == 40
    assert sum(p for _, p in dropped) == lost_records * 10
    assert bodies == [b"%03d" % i + b"y" * 200 for i in range(lost_records, 40)]


def test_target_and_metadata_roundtrip(tmp_path: Path) -> None:
    """A record keeps its target (tier), creation time and point count."""
    spool = Spool(tmp_path, max_bytes=10**6, segment_bytes=10**5, fsync="always")
    spool.append("5m", 123, 7, b"body")
    record = spool.peek()
    assert record is not None
    assert (record.target, record.created_ns, record.points, record.body) == ("5m", 123, 7, b"body")


def test_oldest_created_follows_replay(tmp_path: Path) -> None:
    """oldest_created_ns is the creation time of the next record to replay (None when empty)."""
    spool = Spool(tmp_path, max_bytes=10**6, segment_bytes=10**5)
    assert spool.oldest_created_ns() is None
    spool.append("raw", 111, 1, b"a")
    spool.append("1h", 222, 1, b"b")
    assert spool.oldest_created_ns() == 111
    record = spool.peek()
    assert record is not None
    spool.commit(record)
    assert spool.oldest_created_ns() == 222

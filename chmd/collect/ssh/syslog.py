"""`show logging` dedupe across polls: which buffer entries are new since the last poll. Pure.

A device's log buffer is a sliding window: each poll sees old entries again plus new ones.
An entry's identity is its sequence number, timestamp and text; identical entries in one
buffer (no sequence numbers, same second) are told apart by their occurrence count. The
first poll of a device only records the baseline (nothing is emitted), so a restart of chmd
does not replay a whole buffer into the pattern rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

Fingerprint = tuple[str, ...]
_KEYS = (
    "number",
    "month",
    "day",
    "time",
    "timezone",
    "facility",
    "severity",
    "mnemonic",
    "message",
)


def _text(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


def fingerprints(records: Sequence[Mapping[str, Any]]) -> list[Fingerprint]:
    """One fingerprint per record, the n-th repeat of an identical entry numbered n."""
    seen: Counter[Fingerprint] = Counter()
    out = []
    for record in records:
        base = tuple(_text(record.get(k, "")) for k in _KEYS)
        seen[base] += 1
        out.append((*base, str(seen[base])))
    return out


def new_entries(
    records: Sequence[Mapping[str, Any]], previous: frozenset[Fingerprint] | None
) -> tuple[list[Mapping[str, Any]], frozenset[Fingerprint]]:
    """(entries not seen in the previous poll's buffer, this buffer's fingerprints).

    `previous` None means the first poll: nothing is new, the buffer becomes the baseline.
    """
    prints = fingerprints(records)
    current = frozenset(prints)
    if previous is None:
        return [], current
    return [r for r, p in zip(records, prints, strict=True) if p not in previous], current

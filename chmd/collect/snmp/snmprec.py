"""Read snmpsim `.snmprec` recordings (`OID|TYPE|VALUE` lines) into varbinds.

Used by tests, the benchmark and `chmd poll --snmprec` style tooling; never on the poll path.
"""

from __future__ import annotations

from pathlib import Path

from chmd.collect.snmp import ber

_TAGS = {
    "2": ber.INTEGER,
    "4": ber.OCTET_STRING,
    "5": ber.NULL,
    "6": ber.OBJECT_ID,
    "64": ber.IP_ADDRESS,
    "65": ber.COUNTER32,
    "66": ber.GAUGE32,
    "67": ber.TIMETICKS,
    "68": ber.OPAQUE,
    "70": ber.COUNTER64,
}


def parse_line(line: str) -> ber.VarBind:
    """One `OID|TYPE|VALUE` line; TYPE may carry an `x` suffix for hex-encoded values."""
    oid_text, type_text, value_text = line.strip().split("|", 2)  # as snmpsim's grammar does
    hexed = type_text.endswith("x")
    tag = _TAGS[type_text.rstrip("x")]
    oid = ber.parse_oid(oid_text)
    raw = bytes.fromhex(value_text) if hexed else value_text.encode()  # ValueError: "XXYYZZ"
    value: ber.Value
    if tag in (ber.OCTET_STRING, ber.OPAQUE):
        value = raw
    elif tag == ber.OBJECT_ID:
        value = ber.parse_oid(raw.decode())
    elif tag == ber.IP_ADDRESS:
        value = ".".join(str(b) for b in raw) if hexed else raw.decode()
        parts = value.split(".")
        if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
            raise ValueError(f"not an IpAddress: {value!r}")
    elif tag == ber.NULL:
        value = None
    else:
        value = int(raw.decode() or 0)
    return (oid, tag, value)


def read_snmprec(path: Path) -> list[ber.VarBind]:
    """Every varbind of a recording, in file order (sorted by OID in snmpsim files).

    Lines whose value cannot be that type (anonymised hex `346288XXYYZZ`, IpAddress
    `<private>`) are skipped, as no agent could serve them either. Like snmpsim, a line is
    stripped of surrounding whitespace first (a recorded `V01 ` is served as `V01`).
    """
    out: list[ber.VarBind] = []
    for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if line.strip() and not line.startswith("#"):
            try:
                out.append(parse_line(line))
            except ValueError:
                continue
    return out

"""Alert records and series windows in the state directory, written atomically.

`<state_dir>/rules/alerts.json` holds the alert records (small, human-readable, read by
`chmd alerts`); `<state_dir>/rules/windows.npz` holds every table's rows and windows
(numpy arrays, no pickles). Each file is written to a temporary name, fsynced and renamed,
so a kill -9 leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from chmd import statefile
from chmd.errors import ChmdError
from chmd.model import Alert, AlertState, Severity
from chmd.rules.engine import RuleEngine
from chmd.rules.state import AlertRecord
from chmd.rules.store import Column, Ring, RingSpec, Table

FORMAT = 1
ALERTS_FILE = "alerts.json"
WINDOWS_FILE = "windows.npz"


class StateError(ChmdError):
    """The state directory could not be read or written."""


def rules_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "rules"


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so a crash leaves the old or the new content, never a mix."""
    try:
        statefile.atomic_write(path, data)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}") from exc


# -- records ---------------------------------------------------------------------------------


def _record_json(rec: AlertRecord) -> dict[str, Any]:
    out = asdict(rec)
    out["state"], out["raw"] = rec.state.value, rec.raw.value
    out["labels"] = [list(p) for p in rec.labels]
    out["series"] = None if rec.series is None else [list(p) for p in rec.series]
    out["annotations"] = [list(p) for p in rec.annotations]
    out["transitions"] = list(rec.transitions)
    return out


def _record_from(data: dict[str, Any]) -> AlertRecord:
    values = dict(data)
    values["state"], values["raw"] = AlertState(data["state"]), AlertState(data["raw"])
    values["labels"] = tuple(tuple(p) for p in data["labels"])
    values["series"] = None if data["series"] is None else tuple(tuple(p) for p in data["series"])
    values["annotations"] = tuple(tuple(p) for p in data["annotations"])
    values["transitions"] = tuple(data["transitions"])
    return AlertRecord(**values)


def save_state(engine: RuleEngine, state_dir: Path, now: datetime, *, windows: bool = True) -> None:
    """Persist the engine: alert records always, series windows unless `windows=False`."""
    directory = rules_dir(state_dir)
    engine.settle()
    doc = {
        "format": FORMAT,
        "saved_at": now.astimezone(UTC).isoformat(),
        "digests": {r.name: r.digest for r in engine.ruleset.rules},
        "last_eval": engine._last_eval,
        "last_true": {
            name: {fp: [[list(p) for p in labels], at] for fp, (labels, at) in memory.items()}
            for name, memory in engine._last_true.items()
        },
        "records": [
            _record_json(rec) for records in engine.records.values() for rec in records.values()
        ],
    }
    atomic_write(directory / ALERTS_FILE, json.dumps(doc, indent=1).encode())
    if windows:
        atomic_write(directory / WINDOWS_FILE, _windows_bytes(engine))


def _windows_bytes(engine: RuleEngine) -> bytes:
    arrays: dict[str, Any] = {}
    meta: list[dict[str, Any]] = []
    for k, table in enumerate(engine.store.tables.values()):
        n = table.size
        p = f"t{k}"
        arrays[f"{p}.first_t"], arrays[f"{p}.seen_t"] = table.first_t[:n], table.seen_t[:n]
        arrays[f"{p}.alive"] = table.alive[:n]
        columns: dict[str, list[list[Any]]] = {}
        for c, (name, column) in enumerate(table.columns.items()):
            q = f"{p}.c{c}"
            for attr in ("last_v", "last_t", "prev_v", "prev_t"):
                arrays[f"{q}.{attr}"] = getattr(column, attr)[:n]
            specs = []
            for r, (spec, ring) in enumerate(column.rings.items()):
                arrays[f"{q}.r{r}.vals"], arrays[f"{q}.r{r}.aux"] = ring.vals[:n], ring.aux[:n]
                arrays[f"{q}.r{r}.bid"] = ring.last_bid[:n]
                specs.append([spec.bucket_s, spec.slots, spec.mean])
            columns[name] = specs
        texts = {
            name: {
                str(row): [
                    col.last[row],
                    col.last_t.get(row),
                    col.changed_t.get(row),
                    col.previous.get(row),
                ]
                for row in col.last
            }
            for name, col in table.texts.items()
        }
        meta.append(
            {
                "measurement": table.measurement,
                "labels": [[list(pair) for pair in labels] for labels in table.labels],
                "columns": columns,
                "texts": texts,
            }
        )
    arrays["meta"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def load_state(engine: RuleEngine, state_dir: Path) -> bool:
    """Restore a saved engine (windows first, then records); False when nothing was saved."""
    directory = rules_dir(state_dir)
    alerts_path = directory / ALERTS_FILE
    if not alerts_path.exists():
        return False
    try:
        doc = json.loads(alerts_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {alerts_path}: {exc}") from exc
    if doc.get("format") != FORMAT:
        return False
    windows = directory / WINDOWS_FILE
    if windows.exists():
        _load_windows(engine, windows)
    _load_records(engine, doc)
    engine.rebind_active()
    return True


def _load_records(engine: RuleEngine, doc: dict[str, Any]) -> None:
    current = {r.name: r for r in engine.ruleset.rules}
    digests: dict[str, str] = doc.get("digests", {})
    engine._last_eval = {str(k): float(v) for k, v in doc.get("last_eval", {}).items()}
    for data in doc.get("records", []):
        rec = _record_from(data)
        rule = current.get(rec.rule)
        if rule is None:
            engine._orphans.append(rec)  # its rule is gone: report it resolved
            continue
        if digests.get(rec.rule) != rule.digest and rec.state is AlertState.PENDING:
            engine._orphans.append(rec)  # the rule changed: pending timers start again
            continue
        engine.records.setdefault(rec.rule, {})[rec.fingerprint] = rec
    for name, memory in doc.get("last_true", {}).items():
        if name in current:
            engine._last_true[name] = {
                fp: (tuple(tuple(p) for p in labels), float(at))
                for fp, (labels, at) in memory.items()
            }


def _load_windows(engine: RuleEngine, path: Path) -> None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            for k, entry in enumerate(meta):
                table = engine.store.tables.get(entry["measurement"])
                if table is None:
                    continue  # no rule needs this measurement any more
                _fill_table(table, entry, data, f"t{k}")
    except (OSError, ValueError, KeyError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from exc


def _fill_table(table: Table, entry: dict[str, Any], data: Any, p: str) -> None:
    labels = [tuple(tuple(pair) for pair in row) for row in entry["labels"]]
    n = len(labels)
    table.restore_rows(labels, data[f"{p}.alive"])  # rows come back with the same ids
    table.first_t[:n], table.seen_t[:n] = data[f"{p}.first_t"], data[f"{p}.seen_t"]
    for c, (name, specs) in enumerate(entry["columns"].items()):
        if name not in table.columns:
            continue
        column: Column = table.columns[name]
        q = f"{p}.c{c}"
        for attr in ("last_v", "last_t", "prev_v", "prev_t"):
            getattr(column, attr)[:n] = data[f"{q}.{attr}"]
        for r, (bucket_s, slots, mean) in enumerate(specs):
            ring: Ring | None = column.rings.get(RingSpec(float(bucket_s), int(slots), bool(mean)))
            if ring is None:
                continue  # the ring's shape changed with the rules: it refills
            ring.vals[:n], ring.aux[:n] = data[f"{q}.r{r}.vals"], data[f"{q}.r{r}.aux"]
            ring.last_bid[:n] = data[f"{q}.r{r}.bid"]
    for name, rows in entry["texts"].items():
        if name not in table.texts:
            continue
        col = table.texts[name]
        for row_text, (last, last_t, changed_t, previous) in rows.items():
            row = int(row_text)
            col.last[row] = last
            if last_t is not None:
                col.last_t[row] = float(last_t)
            if changed_t is not None:
                col.changed_t[row] = float(changed_t)
            if previous is not None:
                col.previous[row] = previous


# -- reading for `chmd alerts` ---------------------------------------------------------------


def read_alerts(state_dir: Path) -> tuple[list[Alert], datetime | None]:
    """The alerts in a saved state file (as the daemon last wrote it) and when it was saved."""
    path = rules_dir(state_dir) / ALERTS_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], None
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from exc
    alerts = []
    for data in doc.get("records", []):
        rec = _record_from(data)
        alerts.append(
            Alert(
                rule=rec.rule,
                fingerprint=rec.fingerprint,
                labels=rec.labels,
                severity=Severity(rec.severity),
                state=rec.state,
                value=rec.value,
                summary=rec.summary,
                description=rec.description,
                active_since=datetime.fromtimestamp(rec.active_since, UTC),
                fired_at=None
                if rec.fired_at is None
                else datetime.fromtimestamp(rec.fired_at, UTC),
                resolved_at=None
                if rec.resolved_at is None
                else datetime.fromtimestamp(rec.resolved_at, UTC),
                annotations=dict(rec.annotations),
                flapping=rec.flapping,
            )
        )
    saved = doc.get("saved_at")
    return alerts, datetime.fromisoformat(saved) if saved else None

"""Atomic replacement of small state files (rule alerts and windows, silences, acks, the
notification log, the alert snapshot).

One writer for every stage: the content goes to a temporary name beside the target, is
fsynced, renamed over the target and the directory is fsynced, so a kill -9 or a power cut
leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; raises OSError (the temporary file removed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any, *, sort_keys: bool = True) -> None:
    """`data` as indented JSON (UTF-8), replaced atomically."""
    atomic_write(path, json.dumps(data, indent=1, sort_keys=sort_keys).encode("utf-8"))

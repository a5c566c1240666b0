"""Small JSON state documents shared by the daemon and the CLI (acks, silences).

Readers re-read a file only when its modification time or size changed; writers
replace it atomically (`chmd.statefile`) and hold an exclusive `flock` on
`<file>.lock` for the whole read-modify-write, so a `chmd silence add` and the daemon
rewriting the same file cannot lose each other's change.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chmd.statefile import write_json


class JsonFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None

    def changed(self) -> bool:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return self._stamp is not None
        return (stat.st_mtime_ns, stat.st_size) != self._stamp

    def read(self) -> Any:
        """The parsed document, or None when the file does not exist (or is empty)."""
        try:
            stat = self.path.stat()
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._stamp = None
            return None
        self._stamp = (stat.st_mtime_ns, stat.st_size)
        return json.loads(text) if text else None

    def write(self, data: Any) -> None:
        write_json(self.path, data)
        stat = self.path.stat()
        self._stamp = (stat.st_mtime_ns, stat.st_size)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file's exclusive lock (blocking; the critical sections are tiny)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

"""The compiled hot path: a few pure modules built with mypyc, and one hand-written C
accelerator, with the Python sources as the fallback that is always there.

mypyc turns the typed modules below into C extensions next to their sources: the SNMP codec,
counter maths and table building, which takes about 15 % off a device poll's CPU. Python imports an
extension before a `.py` of the same name, so a build left behind after its source changed
would silently run old code. `guard()` (run when `chmd` is imported) prevents that: the build
records the SHA-256 of each compiled source and of every chmd module they import (mypyc
compiles against those modules' types and inlines their Final constants), and unless every
one still matches and every extension is there for this interpreter, all of them are imported
from source. The modules of one build call each other directly in C, so it is all or none.

C_EXTENSIONS are written in C by hand, the way CPython pairs `_json` with `json`: the Python
module tries to import its accelerator and works without it. The same manifest records their
C sources, and the guard refuses to import them unless the whole build is current.

Building, checking and removing it: `python -m chmd.nativebuild build|status|clean`
(`make native`; `make run` and `make test` build it when it is out of date).

CHMD_PURE_PYTHON=1 in the environment imports the sources even when a good build exists.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Literal

# Pure (no I/O, no asyncio), strictly typed modules on the per-varbind path. Modules that
# other code subclasses or monkeypatches stay interpreted: mypyc classes cannot be subclassed
# from Python.
MODULES = (
    "chmd.collect.snmp.ber",
    "chmd.collect.snmp.counters",
    "chmd.collect.snmp.tables",
    "chmd.collect.fieldtypes",
)
# Hand-written accelerators: module → its C sources and headers (relative to the package).
C_EXTENSIONS: dict[str, tuple[str, ...]] = {
    # for lineproto.py and rollup.py
    "chmd.store._speedups": ("store/_speedups.c", "store/_ryu_tables.h"),
}
GROUP = "chmd._native"  # mypyc's shared library: chmd/_native__mypyc.<abi>.so
PURE_ENV = "CHMD_PURE_PYTHON"
PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST = PACKAGE_DIR / "native.manifest"  # not package data: a wheel never ships a stale one
MANIFEST_FORMAT = 3  # 2: the chmd modules the compiled ones import; 3: C_EXTENSIONS' sources


@dataclass(frozen=True, slots=True)
class NativeState:
    """Whether the compiled modules are the ones imported, and if not, why."""

    label: Literal["compiled", "pure", "stale"]  # for `chmd_build_info{native=…}`
    reason: str

    @property
    def compiled(self) -> bool:
        return self.label == "compiled"


def source_path(module: str, package_dir: Path = PACKAGE_DIR) -> Path:
    return package_dir.joinpath(*module.split(".")[1:]).with_suffix(".py")


def extension_paths(module: str, package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The module's extension files for this interpreter (any ABI suffix it accepts)."""
    stem = source_path(module, package_dir).with_suffix("")
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return [p for s in suffixes if (p := stem.with_name(stem.name + s)).exists()]


def c_sources(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every C_EXTENSIONS file, by its path relative to the package."""
    return {name: package_dir / name for files in C_EXTENSIONS.values() for name in files}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_state(
    package_dir: Path = PACKAGE_DIR, environ: Mapping[str, str] | None = None
) -> NativeState:
    """Which modules `guard` lets Python import: the build's, or the sources (with why)."""
    env = os.environ if environ is None else environ
    if env.get(PURE_ENV, "") not in ("", "0"):
        return NativeState("pure", f"pure Python ({PURE_ENV} is set)")
    manifest = package_dir / MANIFEST.name
    try:
        recorded = json.loads(manifest.read_text())
        built = recorded["sources"]
    except FileNotFoundError:
        return NativeState("pure", "pure Python (not built: make native)")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return NativeState("pure", f"pure Python (unreadable {manifest.name}: {exc})")
    if recorded.get("format") != MANIFEST_FORMAT:
        return NativeState("pure", "pure Python (built by an older chmd: make native)")
    if not set(MODULES) <= built.keys():
        return NativeState("pure", "pure Python (built for other modules: make native)")
    for module, expected in built.items():  # the compiled modules and the chmd modules they import
        source = source_path(module, package_dir)
        if not source.exists() or expected != digest(source):
            changed = source.relative_to(package_dir.parent)
            return NativeState("stale", f"stale build ({changed} changed since; make native)")
    c_built = recorded.get("c_sources", {})
    for name, source in c_sources(package_dir).items():
        if name not in c_built:
            return NativeState("pure", "pure Python (built for other modules: make native)")
        if not source.exists() or c_built[name] != digest(source):
            changed = source.relative_to(package_dir.parent)
            return NativeState("stale", f"stale build ({changed} changed since; make native)")
    for module in (*MODULES, *C_EXTENSIONS):
        if not extension_paths(module, package_dir):
            stem = module.rsplit(".", 1)[-1]
            return NativeState(
                "pure", f"pure Python (no {stem} extension for this Python: make native)"
            )
    return NativeState(
        "compiled", f"compiled ({len(MODULES)} modules with mypyc, {len(C_EXTENSIONS)} in C)"
    )


class _SourceFinder(MetaPathFinder):
    """Imports MODULES from their `.py`, ahead of any extension beside them, and refuses
    C_EXTENSIONS (their Python modules then run without them)."""

    def __init__(self, package_dir: Path, reason: str = "") -> None:
        self.package_dir = package_dir
        self.reason = reason

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname in C_EXTENSIONS:
            raise ModuleNotFoundError(f"{fullname} is not used: {self.reason}", name=fullname)
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(
            fullname, source_path(fullname, self.package_dir)
        )


_STATE: NativeState | None = None


def guard() -> NativeState:
    """What MODULES load from in this process, decided on the first call (from `chmd`'s
    `__init__`, before any of them is imported) and the same afterwards."""
    global _STATE  # one decision per process: a module cannot be imported twice
    if _STATE is None:
        _STATE = build_state()
        if not _STATE.compiled:
            sys.meta_path.insert(0, _SourceFinder(PACKAGE_DIR, _STATE.reason))
    return _STATE

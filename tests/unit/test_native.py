"""The compiled hot path (chmd/native.py): which files Python really imports, and that the pure
sources pass the same tests as the build."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chmd import native
from chmd.nativebuild import dependencies
from chmd.store import lineproto

ROOT = Path(__file__).resolve().parents[2]
ABI_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so

# the tests of the compiled modules, rerun on their sources: their unit tests, and the codec
# against every recording and net-snmp over snmpsim
PURE_RERUN = [
    "tests/integration/test_snmp_differential.py",
    "tests/unit/test_snmp_ber.py",
    "tests/unit/test_snmp_counters.py",
    "tests/unit/test_snmp_tables.py",
    "tests/unit/test_snmp_field_types.py",
    "tests/unit/test_snmp_rate_times.py",
    "tests/unit/test_snmp_collector.py",
    "tests/unit/test_snmp_walk_consume.py",
    "tests/unit/test_ssh_rates.py",
    "tests/unit/test_store_lineproto.py",
    "tests/integration/test_store_escaping.py",
]


def test_the_modules_imported_are_the_ones_the_guard_chose() -> None:
    """Each compiled module is imported from its extension exactly when the guard says the
    build is good, and `make test` (CHMD_EXPECT_NATIVE=1) runs the suite on the build."""
    state = native.guard()
    for name in native.MODULES:
        module = importlib.import_module(name)
        assert str(module.__file__).endswith(".so") == state.compiled, (name, state)
    assert (lineproto.native_line is not None) == state.compiled
    if os.environ.get("CHMD_EXPECT_NATIVE"):
        assert state.compiled, state.reason


def copy_package(tmp_path: Path) -> Path:
    """The chmd package's sources under tmp_path (no build, no caches)."""
    package = tmp_path / "chmd"
    shutil.copytree(
        ROOT / "chmd",
        package,
        ignore=shutil.ignore_patterns("__pycache__", "*.so", native.MANIFEST.name),
    )
    return package


def fake_build(tmp_path: Path, *, changed: str | None = None) -> Path:
    """A copy of the chmd package whose 'extensions' are garbage files and whose manifest
    matches its sources (except `changed`'s, a module or a C file, as if that source was
    edited after the build). Importing a garbage extension fails, so a test sees which file
    Python picked."""
    package = copy_package(tmp_path)
    for name in (*native.MODULES, *native.C_EXTENSIONS):
        source = native.source_path(name, package)
        source.with_name(source.stem + ABI_SUFFIX).write_bytes(b"not an ELF file")
    digests = {m: native.digest(native.source_path(m, package)) for m in dependencies(package)}
    c_files = native.c_sources(package)
    c_digests = {name: native.digest(path) for name, path in c_files.items()}
    if changed in c_files:
        with c_files[changed].open("a") as f:
            f.write("\n/* edited after the build */\n")
    elif changed is not None:
        with native.source_path(changed, package).open("a") as f:
            f.write("\nEDITED_AFTER_BUILD = True\n")
    record = {"format": native.MANIFEST_FORMAT, "sources": digests, "c_sources": c_digests}
    (package / native.MANIFEST.name).write_text(json.dumps(record))
    return tmp_path


def import_in_child(path: Path, module: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = (
        f"import sys; sys.path.insert(0, {str(path)!r}); import json, chmd, {module} as m; "
        "print(json.dumps([m.__file__, hasattr(m, 'EDITED_AFTER_BUILD'), "
        "chmd.native.guard().label, chmd.native.guard().reason]))"
    )
    environ = {k: v for k, v in os.environ.items() if k != native.PURE_ENV} | env
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=False
    )


def test_a_source_edited_after_the_build_is_imported_instead_of_the_stale_build(
    tmp_path: Path,
) -> None:
    """Python prefers an extension to a .py of the same name; after tables.py changes, every
    compiled module (they call each other in C) comes from source, and the state says why."""
    path = fake_build(tmp_path, changed="chmd.collect.snmp.tables")
    for module in native.MODULES:
        run = import_in_child(path, module)
        assert run.returncode == 0, run.stderr
        file, edited, label, reason = json.loads(run.stdout)
        assert file == str(native.source_path(module, path / "chmd"))
        assert edited == (module == "chmd.collect.snmp.tables")
        assert label == "stale"
        assert "tables.py changed" in reason


def test_an_edited_c_source_means_python_line_protocol_and_sources(tmp_path: Path) -> None:
    """After _speedups.c changes, its stale extension is refused (lineproto.py writes every
    line in Python) and, the build being one, the mypyc modules come from source too."""
    path = fake_build(tmp_path, changed="store/_speedups.c")
    run = import_in_child(path, "chmd.store.lineproto")
    assert run.returncode == 0, run.stderr
    file, _, label, reason = json.loads(run.stdout)
    assert file.endswith("lineproto.py")
    assert (label, reason) == (
        "stale",
        "stale build (chmd/store/_speedups.c changed since; make native)",
    )
    code = (
        f"import sys; sys.path.insert(0, {str(path)!r}); "
        "from chmd.store import lineproto; from chmd.collect.snmp import ber; "
        "print(lineproto.native_line, ber.__file__)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    ber_source = native.source_path("chmd.collect.snmp.ber", path / "chmd")
    assert run.stdout.split() == ["None", str(ber_source)]


def test_the_build_depends_on_every_chmd_module_the_compiled_ones_import() -> None:
    """mypyc compiles against the types (and inlines the Final constants) of the modules the
    compiled ones import, so the build records those too: tables.py's profiles and model."""
    recorded = dependencies()
    assert set(native.MODULES) <= set(recorded)
    assert {"chmd.model", "chmd.collect.snmp.profiles", "chmd.configtypes"} <= set(recorded)
    assert "chmd.collect.snmp.client" not in recorded  # not imported by a compiled module


def test_a_change_to_a_module_the_build_depends_on_makes_it_stale(tmp_path: Path) -> None:
    """An edit of chmd/model.py (not compiled, but compiled against) sends every compiled
    module back to source, and the state names the file."""
    path = fake_build(tmp_path, changed="chmd.model")
    run = import_in_child(path, "chmd.collect.snmp.tables")
    assert run.returncode == 0, run.stderr
    file, _, label, reason = json.loads(run.stdout)
    assert file.endswith("tables.py")
    assert (label, reason) == ("stale", "stale build (chmd/model.py changed since; make native)")


def test_a_build_matching_its_sources_is_the_one_imported(tmp_path: Path) -> None:
    """With every digest matching, Python loads the extension (here a garbage file, so the
    import fails: proof it was picked), and CHMD_PURE_PYTHON=1 loads the source instead."""
    path = fake_build(tmp_path)
    for module in ("chmd.collect.snmp.ber", "chmd.store.lineproto"):  # mypyc's, and the C one
        run = import_in_child(path, module)
        assert run.returncode != 0
        assert ABI_SUFFIX in run.stderr  # one of the garbage extensions was loaded
    run = import_in_child(path, "chmd.collect.snmp.ber", CHMD_PURE_PYTHON="1")
    assert run.returncode == 0, run.stderr
    file, _, label, reason = json.loads(run.stdout)
    assert file.endswith("ber.py")
    assert (label, reason) == ("pure", "pure Python (CHMD_PURE_PYTHON is set)")


def test_a_missing_extension_means_pure_python(tmp_path: Path) -> None:
    """A manifest without an extension for this interpreter (another Python version, a
    half-removed build) imports the sources and says which extension is missing."""
    path = fake_build(tmp_path)
    counters = native.source_path("chmd.collect.snmp.counters", path / "chmd")
    counters.with_name(counters.stem + ABI_SUFFIX).unlink()
    state = native.build_state(path / "chmd", environ={})
    assert not state.compiled
    assert "no counters extension" in state.reason
    run = import_in_child(path, "chmd.collect.snmp.ber")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)[0].endswith("ber.py")


@pytest.mark.skipif(not native.guard().compiled, reason="this run already uses the sources")
def test_the_pure_sources_pass_the_compiled_modules_tests() -> None:
    """The suite runs on the build; the fallback (no compiler, stale build, CHMD_PURE_PYTHON)
    must be just as right, so the compiled modules' unit tests run again on the sources."""
    environ = os.environ | {native.PURE_ENV: "1"}
    environ.pop("CHMD_EXPECT_NATIVE", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PURE_RERUN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environ,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout


def test_a_failed_build_leaves_pure_python_and_says_why(tmp_path: Path) -> None:
    """A source mypyc rejects (a type error) ends the build with nothing left behind: no
    extension, no manifest, and mypy's error on stdout; `--optional` (make run) exits 0."""
    package = copy_package(tmp_path)
    with native.source_path("chmd.collect.fieldtypes", package).open("a") as f:
        f.write('\nBROKEN: int = "not an int"\n')
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import chmd.nativebuild as b; "
        "sys.exit(b.main(sys.argv[1:]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, "build", "--optional"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "fieldtypes.py:" in run.stdout  # mypy's error, with file:line
    assert "build failed, chmd runs as pure Python: mypy's errors above" in run.stderr
    assert not list(package.rglob("*.so"))
    assert not (package / native.MANIFEST.name).exists()

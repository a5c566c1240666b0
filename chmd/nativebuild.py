"""Build the compiled hot path (`chmd.native`: mypyc modules and C_EXTENSIONS):
`python -m chmd.nativebuild build [--if-stale] [--optional] | status | clean`. Needs mypy and a
C compiler with Python's headers; the daemon itself never imports this module."""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

from chmd.native import (
    C_EXTENSIONS,
    GROUP,
    MANIFEST,
    MANIFEST_FORMAT,
    MODULES,
    PACKAGE_DIR,
    build_state,
    c_sources,
    digest,
    source_path,
)


def imports(module: str, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """The chmd modules `module` imports (`from chmd.a import b` is chmd.a.b when that is a
    module, else chmd.a)."""
    tree = ast.parse(source_path(module, package_dir).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if _is_module(n, package_dir) else node.module for n in names]
        else:
            continue
        found.update(n for n in names if _is_module(n, package_dir))
    return found


def _is_module(name: str, package_dir: Path) -> bool:
    return name.startswith("chmd.") and source_path(name, package_dir).is_file()


def dependencies(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """MODULES and every chmd module they import, directly or not (what the build depends on)."""
    seen: set[str] = set()
    todo = list(MODULES)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(imports(module, package_dir) - seen)
    return sorted(seen)


def build(package_dir: Path = PACKAGE_DIR) -> None:
    """Compile MODULES in place with mypyc, and C_EXTENSIONS, and record their sources' digests.

    Runs from the project root (mypy reads its settings from pyproject.toml there). The
    digests (of MODULES, every chmd module they import, and the C_EXTENSIONS' files) are
    taken before compiling: a source edited mid-build reads as stale, never as fresh."""
    from mypyc.build import mypycify  # build-time only: the daemon never needs mypy
    from setuptools import Distribution, Extension

    root = package_dir.parent
    digests = {m: digest(source_path(m, package_dir)) for m in dependencies(package_dir)}
    c_digests = {name: digest(path) for name, path in c_sources(package_dir).items()}
    clean(package_dir)
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="chmd-native-") as tmp:
        os.chdir(root)
        try:
            paths = [str(source_path(m, package_dir).relative_to(root)) for m in MODULES]
            if not (root / "pyproject.toml").exists():  # an installed package: no cache beside it
                paths.insert(0, f"--cache-dir={os.path.join(tmp, 'mypy')}")
            extensions = mypycify(
                paths, opt_level="3", group_name=GROUP, target_dir=os.path.join(tmp, "c")
            )
            for module, (source, *headers) in C_EXTENSIONS.items():
                package = package_dir.relative_to(root)
                extensions.append(
                    Extension(
                        module,
                        [str(package / source)],
                        depends=[str(package / h) for h in headers],
                        extra_compile_args=["-O2"],
                    )
                )
            dist = Distribution({"name": "chmd-native", "ext_modules": extensions})
            command = dist.get_command_obj("build_ext")
            command.inplace = True
            command.build_temp = os.path.join(tmp, "o")
            command.build_lib = os.path.join(tmp, "lib")
            dist.run_command("build_ext")
        finally:
            os.chdir(cwd)
    manifest = package_dir / MANIFEST.name
    record = {
        "format": MANIFEST_FORMAT,
        "group": GROUP,
        "sources": digests,
        "c_sources": c_digests,
    }
    manifest.write_text(json.dumps(record, indent=2) + "\n")


def clean(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Remove the build (extensions, shared library, manifest): the sources are imported."""
    stems = [source_path(m, package_dir).with_suffix("") for m in (*MODULES, *C_EXTENSIONS)]
    stems.append(package_dir / (GROUP.rsplit(".", 1)[-1] + "__mypyc"))  # the shared library
    removed = [p for stem in stems for p in stem.parent.glob(stem.name + ".*.so")]
    manifest = package_dir / MANIFEST.name
    if manifest.exists():
        removed.append(manifest)
    for path in removed:
        path.unlink()
    return removed


def _can_compile() -> str | None:
    """Why a build cannot run here (None when it can)."""
    try:
        import mypyc  # noqa: F401
    except ImportError:
        return "mypy (mypyc) is not installed: pip install 'chmd[native]'"
    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        return f"no Python.h for Python {version} (Debian: apt-get install python{version}-dev)"
    compiler = sysconfig.get_config_var("CC") or "cc"
    if shutil.which(str(compiler).split()[0]) is None:
        return f"no C compiler ({compiler}; Debian: apt-get install gcc)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chmd.nativebuild", description=__doc__.splitlines()[0]
    )
    parser.add_argument("command", choices=("build", "status", "clean"))
    parser.add_argument("--if-stale", action="store_true", help="build only when not up to date")
    parser.add_argument(
        "--optional", action="store_true", help="when it cannot build, say why and exit 0"
    )
    args = parser.parse_args(argv)
    if args.command == "status":
        print(build_state(environ=os.environ).reason)
        return 0
    if args.command == "clean":
        for path in clean():
            print(f"removed {path}")
        return 0
    state = build_state(environ={})  # the build on disk, whatever CHMD_PURE_PYTHON says
    if args.if_stale and state.compiled:
        print(f"native: up to date, {state.reason}")
        return 0
    why_not = _can_compile()
    if why_not is not None:
        print(f"native: not built, chmd runs as pure Python: {why_not}", file=sys.stderr)
        return 0 if args.optional else 1
    print(
        f"native: building {', '.join(MODULES)} with mypyc and {', '.join(C_EXTENSIONS)} "
        f"(was: {state.reason})"
    )
    try:
        build()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - mypyc exits on a type error
        clean()
        why = "mypy's errors above" if isinstance(exc, SystemExit) else f"{exc}"
        print(f"native: build failed, chmd runs as pure Python: {why}", file=sys.stderr)
        return 0 if args.optional else 1
    print(f"native: {build_state(environ={}).reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

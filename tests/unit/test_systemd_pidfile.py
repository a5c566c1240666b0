"""The pid file `chmd run` writes and `chmd reload` reads, and the stale-pid guard."""

from __future__ import annotations

from pathlib import Path

from chmd.cli.reload import state_dir_of
from chmd.systemd import process_is_chmd, read_pid_file, remove_pid_file, write_pid_file


def test_pid_file_round_trip(tmp_path: Path) -> None:
    """A written pid reads back; no temp file is left beside it."""
    path = tmp_path / "chmd.pid"
    write_pid_file(path, 4242)
    assert read_pid_file(path) == 4242
    assert [p.name for p in tmp_path.iterdir()] == ["chmd.pid"]


def test_garbage_pid_file_reads_as_none(tmp_path: Path) -> None:
    """A missing, empty or non-numeric pid file means no daemon, not an exception."""
    path = tmp_path / "chmd.pid"
    assert read_pid_file(path) is None
    for text in ("", "abc\n", "-5\n", "0\n"):
        path.write_text(text)
        assert read_pid_file(path) is None


def test_remove_only_own_pid(tmp_path: Path) -> None:
    """A daemon removes the pid file at exit only if it still names itself."""
    path = tmp_path / "chmd.pid"
    write_pid_file(path, 2)
    remove_pid_file(path, 1)
    assert path.exists()
    remove_pid_file(path, 2)
    assert not path.exists()


def _fake_proc(root: Path, pid: int, argv: list[str]) -> Path:
    (root / str(pid)).mkdir(parents=True)
    (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return root


def test_process_is_chmd_run(tmp_path: Path) -> None:
    """Only a process whose argv is `... chmd ... run ...` counts as the daemon."""
    proc = _fake_proc(tmp_path, 10, ["/opt/venv/bin/python", "/opt/venv/bin/chmd", "run"])
    _fake_proc(proc, 11, ["/usr/bin/vim", "chmd.yaml"])
    _fake_proc(proc, 12, ["/opt/venv/bin/chmd", "check"])
    assert process_is_chmd(10, proc)
    assert not process_is_chmd(11, proc)
    assert not process_is_chmd(12, proc)
    assert not process_is_chmd(13, proc)  # gone


def test_state_dir_relative_to_config(tmp_path: Path) -> None:
    """A relative state_dir in chmd.yaml resolves against the file's directory."""
    config = tmp_path / "chmd.yaml"
    config.write_text("state_dir: state\nstorage: {token: credential:influx}\n")
    assert state_dir_of(config) == tmp_path / "state"


def test_state_dir_default(tmp_path: Path) -> None:
    """Without state_dir (or without a readable file) the default /var/lib/chmd is used."""
    config = tmp_path / "chmd.yaml"
    config.write_text("log: {level: info}\n")
    assert state_dir_of(config) == Path("/var/lib/chmd")
    assert state_dir_of(tmp_path / "missing.yaml") == Path("/var/lib/chmd")

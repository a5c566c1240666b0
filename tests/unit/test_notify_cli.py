"""`chmd routes test`, `chmd silence add/list/expire` and `chmd alerts ack` (no sockets)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from chmd.alerts.acks import AckStore
from chmd.alerts.silences import SilenceStore
from chmd.alerts.snapshot import write_snapshot
from chmd.cli import main
from chmd.model import Alert, AlertState, Severity

CONFIG = """\
inventory:
  files: [devices.yaml]
rules:
  files: []
state_dir: state
notify:
  receivers:
    ops: {urls: ["json://127.0.0.1:9/ops"]}
    pager: {urls: ["json://127.0.0.1:9/pager"]}
    noc: {urls: ["json://127.0.0.1:9/noc"]}
  route:
    receiver: ops
    routes:
      - matchers: [severity=critical]
        receiver: pager
        continue: true
        escalation: [{after: 15m, receivers: [noc]}]
      - matchers: [site=zrh]
        receiver: noc
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "devices.yaml").write_text("devices: {}\n")
    path = tmp_path / "chmd.yaml"
    path.write_text(CONFIG)
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_routes_test_prints_receivers_like_amtool(config: Path) -> None:
    """A critical alert at site zrh reaches pager (continue) and noc; the first line lists both."""
    code, out = run(
        "routes", "test", "-c", str(config), "device=sw1", "severity=critical", "site=zrh"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "pager,noc"
    assert "route root.0: receiver pager" in lines[1]
    assert "escalation [after 15m: noc]" in lines[1]


def test_routes_test_default_route(config: Path) -> None:
    """Labels matching no child land on the root receiver."""
    assert run("routes", "test", "-c", str(config), "severity=minor")[1].splitlines()[0] == "ops"


def test_silence_add_list_expire(config: Path) -> None:
    """add stores a silence in the state dir, list shows it active, expire ends it (all audited)."""
    code, out = run(
        "silence",
        "add",
        "-c",
        str(config),
        "device=sw1",
        "--for",
        "2h",
        "--comment",
        "IOS upgrade",
        "--by",
        "alice",
    )
    assert code == 0, out
    silence_id = out.split()[0]
    state = config.parent / "state" / "notify"
    [stored] = SilenceStore(state).all()
    assert stored.id == silence_id
    assert [str(m) for m in stored.matchers] == ['device="sw1"']
    code, out = run("silence", "list", "-c", str(config))
    assert silence_id in out
    assert "active" in out
    assert "IOS upgrade" in out
    code, out = run("silence", "expire", "-c", str(config), silence_id[:5])
    assert (code, out.strip()) == (0, f"expired {silence_id}")
    assert silence_id not in run("silence", "list", "-c", str(config))[1]
    events = [
        json.loads(line)["event"] for line in (state / "audit.jsonl").read_text().splitlines()
    ]
    assert events == ["silence_add", "silence_expire"]


def test_silence_add_needs_a_duration(config: Path) -> None:
    """Without --for or --until the command refuses, saying what to give."""
    code, out = run("silence", "add", "-c", str(config), "device=sw1", "--comment", "x")
    assert code == 2
    assert "give exactly one of --for DURATION or --until TIME" in out


def test_silence_add_rejects_bad_matcher(config: Path) -> None:
    """A malformed matcher is a usage error naming it."""
    code, out = run("silence", "add", "-c", str(config), "sw1", "--for", "1h", "--comment", "x")
    assert code == 2
    assert "bad matcher 'sw1'" in out


def test_alerts_ack_by_prefix(config: Path) -> None:
    """`chmd alerts ack PREFIX --comment` stores the ack for the firing alert."""
    state = config.parent / "state" / "notify"
    t0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    write_snapshot(
        state,
        [
            Alert(
                "device_unreachable",
                "f00dbeef1234",
                (("device", "sw1"),),
                Severity.CRITICAL,
                AlertState.FIRING,
                None,
                "sw1 down",
                "",
                t0,
                t0,
            )
        ],
    )
    code, out = run("alerts", "ack", "-c", str(config), "f00d", "--comment", "on it", "--by", "bob")
    assert (code, out.strip()) == (0, "acknowledged f00dbeef1234 (critical) as bob")
    assert AckStore(state).acks["f00dbeef1234"].comment == "on it"


def test_alerts_ack_unknown_id_fails(config: Path) -> None:
    """Acking an id no alert has exits 1 with a message."""
    code, out = run("alerts", "ack", "-c", str(config), "nope")
    assert code == 1
    assert "no active alert with id 'nope'" in out

"""The shipped rule packs: each `rules/*.yaml` has a `*.test.yaml`, and every case passes.

This runs the same code as `chmd rules test`, so `make test` covers the packs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from chmd.cli import main
from chmd.rules.load import load_rule_files
from chmd.rules.testing import expand_values, run_test_file

REPO = Path(__file__).resolve().parents[2]
PACKS = sorted(p for p in (REPO / "rules").glob("*.yaml") if not p.name.endswith(".test.yaml"))
TESTS = sorted((REPO / "rules").glob("*.test.yaml"))


def test_every_pack_has_a_test_file() -> None:
    """rules/X.yaml ships with rules/X.test.yaml."""
    assert PACKS
    assert [p.with_suffix(".test.yaml").name for p in PACKS] == [t.name for t in TESTS]


def test_packs_cover_the_required_rules() -> None:
    """The packs hold the rules the issue asks for, all valid."""
    names = {r.name for r in load_rule_files(PACKS).rules}
    assert {
        "device_unreachable", "device_rebooted", "cpu_high", "memory_high", "temperature_high",
        "environment_failed", "interface_down", "interface_errors", "interface_discards",
        "interface_in_utilization_high", "interface_utilization_forecast",
        "interface_traffic_anomaly",
    } <= names  # fmt: skip


@pytest.mark.parametrize("test_file", TESTS, ids=lambda p: p.name)
def test_pack_cases_pass(test_file: Path) -> None:
    """Every case of the pack's test file passes."""
    results = run_test_file(test_file)
    assert results
    assert {r.name: r.failures for r in results if not r.passed} == {}


def test_cli_reports_failures_and_exits_1(tmp_path: Path) -> None:
    """`chmd rules test` prints FAIL with the mismatch and exits 1 when an expectation is wrong."""
    (tmp_path / "r.yaml").write_text((REPO / "rules" / "device-health.yaml").read_text())
    (tmp_path / "t.test.yaml").write_text(
        "rule_files: [r.yaml]\n"
        "tests:\n"
        "  - name: wrong on purpose\n"
        "    series:\n"
        "      - {measurement: cpu, tags: {device: sw1, name: '0'}, fields: {usage: '95x12'}}\n"
        "    alerts:\n"
        "      - {at: 5m, rule: cpu_high, expect: [{labels: {device: sw1}, state: firing}]}\n"
    )
    result = CliRunner().invoke(main, ["rules", "test", str(tmp_path / "t.test.yaml")])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"FAIL {tmp_path}/t.test.yaml: wrong on purpose",
        "  at 5m: cpu_high: expected firing {'device': 'sw1'}",
        "  at 5m: cpu_high: unexpected pending {'device': 'sw1', 'name': '0'}, summary "
        "'sw1 CPU 0 at 95% (above 90% for 10m)', value 95.0",
        "0 cases passed, 1 failed",
    ]


def test_cli_passes_the_shipped_tests() -> None:
    """`chmd rules test rules/*.test.yaml` exits 0."""
    result = CliRunner().invoke(main, ["rules", "test", *map(str, TESTS)])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("0 failed\n")


def test_cli_invalid_test_file_exits_78(tmp_path: Path) -> None:
    """A test file with an unknown key is a configuration error (exit 78) with file:line."""
    (tmp_path / "t.test.yaml").write_text("rule_files: [x.yaml]\ntests: []\nbogus: 1\n")
    result = CliRunner().invoke(main, ["rules", "test", str(tmp_path / "t.test.yaml")])
    assert result.exit_code == 78
    assert f"{tmp_path}/t.test.yaml:3:1: bogus: unknown key" in result.output


def test_rules_check_counts_rules() -> None:
    """`chmd rules check` validates the packs and says how many rules they hold."""
    result = CliRunner().invoke(main, ["rules", "check", *map(str, PACKS)])
    assert result.exit_code == 0
    assert result.output.strip().endswith(f"in {len(PACKS)} files: OK")


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ("1+2x3", [1.0, 3.0, 5.0, 7.0]),
        ("10-1x2", [10.0, 9.0, 8.0]),
        ("5x2", [5.0, 5.0, 5.0]),
        ("1 _ 3", [1.0, None, 3.0]),
        ("_x2 4", [None, None, 4.0]),
    ],
)
def test_value_notation(spec: str, values: list[float | None]) -> None:
    """promtool's expanding notation: a+bxN gives N+1 values, _xN gives N gaps."""
    assert expand_values(spec) == values

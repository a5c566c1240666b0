"""The Prometheus snippets in docs/operations.md are what promtool accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from chmd.metrics import Metrics, metric_names

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def _block_with(key: str) -> str:
    return next(block for block in _yaml_blocks() if re.search(rf"^\s*{key}:", block, re.M))


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    return tool


def test_scrape_config_is_valid(tmp_path: Path) -> None:
    """The documented scrape config passes `promtool check config`."""
    config = tmp_path / "prometheus.yml"
    config.write_text(_block_with("scrape_configs"))
    result = subprocess.run(
        [_promtool(), "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_are_valid_and_use_real_metrics(tmp_path: Path) -> None:
    """The documented alerts on chmd pass `promtool check rules` and name metrics chmd has."""
    text = _block_with("groups")
    rules = tmp_path / "chmd-alerts.yml"
    rules.write_text(text)
    result = subprocess.run(
        [_promtool(), "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    known = metric_names(Metrics().registry) | {"up"}
    exprs = [r["expr"] for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    used = {name for e in exprs for name in re.findall(r"\b(chmd_[a-z_]+|up)\b", e)}
    assert used
    assert used <= known

"""The shipped Grafana dashboards: valid JSON for Grafana, PromQL parsed by promtool, and every
InfluxQL panel query run against a real InfluxDB 1.6.7 loaded by a real chmd poll of the recordings.

No Grafana server can be installed here (COMPONENTS.md §7), so the checks are: a project-owned
JSON schema, a round trip through grafana-foundation-sdk's models (keys Grafana would drop),
`promtool check rules` on every PromQL expression, and InfluxDB itself for every InfluxQL text.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.integration

GRAFANA = Path(__file__).resolve().parents[2] / "etc" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE_UIDS = {"influxdb": "chmd-influxdb", "prometheus": "chmd-prometheus"}

TARGET = {"type": "object", "required": ["refId"]}
PANEL_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "id", "gridPos"],
    "properties": {
        "id": {"type": "integer"},
        "gridPos": {
            "type": "object",
            "required": ["h", "w", "x", "y"],
            "properties": {"w": {"maximum": 24}, "x": {"maximum": 23}},
        },
    },
    "if": {"properties": {"type": {"not": {"const": "row"}}}},
    "then": {
        "required": ["datasource", "targets"],
        "properties": {
            "datasource": {
                "type": "object",
                "required": ["type", "uid"],
                "properties": {"uid": {"enum": sorted(DATASOURCE_UIDS.values())}},
            },
            "targets": {"type": "array", "minItems": 1, "items": TARGET},
        },
    },
}
SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "panels", "schemaVersion", "templating", "annotations", "time"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "panels": {"type": "array", "minItems": 1, "items": PANEL_SCHEMA},
        "templating": {"type": "object", "required": ["list"]},
        "annotations": {"type": "object", "required": ["list"]},
    },
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA / "build_dashboards.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _targets(dash: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (p["title"], t)
        for p in dash["panels"]
        for t in p.get("targets", [])
        if p["datasource"]["type"] == kind
    ]


def test_dashboards_are_shipped() -> None:
    """The four dashboards exist: fleet, device, interface, self-health."""
    assert [p.name for p in DASHBOARD_FILES] == [
        "device.json",
        "fleet.json",
        "interface.json",
        "self.json",
    ]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_committed_json_matches_generator(path: Path) -> None:
    """The committed JSON is exactly what etc/grafana/build_dashboards.py generates."""
    assert path.read_text(encoding="utf-8") == _generator().render(path.name)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_dashboard_schema(path: Path) -> None:
    """Each dashboard passes the project's schema: uid, schemaVersion >= 36, datasources, refIds."""
    dash = _load(path)
    jsonschema.validate(dash, SCHEMA)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_uids_unique_and_datasources_provisioned() -> None:
    """Dashboard uids are unique and every datasource uid they use is provisioned."""
    uids = [_load(p)["uid"] for p in DASHBOARD_FILES]
    assert len(uids) == len(set(uids))
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/chmd.yaml").read_text())
    by_uid = {d["uid"]: d["type"] for d in provisioned["datasources"]}
    assert by_uid == {uid: kind for kind, uid in DATASOURCE_UIDS.items()}
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/chmd.yaml").read_text())
    assert providers["providers"][0]["type"] == "file"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_sdk_round_trip_keeps_every_key(path: Path) -> None:
    """grafana-foundation-sdk's Dashboard model reads the JSON without dropping a key."""
    pytest.importorskip("grafana_foundation_sdk")
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    dash = _load(path)
    back = json.loads(json.dumps(Dashboard.from_json(dash).to_json(), cls=JSONEncoder))
    lost = [key for key in _lost_keys(dash, back) if not SDK_SCHEMA_GAPS.match(key)]
    assert lost == []


# Keys Grafana itself writes and reads that the SDK's 10.1 schema does not model: the built-in
# annotation flag, a variable's `definition`, and InfluxDB annotation fields (query/columns).
SDK_SCHEMA_GAPS = re.compile(
    r"^/annotations/list\[\d+\]/(builtIn|query|textColumn|tagsColumn)$"
    r"|^/templating/list\[\d+\]/definition$"
)


def _lost_keys(a: Any, b: Any, path: str = "") -> list[str]:
    lost: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for key, value in a.items():
            if key not in b:
                lost.append(f"{path}/{key}")
            else:
                lost += _lost_keys(value, b[key], f"{path}/{key}")
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            lost += _lost_keys(x, y, f"{path}[{i}]")
    return lost


PROM_MACROS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$job": ".*"}


def test_promql_parses_with_promtool(tmp_path: Path) -> None:
    """Every PromQL expression of every dashboard is accepted by `promtool check rules`."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    exprs = []
    for path in DASHBOARD_FILES:
        for _, target in _targets(_load(path), "prometheus"):
            expr = target["expr"]
            for macro, value in PROM_MACROS.items():
                expr = expr.replace(macro, value)
            exprs.append(expr)
    assert exprs
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [{"record": f"dash:q{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(json.dumps(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(exprs)} rules found" in result.stdout


def influxql_texts() -> list[tuple[str, str]]:
    """(where, text) for every InfluxQL text: panel targets, variables and annotations."""
    texts = []
    for path in DASHBOARD_FILES:
        dash = _load(path)
        for title, target in _targets(dash, "influxdb"):
            texts.append((f"{path.stem}: {title}", target["query"]))
        for var in dash["templating"]["list"]:
            if var["datasource"]["type"] == "influxdb":
                texts.append((f"{path.stem}: ${var['name']}", var["query"]))
        for ann in dash["annotations"]["list"]:
            if ann["datasource"]["type"] == "influxdb":
                texts.append((f"{path.stem}: annotation {ann['name']}", ann["query"]))
    return texts


def substitute(query: str, variables: dict[str, str]) -> str:
    """Grafana's macros and template variables, as Grafana substitutes them for a 1 h range."""
    query = query.replace("$timeFilter", "time > now() - 1h").replace("$__interval", "1s")
    return re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), m.group(0)), query)

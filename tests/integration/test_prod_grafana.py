"""The shipped Grafana dashboards: valid JSON for Grafana, PromQL parsed by promtool, and every
InfluxQL panel query run against a real InfluxDB 1.6.7 loaded by a real chmd poll of the recordings.

No Grafana server can be installed here (COMPONENTS.md §7), so the checks are: a project-owned
JSON schema, a round trip through grafana-foundation-sdk's models (keys Grafana would drop),
`promtool check rules` on every PromQL expression, and InfluxDB itself for every InfluxQL text.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml
from harness.aio import run_sync

from chmd.model import Alert, AlertState, Severity

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


# --- every InfluxQL text against InfluxDB 1.6.7 loaded by a real chmd poll ----------------------

FOCUS_DEVICES = ("ios_ie32008t2s-ios17-12", "nxos_n3k-3064pq")
"""Devices whose recordings hold every measurement the device dashboards show."""


@dataclass(frozen=True)
class Loaded:
    influxdb: Any
    database: str
    devices: tuple[str, ...]


async def _poll_and_write(
    snmpsim: Any, influxdb: Any, database: str, spool: Path
) -> tuple[str, ...]:
    """Poll every recording twice (rates need two polls) with chmd's SNMP collector and
    write the samples, chmd_poll points and alert changes with chmd's Writer."""
    from harness.snmp import recordings
    from prometheus_client import CollectorRegistry

    from chmd.collect.snmp.collector import SnmpCollector
    from chmd.collect.snmp.profiles import load_profiles
    from chmd.inventory.schema import Device, SnmpAccess
    from chmd.metrics import poll_sample
    from chmd.rules.samples import alert_samples
    from chmd.store.metrics import StoreMetrics
    from chmd.store.settings import StorageSettings
    from chmd.store.writer import Writer

    devices = [
        Device(
            name=name,
            host=snmpsim.host,
            timeout=30,
            snmp=SnmpAccess(port=snmpsim.port, community=f"{name}-live", timeout=5),
        )
        for name in recordings()
    ]
    collector = SnmpCollector(load_profiles())
    settings = StorageSettings(
        url=influxdb.url, database=database, spool_dir=str(spool), close_timeout=30
    )
    writer = Writer(settings, StoreMetrics(CollectorRegistry()))
    await writer.start()
    try:
        for round_ in range(2):
            if round_:
                await asyncio.sleep(1.5)
            # the first poll alone: concurrent first polls race to create the collector's UDP
            # socket and leak the losers (reported to the SNMP stage)
            results = [await collector.poll(devices[0])]
            results += await asyncio.gather(*(collector.poll(d) for d in devices[1:]))
            writer.submit(s for r in results for s in r.samples)
            writer.submit(poll_sample(r, time.time_ns()) for r in results)
            if round_:
                writer.submit(alert_samples(_alerts(), datetime.now(UTC)))
    finally:
        await collector.aclose()
        await writer.aclose()
        for _ in range(3):  # let the UDP transports' close callbacks run before the loop ends
            await asyncio.sleep(0)
    assert not writer.spool.has_records(), "the writer spooled instead of writing"
    return tuple(d.name for d in devices)


def _alerts() -> list[Alert]:
    """One alert still firing and one fired then resolved, on the focus devices."""
    now = datetime.now(UTC)
    out = []
    for n, device in enumerate(FOCUS_DEVICES):
        base = Alert(
            rule="device_cpu_high",
            fingerprint=f"fp-{n}",
            labels=(("device", device),),
            severity=Severity.MAJOR,
            state=AlertState.FIRING,
            value=93.0,
            summary=f"{device}: CPU above 90 %",
            description="",
            active_since=now,
            fired_at=now,
        )
        out.append(base)
        if n == 1:
            out.append(replace(base, state=AlertState.RESOLVED, resolved_at=now))
    return out


@pytest.fixture(scope="module")
def loaded(snmpsim: Any, influxdb: Any, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """InfluxDB 1.6.7 with a fresh database filled by two real chmd polls of every recording."""
    database = f"chmd_grafana_{os.getpid()}"
    spool = tmp_path_factory.mktemp("grafana-spool")
    devices = run_sync(_poll_and_write(snmpsim, influxdb, database, spool))
    return Loaded(influxdb, database, devices)


def _columns(loaded: Loaded, query: str) -> dict[str, list[Any]]:
    """Values per column (over every series; time dropped) of an InfluxQL query, or raise."""
    from harness.proc import HarnessError

    try:
        body = loaded.influxdb.query(query, db=loaded.database)
    except HarnessError as exc:
        raise AssertionError(f"{query}\n{exc}") from exc
    result = body["results"][0]
    assert "error" not in result, f"{query}\n{result['error']}"
    columns: dict[str, list[Any]] = {}
    for series in result.get("series", []):
        for values in series["values"]:
            for column, value in zip(series["columns"], values, strict=True):
                if column != "time":
                    columns.setdefault(column, []).append(value)
    return columns


def _rows(loaded: Loaded, query: str) -> list[list[Any]]:
    columns = _columns(loaded, query)
    return [list(row) for row in zip(*columns.values(), strict=True)]


def _variable_values(loaded: Loaded, query: str, variables: dict[str, str]) -> list[str]:
    return [str(row[-1]) for row in _rows(loaded, substitute(query, variables))]


@pytest.mark.parametrize("device", FOCUS_DEVICES)
def test_every_influxql_query_returns_rows(loaded: Loaded, device: str) -> None:
    """Every InfluxQL panel query, variable and annotation of every dashboard, with Grafana's
    macros and `$device`/`$interface` substituted, runs on InfluxDB 1.6.7 and returns rows,
    and every column it selects holds a value somewhere (a misspelt field would be all null)."""
    interface_var = next(
        v
        for v in _load(GRAFANA / "dashboards/interface.json")["templating"]["list"]
        if v["name"] == "interface"
    )
    variables = {"device": device}
    assert device in _variable_values(loaded, 'SHOW TAG VALUES WITH KEY = "device"', {})
    interfaces = _variable_values(loaded, interface_var["query"], variables)
    assert interfaces, "the $interface variable lists the device's interfaces"
    # the busiest interface, as a user would pick one: it has traffic in the live recording
    busiest_query = (
        'SELECT max("in_octets_rate"), "ifName" FROM "interface" '  # noqa: S608  # test's text
        f"WHERE \"device\" = '{device}' AND time > now() - 1h"
    )
    busiest = _rows(loaded, busiest_query)
    variables["interface"] = str(busiest[0][-1])
    assert variables["interface"] in interfaces
    empty = []
    for where, text in influxql_texts():
        columns = _columns(loaded, substitute(text, variables))
        nulls = [name for name, values in columns.items() if all(v is None for v in values)]
        if not columns or nulls:
            empty.append(f"{where}: {nulls or 'no rows'}: {substitute(text, variables)}")
    assert empty == []


def test_self_health_metric_names_exist() -> None:
    """Every chmd_*/process_* metric the self-health dashboard queries is one chmd exposes
    (promtool parses a misspelt name happily; this catches it)."""
    from prometheus_client import CollectorRegistry

    from chmd.collect.ssh.metrics import SshMetrics
    from chmd.metrics import Metrics, metric_names

    registry = CollectorRegistry()
    Metrics(registry)
    SshMetrics(registry)
    known = metric_names(registry) | {"up"}
    used = set()
    for _, target in _targets(_load(GRAFANA / "dashboards/self.json"), "prometheus"):
        used |= set(re.findall(r"\b((?:chmd|process|python)_[a-z_]+|up)\b", target["expr"]))
    assert used
    assert used - known == set()

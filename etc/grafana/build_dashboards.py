"""Generate chmd's Grafana dashboards (etc/grafana/dashboards/*.json) from one place.

Run `python etc/grafana/build_dashboards.py` from the repo root after editing; the tests
check that the committed JSON equals this script's output, that it is valid Grafana JSON
(schemaVersion 39), that every PromQL expression parses with promtool, and that every
InfluxQL query runs against a real InfluxDB 1.x loaded by a real chmd poll and returns rows.

InfluxDB panels use InfluxQL (works on 1.x, on 2.x through DBRP mappings and on 3.x) over the
names of chmd's SNMP contract (docs/snmp.md): measurements `interface`, `cpu`, `memory`,
`sensor`, `system`, chmd's own `chmd_poll` (one point per poll) and `alerts`.
"""

# ruff: noqa: S608  # these are static InfluxQL texts for Grafana, built from constants, never input

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 39
INFLUX = {"type": "influxdb", "uid": "chmd-influxdb"}
PROM = {"type": "prometheus", "uid": "chmd-prometheus"}
OUT = Path(__file__).resolve().parent / "dashboards"

Panel = dict[str, Any]


# --- small builders ---------------------------------------------------------------------------


class Layout:
    """Places panels left to right on a 24-column grid, wrapping to new rows."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0
        self.next_id = 1

    def place(self, panel: Panel, w: int, h: int) -> Panel:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel


def influx(query: str, alias: str = "", fmt: str = "time_series", ref: str = "A") -> dict[str, Any]:
    target: dict[str, Any] = {
        "refId": ref,
        "datasource": INFLUX,
        "rawQuery": True,
        "query": query,
        "resultFormat": fmt,
    }
    if alias:
        target["alias"] = alias
    return target


def prom(expr: str, legend: str = "", ref: str = "A") -> dict[str, Any]:
    return {"refId": ref, "datasource": PROM, "expr": expr, "legendFormat": legend or "__auto"}


def panel(
    kind: str,
    title: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    description: str = "",
    datasource: dict[str, str] = INFLUX,
    options: dict[str, Any] | None = None,
    max_value: float | None = None,
    thresholds: list[tuple[float | None, str]] | None = None,
    transformations: list[dict[str, Any]] | None = None,
) -> Panel:
    steps = [{"color": c, "value": v} for v, c in (thresholds or [(None, "green")])]
    defaults: dict[str, Any] = {
        "unit": unit,
        "thresholds": {"mode": "absolute", "steps": steps},
    }
    if max_value is not None:
        defaults["min"], defaults["max"] = 0, max_value
    result: Panel = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": datasource,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
    }
    if transformations:
        result["transformations"] = transformations
    return result


def top_table(title: str, query: str, sort_field: str, unit: str, **kw: Any) -> Panel:
    """A table of per-group values, largest first, 10 rows."""
    return panel(
        "table",
        title,
        [influx(query, fmt="table")],
        unit=unit,
        transformations=[
            {"id": "sortBy", "options": {"sort": [{"field": sort_field, "desc": True}]}},
            {"id": "limit", "options": {"limitField": 10}},
        ],
        options={"showHeader": True, "cellHeight": "sm"},
        **kw,
    )


def variable(name: str, query: str, label: str) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": INFLUX,
        "query": query,
        "definition": query,
        "refresh": 1,
        "sort": 1,
        "multi": False,
        "includeAll": False,
        "current": {},
        "options": [],
    }


ALERT_ANNOTATION_QUERY = (
    'SELECT "summary", "rule", "severity", "state" FROM "alerts" '
    "WHERE (\"state\" = 'firing' OR \"state\" = 'resolved') AND $timeFilter{extra}"
)


def alert_annotation(extra: str = "") -> dict[str, Any]:
    """Alert state changes (the `alerts` measurement the rule engine writes) as annotations."""
    return {
        "name": "Alerts",
        "datasource": INFLUX,
        "enable": True,
        "iconColor": "red",
        "query": ALERT_ANNOTATION_QUERY.format(extra=extra),
        "textColumn": "summary",
        "tagsColumn": "rule,severity,state",
    }


def dashboard(
    uid: str,
    title: str,
    panels: list[Panel],
    *,
    variables: list[dict[str, Any]] | None = None,
    annotations: list[dict[str, Any]] | None = None,
    refresh: str = "1m",
    time_from: str = "now-6h",
) -> dict[str, Any]:
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": uid,
        "title": title,
        "tags": ["chmd"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables or []},
        "annotations": {"list": [builtin, *(annotations or [])]},
        "links": [
            {"type": "dashboards", "tags": ["chmd"], "asDropdown": True, "title": "chmd"},
        ],
        "panels": panels,
    }


# --- dashboards -------------------------------------------------------------------------------

# chmd derives these per poll (wrap- and reset-safe, docs/snmp.md): octets/s, % of ifHighSpeed
BPS_IN = 'mean("in_octets_rate") * 8'
BPS_OUT = 'mean("out_octets_rate") * 8'


def fleet() -> dict[str, Any]:
    lay = Layout()
    up = (
        'SELECT sum("up") FROM (SELECT last("up") AS "up" FROM "chmd_poll" '
        'WHERE time > now() - 5m GROUP BY "device")'
    )
    down = (
        'SELECT count("up") - sum("up") FROM (SELECT last("up") AS "up" FROM "chmd_poll" '
        'WHERE time > now() - 5m GROUP BY "device")'
    )
    panels = [
        lay.place(
            panel(
                "stat",
                "Devices up",
                [influx(up)],
                description="Devices whose last poll (within 5 minutes) succeeded.",
                options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"},
            ),
            4,
            4,
        ),
        lay.place(
            panel(
                "stat",
                "Devices down",
                [influx(down)],
                description="Devices whose last poll (within 5 minutes) returned nothing.",
                thresholds=[(None, "green"), (1, "red")],
                options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"},
            ),
            4,
            4,
        ),
        lay.place(
            panel(
                "stat",
                "Active alerts",
                [
                    influx(
                        'SELECT count("state") FROM (SELECT last("state") AS "state" '
                        'FROM "alerts" WHERE $timeFilter GROUP BY "fingerprint") '
                        "WHERE \"state\" = 'firing'"
                    )
                ],
                description="Alerts whose latest state change in the range is to firing.",
                thresholds=[(None, "green"), (1, "orange")],
                options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"},
            ),
            4,
            4,
        ),
        lay.place(
            top_table(
                "Device status",
                'SELECT last("up") AS "up", last("duration_seconds") AS "poll seconds", '
                'last("errors") AS "errors" FROM "chmd_poll" WHERE $timeFilter GROUP BY "device"',
                "up",
                "short",
                description="Last poll of each device: 1 = answered, 0 = nothing came back.",
            ),
            12,
            8,
        ),
        lay.place(
            top_table(
                "Top CPU",
                'SELECT mean("usage") AS "cpu %" FROM "cpu" WHERE $timeFilter GROUP BY "device"',
                "cpu %",
                "percent",
            ),
            8,
            8,
        ),
        lay.place(
            top_table(
                "Top memory",
                'SELECT max("used_percent") AS "memory used %" FROM "memory" '
                'WHERE $timeFilter GROUP BY "device", "name"',
                "memory used %",
                "percent",
            ),
            8,
            8,
        ),
        lay.place(
            top_table(
                "Top temperature",
                'SELECT max("value") AS "°C" FROM "sensor" '
                'WHERE "class" = \'temperature\' AND $timeFilter GROUP BY "device", "name"',
                "°C",
                "celsius",
            ),
            8,
            8,
        ),
        lay.place(
            top_table(
                "Top interface utilisation",
                'SELECT max("in_utilization") AS "in %", max("out_utilization") AS "out %" '
                'FROM "interface" WHERE $timeFilter GROUP BY "device", "ifName"',
                "in %",
                "percent",
            ),
            12,
            8,
        ),
        lay.place(
            top_table(
                "Top interface errors",
                'SELECT spread("ifInErrors") AS "in errors", '
                'spread("ifOutErrors") AS "out errors", '
                'spread("ifInDiscards") AS "in discards" FROM "interface" '
                'WHERE $timeFilter GROUP BY "device", "ifName"',
                "in errors",
                "short",
                description="Counter increase over the time range.",
            ),
            12,
            8,
        ),
        lay.place(
            panel(
                "table",
                "Alert changes",
                [
                    influx(
                        'SELECT "state", "severity", "rule", "device", "summary", "value" '
                        'FROM "alerts" WHERE "state" <> \'\' AND $timeFilter '
                        "ORDER BY time DESC LIMIT 100",
                        fmt="table",
                    )
                ],
                options={"showHeader": True},
            ),
            24,
            8,
        ),
    ]
    return dashboard(
        "chmd-fleet", "chmd / Fleet overview", panels, annotations=[alert_annotation()]
    )


def device() -> dict[str, Any]:
    lay = Layout()
    where = "\"device\" = '$device' AND $timeFilter"
    panels = [
        lay.place(
            panel(
                "stat",
                "Uptime",
                [influx(f'SELECT last("uptime") FROM "system" WHERE {where}')],
                unit="s",
                options={"reduceOptions": {"calcs": ["lastNotNull"]}},
            ),
            6,
            4,
        ),
        lay.place(
            panel(
                "stat",
                "Poll duration",
                [influx(f'SELECT last("duration_seconds") FROM "chmd_poll" WHERE {where}')],
                unit="s",
                options={"reduceOptions": {"calcs": ["lastNotNull"]}},
            ),
            6,
            4,
        ),
        lay.place(
            panel(
                "table",
                "Identity",
                [
                    influx(
                        'SELECT last("sysName") AS "sysName", last("sysDescr") AS "sysDescr" '
                        f'FROM "system" WHERE {where}',
                        fmt="table",
                    )
                ],
            ),
            12,
            4,
        ),
        lay.place(
            panel(
                "timeseries",
                "CPU",
                [
                    influx(
                        f'SELECT mean("usage") FROM "cpu" WHERE {where} '
                        'GROUP BY time($__interval), "name" fill(null)',
                        alias="$tag_name",
                    )
                ],
                unit="percent",
                max_value=100,
            ),
            12,
            8,
        ),
        lay.place(
            panel(
                "timeseries",
                "Memory used",
                [
                    influx(
                        f'SELECT mean("used_percent") FROM "memory" WHERE {where} '
                        'GROUP BY time($__interval), "name" fill(null)',
                        alias="$tag_name",
                    )
                ],
                unit="percent",
                max_value=100,
            ),
            12,
            8,
        ),
        lay.place(
            panel(
                "timeseries",
                "Temperatures",
                [
                    influx(
                        f'SELECT mean("value") FROM "sensor" WHERE "class" = \'temperature\' '
                        f'AND {where} GROUP BY time($__interval), "name" fill(null)',
                        alias="$tag_name",
                    )
                ],
                unit="celsius",
            ),
            12,
            8,
        ),
        lay.place(
            panel(
                "timeseries",
                "Traffic in (top interfaces)",
                [
                    influx(
                        f'SELECT {BPS_IN} FROM "interface" WHERE {where} '
                        'GROUP BY time($__interval), "ifName" fill(null)',
                        alias="$tag_ifName",
                    )
                ],
                unit="bps",
            ),
            12,
            8,
        ),
        lay.place(
            panel(
                "timeseries",
                "Traffic out",
                [
                    influx(
                        f'SELECT {BPS_OUT} FROM "interface" WHERE {where} '
                        'GROUP BY time($__interval), "ifName" fill(null)',
                        alias="$tag_ifName",
                    )
                ],
                unit="bps",
            ),
            12,
            8,
        ),
        lay.place(
            panel(
                "timeseries",
                "Interface errors and discards",
                [
                    influx(
                        'SELECT mean("ifInErrors_rate") AS "in errors", '
                        'mean("ifOutErrors_rate") AS "out errors" '
                        f'FROM "interface" WHERE {where} '
                        'GROUP BY time($__interval), "ifName" fill(null)',
                        alias="$tag_ifName $col",
                    )
                ],
                unit="pps",
            ),
            12,
            8,
        ),
        lay.place(
            panel(
                "table",
                "Interfaces",
                [
                    influx(
                        'SELECT last("ifOperStatus") AS "oper", last("ifAdminStatus") AS "admin", '
                        'last("ifHighSpeed") AS "Mb/s" '
                        f'FROM "interface" WHERE {where} GROUP BY "ifName", "ifAlias"',
                        fmt="table",
                    )
                ],
                description="ifOperStatus/ifAdminStatus: 1 up, 2 down, 7 lowerLayerDown.",
            ),
            24,
            10,
        ),
    ]
    return dashboard(
        "chmd-device",
        "chmd / Device",
        panels,
        variables=[
            variable("device", 'SHOW TAG VALUES FROM "system" WITH KEY = "device"', "Device")
        ],
        annotations=[alert_annotation(" AND \"device\" = '$device'")],
    )


def interface() -> dict[str, Any]:
    lay = Layout()
    where = "\"device\" = '$device' AND \"ifName\" = '$interface' AND $timeFilter"
    panels = [
        lay.place(
            panel(
                "timeseries",
                "Traffic",
                [
                    influx(
                        f'SELECT {BPS_IN} AS "in", {BPS_OUT} AS "out" FROM "interface" '
                        f"WHERE {where} GROUP BY time($__interval) fill(null)",
                    )
                ],
                unit="bps",
            ),
            24,
            8,
        ),
        lay.place(
            panel(
                "timeseries",
                "Utilisation",
                [
                    influx(
                        'SELECT mean("in_utilization") AS "in", '
                        'mean("out_utilization") AS "out" FROM "interface" '
                        f"WHERE {where} GROUP BY time($__interval) fill(null)",
                    )
                ],
                unit="percent",
                description="Bits per second over ifHighSpeed, as chmd derives it.",
            ),
            12,
            8,
        ),
        lay.place(
            panel(
                "timeseries",
                "Packets",
                [
                    influx(
                        'SELECT mean("ifHCInUcastPkts_rate") AS "in", '
                        'mean("ifHCOutUcastPkts_rate") AS "out" '
                        f'FROM "interface" WHERE {where} GROUP BY time($__interval) fill(null)',
                    )
                ],
                unit="pps",
            ),
            12,
            8,
        ),
        lay.place(
            panel(
                "timeseries",
                "Errors and discards",
                [
                    influx(
                        'SELECT mean("ifInErrors_rate") AS "in errors", '
                        'mean("ifOutErrors_rate") AS "out errors", '
                        'mean("ifInDiscards_rate") AS "in discards", '
                        'mean("ifOutDiscards_rate") AS "out discards" '
                        f'FROM "interface" WHERE {where} GROUP BY time($__interval) fill(null)',
                    )
                ],
                unit="pps",
            ),
            12,
            8,
        ),
        lay.place(
            panel(
                "state-timeline",
                "Status",
                [
                    influx(
                        'SELECT last("ifOperStatus") AS "oper", last("ifAdminStatus") AS "admin" '
                        f'FROM "interface" WHERE {where} GROUP BY time($__interval) fill(previous)',
                    )
                ],
                description="1 up, 2 down, 7 lowerLayerDown.",
            ),
            12,
            8,
        ),
    ]
    return dashboard(
        "chmd-interface",
        "chmd / Interface",
        panels,
        variables=[
            variable("device", 'SHOW TAG VALUES FROM "interface" WITH KEY = "device"', "Device"),
            variable(
                "interface",
                'SHOW TAG VALUES FROM "interface" WITH KEY = "ifName" WHERE "device" = \'$device\'',
                "Interface",
            ),
        ],
        annotations=[alert_annotation(" AND \"device\" = '$device'")],
    )


def self_health() -> dict[str, Any]:
    lay = Layout()
    job = '{job=~"$job"}'
    sel = '{job=~"$job"'

    def ts(title: str, expr: str, legend: str, unit: str, w: int = 12) -> Panel:
        return lay.place(
            panel("timeseries", title, [prom(expr, legend)], unit=unit, datasource=PROM), w, 8
        )

    def stat(title: str, expr: str, legend: str, ok_at_one: bool = False) -> Panel:
        steps: list[tuple[float | None, str]] | None = [(None, "red"), (1, "green")]
        return lay.place(
            panel(
                "stat",
                title,
                [prom(expr, legend)],
                datasource=PROM,
                thresholds=steps if ok_at_one else None,
            ),
            6,
            4,
        )

    panels = [
        stat("Up", f"up{job}", "{{instance}}", ok_at_one=True),
        stat(
            "Last reload ok",
            f"chmd_config_last_reload_successful{job}",
            "{{instance}}",
            ok_at_one=True,
        ),
        stat("Devices", f"chmd_devices_configured{job}", "{{instance}}"),
        stat("Firing alerts", f'sum(chmd_alerts{sel},state="firing"}})', "firing"),
        ts(
            "Rule evaluation duration (p90)",
            "histogram_quantile(0.9, sum by (le) "
            f"(rate(chmd_rule_evaluation_duration_seconds_bucket{job}[$__rate_interval])))",
            "p90",
            "s",
        ),
        ts(
            "Alerts by state and severity",
            f"sum by (state, severity) (chmd_alerts{job})",
            "{{state}} {{severity}}",
            "short",
        ),
        ts(
            "Config reloads",
            f"sum by (result) (increase(chmd_config_reloads_total{job}[$__rate_interval]))",
            "{{result}}",
            "short",
        ),
        ts(
            "Task restarts",
            f"sum by (task) (increase(chmd_task_restarts_total{job}[$__rate_interval]))",
            "{{task}}",
            "short",
        ),
        ts(
            "Poll duration (p90) by collector",
            "histogram_quantile(0.9, sum by (le, collector) "
            f"(rate(chmd_collect_poll_duration_seconds_bucket{job}[$__rate_interval])))",
            "{{collector}}",
            "s",
        ),
        ts(
            "Poll results by reason",
            "sum by (collector, reason) "
            f"(rate(chmd_collect_poll_results_total{job}[$__rate_interval]))",
            "{{collector}} {{reason}}",
            "ops",
        ),
        ts(
            "Seconds since last successful poll (top 10 devices)",
            f"topk(10, time() - chmd_collect_last_success_timestamp_seconds{job})",
            "{{device}} {{collector}}",
            "s",
        ),
        ts(
            "Last poll duration (top 10 devices)",
            f"topk(10, chmd_device_last_poll_duration_seconds{job})",
            "{{device}} {{collector}}",
            "s",
        ),
        ts(
            "Scheduler overruns",
            f"sum by (device) (increase(chmd_collect_overruns_total{job}[$__rate_interval]))",
            "{{device}}",
            "short",
        ),
        ts(
            "SNMP varbinds read",
            f"sum(rate(chmd_collect_snmp_varbinds_total{job}[$__rate_interval]))",
            "varbinds/s",
            "ops",
        ),
        ts(
            "SSH commands by outcome",
            f"sum by (outcome) (rate(chmd_ssh_commands_total{job}[$__rate_interval]))",
            "{{outcome}}",
            "ops",
        ),
        ts(
            "Points written",
            f"sum by (tier) (rate(chmd_store_points_written_total{job}[$__rate_interval]))",
            "{{tier}}",
            "ops",
        ),
        ts(
            "Write errors",
            f"sum by (error) (rate(chmd_store_write_errors_total{job}[$__rate_interval]))",
            "{{error}}",
            "ops",
        ),
        ts(
            "Write latency (p90)",
            "histogram_quantile(0.9, sum by (le) "
            f"(rate(chmd_store_write_duration_seconds_bucket{job}[$__rate_interval])))",
            "p90",
            "s",
        ),
        ts("Spool size", f"chmd_store_spool_bytes{job}", "{{instance}}", "bytes"),
        ts(
            "Spool oldest record age",
            f"chmd_store_spool_oldest_record_age_seconds{job}",
            "{{instance}}",
            "s",
        ),
        ts(
            "Dead-letter points (rejected by InfluxDB)",
            f"sum(increase(chmd_store_dead_letter_points_total{job}[$__rate_interval]))",
            "dead letters",
            "short",
        ),
        ts(
            "Notifications",
            "sum by (receiver, outcome) "
            f"(rate(chmd_notify_notifications_total{job}[$__rate_interval]))",
            "{{receiver}} {{outcome}}",
            "ops",
        ),
        ts(
            "Process memory",
            f"process_resident_memory_bytes{job}",
            "{{instance}}",
            "bytes",
        ),
        ts(
            "Process CPU",
            f"rate(process_cpu_seconds_total{job}[$__rate_interval])",
            "{{instance}}",
            "percentunit",
        ),
    ]
    job_var = {
        "type": "query",
        "name": "job",
        "label": "Job",
        "datasource": PROM,
        "query": {"query": "label_values(chmd_build_info, job)", "refId": "jobs"},
        "definition": "label_values(chmd_build_info, job)",
        "refresh": 1,
        "includeAll": True,
        "multi": False,
        "current": {},
        "options": [],
    }
    return dashboard(
        "chmd-self",
        "chmd / Self health",
        panels,
        variables=[job_var],
        refresh="30s",
        time_from="now-1h",
    )


DASHBOARDS = {
    "fleet.json": fleet,
    "device.json": device,
    "interface.json": interface,
    "self.json": self_health,
}


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name in DASHBOARDS:
        (OUT / name).write_text(render(name), encoding="utf-8")
        sys.stdout.write(f"wrote {OUT / name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

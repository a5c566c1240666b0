"""`chmd rules test`: run rule files against input series on a simulated clock (like promtool).

A test file::

    rule_files: [device-health.yaml]       # relative to the test file
    evaluation_interval: 1m
    tests:
      - name: unreachable after 3 missed polls
        interval: 1m                       # spacing of the input values
        series:
          - measurement: system
            tags: {device: sw1, agent_host: 192.0.2.1}
            fields: {uptime: "1000+60x4"}  # promtool notation: 1000, 1060, ... (5 values)
        alerts:
          - at: 8m
            rule: device_unreachable
            expect: [{labels: {device: sw1}, state: firing}]

Values: `a+bxN` (N+1 values from a, step b), `a-bxN`, `axN` (a, N+1 times), `_` (no sample),
`_xN` (N missing), or a YAML list (strings allowed, `null` = no sample). At each `at`, the
rule's pending and firing alerts (and any in a state an expectation names) must match the
expected list exactly: labels as a subset, state, and summary/severity/value if given.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field, ValidationError

from chmd.configtypes import Duration, StrictModel, format_duration
from chmd.errors import ConfigError
from chmd.model import Alert, AlertState, FieldValue, Sample
from chmd.rules.engine import EngineSettings, RuleEngine
from chmd.rules.load import load_rule_files, pydantic_problems
from chmd.yamlfile import YamlFileError, load_yaml

_TOKEN = re.compile(r"^(_|-?[\d.eE+]+?)(?:([+-])([\d.eE]+))?(?:x(\d+))?$")


class ExpectedAlert(StrictModel):
    labels: dict[str, str] = Field(default_factory=dict)
    state: AlertState = AlertState.FIRING
    severity: str | None = None
    summary: str | None = None
    value: float | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    flapping: bool | None = None


class AlertCheck(StrictModel):
    at: Duration
    rule: str
    expect: list[ExpectedAlert] = Field(default_factory=list)


class SeriesInput(StrictModel):
    measurement: str
    tags: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, str | float | list[str | float | None]]
    offset: Duration = 0.0  # time of the first value after the test start


class TestCase(StrictModel):
    __test__ = False  # not a pytest class
    name: str
    interval: Duration | None = None
    evaluation_interval: Duration | None = None  # default: the file's
    series: list[SeriesInput] = Field(default_factory=list)
    alerts: list[AlertCheck] = Field(default_factory=list)


class TestFile(StrictModel):
    __test__ = False
    rule_files: list[str] = Field(min_length=1)
    evaluation_interval: Duration = 60.0
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00 UTC
    tests: list[TestCase] = Field(min_length=1)


@dataclass
class CaseResult:
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def expand_values(spec: str | float | list[str | float | None]) -> list[FieldValue | None]:
    """promtool-style value notation (see the module docstring) → values, None for a gap."""
    if isinstance(spec, list):
        return [v for v in spec]
    if isinstance(spec, int | float):
        return [float(spec)]
    out: list[FieldValue | None] = []
    for token in spec.split():
        match = _TOKEN.match(token)
        if not match:
            raise ValueError(f"bad value {token!r} (write 1, 1+2x3, 5x2, _ or _x3)")
        base, sign, step, times = match.groups()
        if base == "_":
            out.extend([None] * (int(times) if times else 1))
            continue
        start, delta = float(base), float(step or 0) * (-1 if sign == "-" else 1)
        count = int(times) + 1 if times else 1
        out.extend(start + delta * k for k in range(count))
    return out


def load_test_file(path: Path) -> TestFile:
    try:
        doc = load_yaml(path)
    except YamlFileError as exc:
        raise ConfigError([str(p) for p in exc.problems]) from exc
    try:
        return TestFile.model_validate(doc.data or {})
    except ValidationError as exc:
        raise ConfigError([str(p) for p in pydantic_problems(doc, exc)]) from exc


def run_test_file(path: Path, settings: EngineSettings | None = None) -> list[CaseResult]:
    """Run every case of a test file; raises ConfigError if the file or its rules are invalid."""
    spec = load_test_file(path)
    ruleset = load_rule_files([path.parent / f for f in spec.rule_files])
    results = []
    for case in spec.tests:
        try:
            samples = _samples(case, spec)
        except ValueError as exc:
            results.append(CaseResult(case.name, [str(exc)]))
            continue
        results.append(_run_case(case, spec, RuleEngine(ruleset, settings), samples))
    return results


def _samples(case: TestCase, spec: TestFile) -> list[Sample]:
    interval = case.interval or spec.evaluation_interval
    base = spec.start.timestamp()
    out: list[Sample] = []
    for series in case.series:
        columns = {name: expand_values(values) for name, values in series.fields.items()}
        length = max((len(v) for v in columns.values()), default=0)
        for k in range(length):
            fields = {n: v[k] for n, v in columns.items() if k < len(v) and v[k] is not None}
            if fields:
                t = base + series.offset + k * interval
                out.append(Sample(series.measurement, series.tags, fields, round(t * 1e9)))  # type: ignore[arg-type]
    out.sort(key=lambda s: s.time_ns)
    return out


def _run_case(
    case: TestCase, spec: TestFile, engine: RuleEngine, samples: list[Sample]
) -> CaseResult:
    result = CaseResult(case.name)
    step = case.evaluation_interval or spec.evaluation_interval
    checks = sorted(case.alerts, key=lambda c: c.at)
    end = max((c.at for c in checks), default=0.0)
    base = spec.start.timestamp()
    fed = 0
    ticks = math.floor(end / step + 1e-9)
    instants = sorted({k * step for k in range(ticks + 1)} | {c.at for c in checks})
    for offset in instants:
        now = base + offset
        first = fed
        while fed < len(samples) and samples[fed].time_ns <= round(now * 1e9):
            fed += 1
        engine.observe(samples[first:fed])
        engine.evaluate(datetime.fromtimestamp(now, UTC))
        for check in (c for c in checks if abs(c.at - offset) < 1e-6):
            result.failures.extend(_compare(check, engine))
    return result


def _compare(check: AlertCheck, engine: RuleEngine) -> list[str]:
    wanted_states = {AlertState.PENDING, AlertState.FIRING} | {e.state for e in check.expect}
    actual = [a for a in engine.all_alerts() if a.rule == check.rule and a.state in wanted_states]
    failures = []
    unmatched = list(actual)
    for expected in check.expect:
        match = next((a for a in unmatched if _matches(expected, a)), None)
        if match is None:
            failures.append(
                f"at {format_duration(check.at)}: {check.rule}: expected {_show_expected(expected)}"
            )
        else:
            unmatched.remove(match)
    for alert in unmatched:
        failures.append(f"at {format_duration(check.at)}: {check.rule}: unexpected {_show(alert)}")
    return failures


def _matches(expected: ExpectedAlert, alert: Alert) -> bool:
    labels = dict(alert.labels)
    if any(labels.get(k) != v for k, v in expected.labels.items()):
        return False
    if expected.state is not alert.state:
        return False
    if expected.severity is not None and expected.severity != alert.severity.value:
        return False
    if expected.summary is not None and expected.summary != alert.summary:
        return False
    if expected.flapping is not None and expected.flapping != alert.flapping:
        return False
    if expected.value is not None and (
        alert.value is None
        or not math.isclose(expected.value, alert.value, rel_tol=1e-6, abs_tol=1e-9)
    ):
        return False
    return all(alert.annotations.get(k) == v for k, v in expected.annotations.items())


def _show_expected(expected: ExpectedAlert) -> str:
    parts = [f"{expected.state.value} {expected.labels}"]
    if expected.summary is not None:
        parts.append(f"summary {expected.summary!r}")
    if expected.value is not None:
        parts.append(f"value {expected.value}")
    return ", ".join(parts)


def _show(alert: Alert) -> str:
    return (
        f"{alert.state.value} {dict(alert.labels)}, summary {alert.summary!r}, value {alert.value}"
    )

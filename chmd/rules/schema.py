"""The typed shape of rule files (`rules/*.yaml`): groups of rules, one model per `kind`.

A rule file is

    groups:
      - name: interfaces
        interval: 60s
        rules:
          - name: interface_down
            kind: threshold
            select: {measurement: interface, field: ifOperStatus, tags: {ifName: "~Gi.*"}}
            op: "=="
            value: 2
            ...

Only the shape is checked here; selectors and templates are compiled in `compile.py`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, Field, model_validator

from chmd.configtypes import Duration, StrictModel
from chmd.model import Severity

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
Op = Literal[">", ">=", "<", "<=", "==", "!="]


class MatcherSpec(StrictModel):
    """The long form of a tag matcher, exactly one key; for values starting with `~` or `!`."""

    equals: str | None = None
    not_equals: str | None = None
    regex: str | None = None
    not_regex: str | None = None
    present: bool | None = None

    @model_validator(mode="after")
    def _one_key(self) -> MatcherSpec:
        given = [k for k, v in self.model_dump().items() if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of equals, not_equals, regex, not_regex, present")
        for key in ("regex", "not_regex"):
            _check_regex(getattr(self, key))
        return self


def _check_regex(pattern: str | None) -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc


def _check_matcher(value: str | MatcherSpec) -> str | MatcherSpec:
    if isinstance(value, str) and value.startswith(("~", "!~")):
        _check_regex(value[2:] if value.startswith("!~") else value[1:])
    return value


Matcher = Annotated[
    str | MatcherSpec,
    AfterValidator(_check_matcher),
    Field(
        description="`value` equals, `~re` full regex match, `!value` not equal, "
        "`!~re` no match, "
        "or the long form {equals|not_equals|regex|not_regex|present}"
    ),
]


class FieldCondition(StrictModel):
    """A condition on the latest value of another field of the same series row."""

    field: str
    op: Op = "=="
    value: float


class Selector(StrictModel):
    """Which series a rule looks at: one measurement, one field, tag matchers."""

    measurement: str
    field: str | None = None
    tags: dict[str, Matcher] = Field(default_factory=dict)
    where: list[FieldCondition] = Field(default_factory=list)


class RuleBase(StrictModel):
    """Keys every rule kind has."""

    name: str = Field(pattern=NAME_PATTERN)
    severity: Severity = Severity.WARNING
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str = "{rule} on {device}"
    description: str = ""
    for_: Duration = Field(0.0, alias="for")
    keep_firing_for: Duration = 0.0
    enabled: bool = True


class NumericRule(RuleBase):
    """A rule over one numeric field (needs `select.field`)."""

    select: Selector
    stale_after: Duration = 600.0  # a value older than this is "no data", never a breach

    @model_validator(mode="after")
    def _needs_field(self) -> NumericRule:
        if not self.select.field:
            raise ValueError("select.field is required for this kind")
        return self


class ThresholdRule(NumericRule):
    kind: Literal["threshold"]
    op: Op
    value: float
    clear: float | None = None  # hysteresis: once active, stays active until this clears
    reduce: Literal["last", "avg", "min", "max"] = "last"
    window: Duration | None = None

    @model_validator(mode="after")
    def _window(self) -> ThresholdRule:
        if self.reduce != "last" and not self.window:
            raise ValueError(f"reduce: {self.reduce} needs a window (e.g. window: 5m)")
        return self


class RateRule(NumericRule):
    """Change of a field: `rate` per second, `increase`, `delta`, or `resets` (decreases)."""

    kind: Literal["rate"]
    function: Literal["rate", "increase", "delta", "resets"] = "rate"
    counter: bool = True  # rate/increase: a decrease is a counter reset, not negative traffic
    window: Duration = 300.0
    op: Op = ">"
    value: float
    clear: float | None = None


class TrendRule(NumericRule):
    """Fit a line over `window`; breach when it reaches `limit` within `within`."""

    kind: Literal["trend"]
    window: Duration = 86400.0
    resolution: Duration | None = None  # bucket of the downsampled window; default window/96
    method: Literal["least_squares", "theil_sen"] = "theil_sen"
    limit: float
    direction: Literal["rising", "falling"] = "rising"
    within: Duration
    min_points: int = Field(8, ge=3)


class AnomalyRule(NumericRule):
    """Robust z-score of the latest value against the series' own baseline."""

    kind: Literal["anomaly"]
    baseline: Literal["rolling", "daily", "weekly"] = "rolling"
    window: Duration = 3600.0  # rolling: the raw window the median/MAD come from
    seasons: int = Field(7, ge=2, le=8)  # daily/weekly: how many past periods
    resolution: Duration = 3600.0  # daily/weekly: the baseline bucket (hour-of-day)
    z: float = Field(4.0, gt=0)
    direction: Literal["both", "up", "down"] = "both"
    min_history: Duration = 3600.0
    min_deviation: float = Field(0.0, ge=0)  # also require |value - median| >= this
    min_scale: float = Field(0.05, ge=0)  # MAD floor, as a fraction of |median|


class NoDataRule(RuleBase):
    """A series (or any field of a measurement's row) stopped reporting for `absent_for`."""

    kind: Literal["nodata"]
    select: Selector
    absent_for: Duration
    forget_after: Duration = 7 * 86400.0  # then the series is dropped and the alert resolves


class PatternRule(RuleBase):
    """A regex on a string field: `match`, `not_match`, or the value `changed`."""

    kind: Literal["pattern"]
    select: Selector
    regex: str = ".*"
    mode: Literal["match", "not_match", "changed"] = "match"
    hold: Duration = 3600.0  # changed: how long a change keeps the rule breached
    stale_after: Duration = 600.0

    @model_validator(mode="after")
    def _check(self) -> PatternRule:
        if not self.select.field:
            raise ValueError("select.field is required for this kind")
        _check_regex(self.regex)
        return self


class CompositeAll(StrictModel):
    all: list[Expr] = Field(min_length=1)


class CompositeAny(StrictModel):
    any: list[Expr] = Field(min_length=1)


class CompositeNot(StrictModel):
    not_: Expr = Field(alias="not")


Expr = Union[str, CompositeAll, CompositeAny, CompositeNot]  # noqa: UP007 (forward reference)


class CompositeRule(RuleBase):
    """AND/OR/NOT of other rules' alerts for the same entity (`by` labels) within `within`."""

    kind: Literal["composite"]
    condition: Expr
    by: list[str] = Field(
        default_factory=lambda: ["device"], min_length=1
    )  # YAML reads `on` as true
    within: Duration = 0.0
    include_pending: bool = False
    summary: str = "{rule} on {device}"


Rule = Annotated[
    ThresholdRule | RateRule | TrendRule | AnomalyRule | NoDataRule | PatternRule | CompositeRule,
    Field(discriminator="kind"),
]
KINDS = ("threshold", "rate", "trend", "anomaly", "nodata", "pattern", "composite")


class Group(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    interval: Duration | None = None  # default: rules.interval from etc/chmd.yaml
    rules: list[Rule] = Field(default_factory=list)


class RuleFileModel(StrictModel):
    groups: list[Group] = Field(default_factory=list)


CompositeAll.model_rebuild()
CompositeAny.model_rebuild()
CompositeNot.model_rebuild()
CompositeRule.model_rebuild()
Group.model_rebuild()
RuleFileModel.model_rebuild()

"""Rule kinds: each evaluates one rule over many series at once (numpy), given `now`.

`KINDS` is the registry keyed by the word users write in `kind:`; composite rules are
evaluated by the engine from other rules' alerts, so they have no entry here.
"""

from __future__ import annotations

from chmd.rules.kinds.anomaly import Anomaly
from chmd.rules.kinds.base import Kind, Outcome
from chmd.rules.kinds.nodata import NoData
from chmd.rules.kinds.pattern import Pattern
from chmd.rules.kinds.rate import Rate
from chmd.rules.kinds.threshold import Threshold
from chmd.rules.kinds.trend import Trend

KINDS: dict[str, Kind] = {
    "threshold": Threshold(),
    "rate": Rate(),
    "trend": Trend(),
    "anomaly": Anomaly(),
    "nodata": NoData(),
    "pattern": Pattern(),
}

__all__ = ["KINDS", "Kind", "Outcome"]

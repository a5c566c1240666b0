"""composite: AND/OR/NOT of other rules' alerts for the same entity within a time window. Pure.

Each rule keeps a small *memory*: for each of its alerts that was pending or firing, the alert's
labels and the last time it was (firing time positive, pending-only time negative). A leaf is
true for an entity (the `by` labels' values) when the rule's alert for it was firing (or pending,
with `include_pending`) within `within` of `now`. The entities considered are those of the
leaves not under `not`.
"""

from __future__ import annotations

from collections.abc import Iterable

from chmd.model import AlertState, Labels
from chmd.rules.schema import CompositeAll, CompositeAny, CompositeNot, CompositeRule, Expr

Entity = tuple[str, ...]
Memory = dict[str, tuple[Labels, float]]  # fingerprint → (labels, ±last time true)


def remember(
    memory: Memory,
    alerts: Iterable[tuple[str, Labels, AlertState]],
    now: float,
    keep_s: float,
) -> None:
    """Note the pending/firing alerts at `now`; drop entries older than `keep_s`."""
    for fp, labels, state in alerts:
        if state is AlertState.FIRING:
            memory[fp] = (labels, now)
        elif state is AlertState.PENDING:
            memory[fp] = (labels, -now)
    for fp in [fp for fp, (_, at) in memory.items() if now - abs(at) > keep_s]:
        del memory[fp]


def leaf_entities(
    memory: Memory, by: list[str], within: float, pending: bool, now: float
) -> dict[Entity, Labels]:
    """Entities (with their `by` labels) for which this rule counts as true at `now`."""
    out: dict[Entity, Labels] = {}
    for labels, at in memory.values():
        if (at < 0 and not pending) or now - abs(at) > within + 1e-6:
            continue
        tags = dict(labels)
        if all(k in tags for k in by):
            out[tuple(tags[k] for k in by)] = tuple((k, tags[k]) for k in by)
    return out


def refs(expr: Expr) -> list[tuple[str, bool]]:
    """(rule name, under NOT) for every leaf of a condition."""
    out: list[tuple[str, bool]] = []

    def walk(node: Expr, negated: bool) -> None:
        if isinstance(node, str):
            out.append((node, negated))
        elif isinstance(node, CompositeAll):
            for item in node.all:
                walk(item, negated)
        elif isinstance(node, CompositeAny):
            for item in node.any:
                walk(item, negated)
        elif isinstance(node, CompositeNot):
            walk(node.not_, not negated)

    walk(expr, False)
    return out


def evaluate(
    spec: CompositeRule, memories: dict[str, Memory], now: float
) -> tuple[dict[Entity, Labels], set[Entity]]:
    """(entities considered, entities for which the condition holds) at `now`."""
    leaves = {
        name: leaf_entities(memories.get(name, {}), spec.by, spec.within, spec.include_pending, now)
        for name, _ in refs(spec.condition)
    }
    universe: dict[Entity, Labels] = {}
    for name, negated in refs(spec.condition):
        if not negated:
            universe.update(leaves[name])
    return universe, _eval_expr(spec.condition, leaves, set(universe))


def _eval_expr(
    expr: Expr, leaves: dict[str, dict[Entity, Labels]], universe: set[Entity]
) -> set[Entity]:
    if isinstance(expr, str):
        return set(leaves[expr]) & universe
    if isinstance(expr, CompositeAll):
        result = set(universe)
        for item in expr.all:
            result &= _eval_expr(item, leaves, universe)
        return result
    if isinstance(expr, CompositeAny):
        found: set[Entity] = set()
        for item in expr.any:
            found |= _eval_expr(item, leaves, universe)
        return found
    if not isinstance(expr, CompositeNot):  # pragma: no cover - the schema allows no other node
        raise TypeError(f"unexpected composite node {expr!r}")
    return universe - _eval_expr(expr.not_, leaves, universe)

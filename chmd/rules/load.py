"""Load rule files into a `RuleSet`; problems read `file:line:column: key.path: problem (hint)`."""

from __future__ import annotations

import difflib
import glob
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from chmd.errors import ConfigError
from chmd.rules.compile import TagPredicate, Template, compile_selector, compile_template
from chmd.rules.kinds.composite import refs as composite_refs
from chmd.rules.schema import KINDS, CompositeRule, RuleFileModel
from chmd.yamlfile import Mark, Problem, YamlDoc, YamlFileError, format_key_path, load_yaml

DEFAULT_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A validated rule with its selector and templates compiled, ready for the engine."""

    name: str
    kind: str
    spec: Any  # the pydantic model of its kind (ThresholdRule, ...)
    group: str
    interval_s: float
    selects: TagPredicate | None  # None for composite rules
    summary: Template
    description: Template
    digest: str  # changes when anything about the rule changes (reload keeps state otherwise)
    source: str  # file:line of the rule, for messages


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every enabled rule, in evaluation order (composites after the rules they use)."""

    rules: tuple[CompiledRule, ...]
    files: tuple[str, ...] = ()

    def by_name(self) -> dict[str, CompiledRule]:
        return {r.name: r for r in self.rules}


def expand_paths(patterns: Iterable[str | Path], base: Path | None = None) -> list[Path]:
    """Globs and paths (relative to `base`) → sorted, de-duplicated files."""
    found: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if base is not None and not Path(text).is_absolute():
            text = str(base / text)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        found.extend(Path(m) for m in matches if Path(m) not in found)
    return found


def load_rule_files(
    paths: Sequence[str | Path], default_interval_s: float = DEFAULT_INTERVAL_S
) -> RuleSet:
    """Parse, validate and compile rule files; raises ConfigError listing every problem."""
    problems: list[Problem] = []
    loaded: list[tuple[YamlDoc, RuleFileModel]] = []
    for path in paths:
        try:
            doc = load_yaml(Path(path))
        except YamlFileError as exc:
            problems.extend(exc.problems)
            continue
        data = doc.data if doc.data is not None else {}
        try:
            loaded.append((doc, RuleFileModel.model_validate(data)))
        except ValidationError as exc:
            problems.extend(pydantic_problems(doc, exc))
    rules = _compile_all(loaded, default_interval_s, problems)
    if problems:
        raise ConfigError([str(p) for p in problems])
    return RuleSet(tuple(rules), tuple(str(p) for p in paths))


def _compile_all(
    loaded: list[tuple[YamlDoc, RuleFileModel]],
    default_interval_s: float,
    problems: list[Problem],
) -> list[CompiledRule]:
    compiled: list[CompiledRule] = []
    seen: dict[str, str] = {}
    for doc, model in loaded:
        for g, group in enumerate(model.groups):
            for r, rule in enumerate(group.rules):
                path = ("groups", str(g), "rules", str(r))
                mark = doc.mark(path)
                if rule.name in seen:
                    problems.append(
                        Problem(
                            doc.mark((*path, "name")),
                            format_key_path((*path, "name")),
                            f"duplicate rule name {rule.name!r} "
                            f"(first defined at {seen[rule.name]})",
                        )
                    )
                    continue
                seen[rule.name] = str(mark)
                templates = _templates(doc, path, rule, problems)
                if templates is None or not rule.enabled:
                    continue
                select = getattr(rule, "select", None)
                compiled.append(
                    CompiledRule(
                        name=rule.name,
                        kind=rule.kind,
                        spec=rule,
                        group=group.name,
                        interval_s=group.interval or default_interval_s,
                        selects=compile_selector(select) if select is not None else None,
                        summary=templates[0],
                        description=templates[1],
                        digest=_digest(rule, group.interval or default_interval_s),
                        source=str(mark),
                    )
                )
    positions = {r.name: r.source for r in compiled}
    problems.extend(_check_composites(compiled, positions))
    return _order(compiled) if not problems else compiled


def _templates(
    doc: YamlDoc, path: tuple[str, ...], rule: Any, problems: list[Problem]
) -> tuple[Template, Template] | None:
    out: list[Template] = []
    for key in ("summary", "description"):
        try:
            out.append(compile_template(getattr(rule, key)))
        except ValueError as exc:
            problems.append(
                Problem(doc.mark((*path, key)), format_key_path((*path, key)), str(exc))
            )
    return (out[0], out[1]) if len(out) == 2 else None


def _digest(rule: BaseModel, interval_s: float) -> str:
    text = rule.model_dump_json(by_alias=True) + f"|{interval_s}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_composites(rules: list[CompiledRule], positions: dict[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    names = {r.name for r in rules}
    for rule in rules:
        if not isinstance(rule.spec, CompositeRule):
            continue
        refs = composite_refs(rule.spec.condition)
        where = _mark_of(positions[rule.name])
        for name, _ in refs:
            if name not in names:
                hint = difflib.get_close_matches(name, sorted(names), n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else " (name an enabled rule)"
                problems.append(
                    Problem(where, f"{rule.name}.condition", f"unknown rule {name!r}{extra}")
                )
        if not any(not negated for _, negated in refs):
            problems.append(
                Problem(
                    where,
                    f"{rule.name}.condition",
                    "needs at least one rule that is not under `not` (it selects the entities)",
                )
            )
    if not problems and _cycle(rules):
        problems.append(
            Problem(None, "", f"composite rules refer to each other in a cycle: {_cycle(rules)}")
        )
    return problems


def _mark_of(text: str) -> Mark | None:
    file, _, rest = text.rpartition(":")
    file, _, line = file.rpartition(":")
    try:
        return Mark(file, int(line), int(rest))
    except ValueError:
        return None


def _deps(rule: CompiledRule) -> list[str]:
    if isinstance(rule.spec, CompositeRule):
        return [name for name, _ in composite_refs(rule.spec.condition)]
    return []


def _cycle(rules: list[CompiledRule]) -> str:
    by_name = {r.name: r for r in rules}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> str:
        if state.get(name) == 1:
            return " → ".join([*trail[trail.index(name) :], name])
        if state.get(name) == 2 or name not in by_name:
            return ""
        state[name] = 1
        for dep in _deps(by_name[name]):
            found = visit(dep, [*trail, name])
            if found:
                return found
        state[name] = 2
        return ""

    for rule in rules:
        found = visit(rule.name, [])
        if found:
            return found
    return ""


def _order(rules: list[CompiledRule]) -> list[CompiledRule]:
    """Composite rules after the rules they refer to (a topological order, stable)."""
    by_name = {r.name: r for r in rules}
    done: set[str] = set()
    out: list[CompiledRule] = []

    def place(rule: CompiledRule) -> None:
        if rule.name in done:
            return
        done.add(rule.name)
        for dep in _deps(rule):
            if dep in by_name:
                place(by_name[dep])
        out.append(rule)

    for rule in rules:
        place(rule)
    return out


def pydantic_problems(doc: YamlDoc, exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        path = _data_path(doc.data, error["loc"])
        message, hint = _message(error, path)
        mark = doc.mark(path)
        position = doc.position(path)
        if error["type"] == "extra_forbidden" and position is not None and position.key is not None:
            mark = position.key
        problem = Problem(mark, format_key_path(path), message + (f" ({hint})" if hint else ""))
        if str(problem) not in {str(p) for p in problems}:
            problems.append(problem)
    return sorted(problems, key=lambda p: (p.mark.line, p.mark.column) if p.mark else (0, 0))


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[str, ...]:
    """pydantic's loc → the path in the YAML, without union tags (`threshold`, `str`, …)."""
    out: list[str] = []
    node = data
    for part in loc:
        if _has(node, part):
            node = node[part]
            out.append(str(part))
        elif isinstance(part, str) and _is_union_tag(part, node):
            continue  # a union member's tag, not a key
        else:
            out.append(str(part))
            node = None
    return tuple(out)


def _has(node: Any, part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _is_union_tag(part: str, node: Any) -> bool:
    return (
        part in KINDS
        or not isinstance(node, dict)
        or part[:1].isupper()
        or part.startswith(("function-", "str", "list[", "dict["))
    )


def _message(error: Any, path: tuple[str, ...]) -> tuple[str, str]:
    kind = error["type"]
    if kind == "extra_forbidden":
        hint = _did_you_mean(path)
        return "unknown key", hint
    if kind == "missing":
        return "required key is missing", ""
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return f"kind must be one of {', '.join(KINDS)}", ""
    msg = str(error["msg"])
    return msg.removeprefix("Value error, "), ""


def _did_you_mean(key_path: tuple[str, ...]) -> str:
    key = key_path[-1] if key_path else ""
    close = difflib.get_close_matches(key, sorted(_known_keys()), n=1, cutoff=0.75)
    return f"did you mean {close[0]!r}?" if close else ""


def _known_keys() -> set[str]:
    from chmd.rules import schema

    models: tuple[type[BaseModel], ...] = (
        schema.ThresholdRule,
        schema.RateRule,
        schema.TrendRule,
        schema.AnomalyRule,
        schema.NoDataRule,
        schema.PatternRule,
        schema.CompositeRule,
        schema.Group,
        schema.RuleFileModel,
        schema.Selector,
        schema.FieldCondition,
        schema.MatcherSpec,
    )
    return {info.alias or name for model in models for name, info in model.model_fields.items()}

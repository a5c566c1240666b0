"""Resolve once, run many (P4): tag matchers become predicates, templates become renderers.

Nothing here runs per tick; the engine calls the compiled callables.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chmd.rules.schema import MatcherSpec, Selector

TagPredicate = Callable[[Mapping[str, str]], bool]


def compile_matcher(name: str, matcher: str | MatcherSpec) -> TagPredicate:
    """One tag matcher → a predicate on a series' tags. Regexes must match the whole value."""
    if isinstance(matcher, str):
        if matcher.startswith("!~"):
            matcher = MatcherSpec(not_regex=matcher[2:])
        elif matcher.startswith("~"):
            matcher = MatcherSpec(regex=matcher[1:])
        elif matcher.startswith("!"):
            matcher = MatcherSpec(not_equals=matcher[1:])
        else:
            matcher = MatcherSpec(equals=matcher)
    if matcher.equals is not None:
        want = matcher.equals
        return lambda tags: tags.get(name) == want
    if matcher.not_equals is not None:
        avoid = matcher.not_equals
        return lambda tags: tags.get(name) != avoid
    if matcher.regex is not None:
        pattern = re.compile(matcher.regex)
        return lambda tags: pattern.fullmatch(tags.get(name, "")) is not None
    if matcher.not_regex is not None:
        pattern = re.compile(matcher.not_regex)
        return lambda tags: pattern.fullmatch(tags.get(name, "")) is None
    present = bool(matcher.present)
    return lambda tags: (name in tags) is present


def compile_selector(selector: Selector) -> TagPredicate:
    """All tag matchers of a selector, ANDed, as one predicate."""
    predicates = [compile_matcher(name, m) for name, m in selector.tags.items()]
    if not predicates:
        return lambda tags: True
    return lambda tags: all(p(tags) for p in predicates)


class _Blank(dict[str, object]):
    """Template values: a tag a series lacks renders as an empty string."""

    def __missing__(self, key: str) -> str:
        return ""


class _Zero(dict[str, object]):
    """Load-time check values: every placeholder is a number, so `{value:.1f}` validates."""

    def __missing__(self, key: str) -> float:
        return 0.0


class _Forgiving(string.Formatter):
    """A format spec that does not fit the value's type (`{ifAlias:.1f}`) renders it plainly."""

    def format_field(self, value: object, format_spec: str) -> str:
        try:
            return format(value, format_spec)
        except (ValueError, TypeError):
            return str(value)


_FORMATTER = _Forgiving()


@dataclass(frozen=True, slots=True)
class Template:
    """A summary/description template: Python format syntax, `{ifName}`, `{value:.1f}`."""

    text: str
    names: frozenset[str]

    def render(self, values: Mapping[str, object]) -> str:
        return _FORMATTER.vformat(self.text, (), _Blank(values))


def compile_template(text: str) -> Template:
    """Check a template's syntax once at load; raises ValueError with the reason."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
        text.format_map(_Zero())
    except ValueError as exc:
        raise ValueError(f"bad template {text!r}: {exc} (write {{{{ and }}}} for braces)") from exc
    for name in names:
        if not name.isidentifier():
            raise ValueError(
                f"bad placeholder {{{name}}} in {text!r} (use a tag or field name, "
                "e.g. {device}, {ifName}, {value:.1f}; write {{ and }} for braces)"
            )
    return Template(text, frozenset(names))

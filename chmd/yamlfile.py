"""YAML files that remember where every key and value was written.

`load_yaml(path)` parses one file with PyYAML's safe loader and keeps, for every
path into the document (`("devices", "sw1", "snmp", "community")`), the position of
the key and of the value. Duplicate keys and syntax errors become `Problem`s with
`file:line:column`, never silent overwrites. `Problem` is the one message shape of
chmd's configuration layer: `file:line:column: key.path: problem (hint)`.
"""

from __future__ import annotations

import difflib
from collections import abc
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

Path_ = tuple[str, ...]
"""A path into a YAML document; list indexes are written as their decimal string."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A position in a file, 1-based like editors and compilers show it."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Position:
    """Where one entry was written: its key (None for list items and the root) and its value."""

    key: Mark | None
    value: Mark
    scalar: bool  # a scalar value: errors point at the value, otherwise at the key

    @property
    def best(self) -> Mark:
        """The mark an error about this entry should point at."""
        if self.scalar or self.key is None:
            return self.value
        return self.key


@dataclass(frozen=True, slots=True)
class Problem:
    """One configuration message: `file:line:column: key.path: message`."""

    mark: Mark | None
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.mark}: " if self.mark else ""
        key = f"{self.key_path}: " if self.key_path else ""
        return f"{where}{key}{self.message}"


def format_key_path(path: Path_ | tuple[str | int, ...]) -> str:
    """`("devices", "sw1", "groups", 1)` → `devices.sw1.groups[1]`."""
    out = ""
    for part in path:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML file: its plain data and the positions of its entries."""

    file: str  # as shown in messages
    data: Any
    positions: Mapping[Path_, Position]
    problems: tuple[Problem, ...] = ()  # duplicate keys: reported, the last value kept

    def position(self, path: Path_ | tuple[str | int, ...]) -> Position | None:
        """The position of `path`, or of its deepest ancestor written in the file."""
        parts = tuple(str(p) for p in path)
        while True:
            found = self.positions.get(parts)
            if found is not None or not parts:
                return found
            parts = parts[:-1]

    def mark(self, path: Path_ | tuple[str | int, ...], at_key: bool = False) -> Mark:
        """The mark for an error about `path` (its deepest written ancestor); `at_key` points
        at the key itself when `path` was written (for errors about the key, not its value)."""
        found = self.position(path)
        if found is None:
            return Mark(self.file, 1, 1)
        if at_key and found.key is not None and len(path) == len(self._found_path(path)):
            return found.key
        return found.best

    def _found_path(self, path: Path_ | tuple[str | int, ...]) -> Path_:
        parts = tuple(str(p) for p in path)
        while parts and parts not in self.positions:
            parts = parts[:-1]
        return parts


class YamlFileError(Exception):
    """A file could not be read or parsed; `problems` holds every message."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _mark(file: str, mark: yaml.Mark) -> Mark:
    return Mark(file, mark.line + 1, mark.column + 1)


def _walk(
    file: str,
    node: yaml.Node,
    path: Path_,
    positions: dict[Path_, Position],
    problems: list[Problem],
) -> None:
    """Record the position of every entry under `node`; report duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        first: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` entries keep their anchor's positions
            key = str(key_node.value)
            if key in first:
                previous = _mark(file, first[key].start_mark)
                problems.append(
                    Problem(
                        _mark(file, key_node.start_mark),
                        format_key_path((*path, key)),
                        f"duplicate key (first defined at {previous})",
                    )
                )
            first.setdefault(key, key_node)
            positions[(*path, key)] = Position(
                _mark(file, key_node.start_mark),
                _mark(file, value_node.start_mark),
                # an empty value (`key:` alone) has no position of its own: point at the key
                isinstance(value_node, yaml.ScalarNode) and value_node.value != "",
            )
            _walk(file, value_node, (*path, key), positions, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            positions[(*path, str(index))] = Position(
                None, _mark(file, item.start_mark), isinstance(item, yaml.ScalarNode)
            )
            _walk(file, item, (*path, str(index)), positions, problems)


def parse_yaml(text: str, file: str, *, keep_going: bool = False) -> YamlDoc:
    """Parse `text` (the content of `file`).

    Syntax errors raise YamlFileError. Duplicate keys raise too, unless `keep_going`: then
    they are kept in `YamlDoc.problems` (the last value wins) so the caller can report them
    together with every other error of the file.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        positions: dict[Path_, Position] = {}
        problems: list[Problem] = []
        if node is None:
            return YamlDoc(file, None, {(): Position(None, Mark(file, 1, 1), False)})
        positions[()] = Position(None, _mark(file, node.start_mark), False)
        _walk(file, node, (), positions, problems)
        if problems and not keep_going:
            raise YamlFileError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise YamlFileError([_syntax_problem(file, exc)]) from exc
    finally:
        loader.dispose()
    return YamlDoc(file, data, positions, tuple(problems))


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    where = exc.problem_mark or exc.context_mark
    mark = _mark(file, where) if where is not None else Mark(file, 1, 1)
    text = exc.problem or "invalid YAML"
    if exc.context:
        text = f"{exc.context}, {text}"
    return Problem(mark, "", f"YAML syntax error: {text}")


def load_yaml(path: Path, file: str | None = None, *, keep_going: bool = False) -> YamlDoc:
    """Read and parse `path`; `file` is how messages name it (default: `str(path)`).
    `keep_going`: see `parse_yaml`."""
    shown = file if file is not None else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError([Problem(None, "", f"{shown}: cannot read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise YamlFileError([Problem(Mark(shown, 1, 1), "", "not a UTF-8 text file")]) from exc
    return parse_yaml(text, shown, keep_going=keep_going)


# --- pydantic errors → messages ---------------------------------------------------------------

_PREFIXES = ("Value error, ", "Assertion failed, ")


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and `X | None` down to the interesting type."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def keys_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys a mapping at `loc` inside `model` accepts (empty when not a model)."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return []
            tp = field.annotation
        elif origin in (dict, Mapping, abc.Mapping):
            tp = get_args(tp)[1]
        elif origin in (list, tuple, abc.Sequence):
            tp = get_args(tp)[0]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'community'?)`, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def about_key(error: ErrorDetails) -> bool:
    """True when the error is about the key itself (so it should point at the key)."""
    return error["type"] == "extra_forbidden"


def describe(error: ErrorDetails, model: type[BaseModel], extra_keys: Iterable[str] = ()) -> str:
    """A short message for one pydantic error; never includes the input (it may be a secret)."""
    kind, loc = error["type"], error["loc"]
    if kind == "extra_forbidden":
        allowed = [*keys_at(model, loc[:-1]), *(extra_keys if len(loc) == 1 else ())]
        return "unknown key" + did_you_mean(str(loc[-1]), allowed)
    if kind == "missing":
        return "required key is missing"
    message = error["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message.replace("Input should be ", "expected ", 1)


def validation_problems(
    exc: ValidationError,
    model: type[BaseModel],
    locate: Callable[[tuple[str | int, ...], bool], tuple[Mark | None, str]],
    extra_keys: Iterable[str] = (),
) -> list[Problem]:
    """Turn every error of `exc` into a Problem; `locate(loc, at_key)` gives (mark, key path)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        mark, key_path = locate(error["loc"], about_key(error))
        problems.append(Problem(mark, key_path, describe(error, model, extra_keys)))
    return problems


def doc_locator(
    doc: YamlDoc, prefix: tuple[str, ...] = ()
) -> Callable[[tuple[str | int, ...], bool], tuple[Mark | None, str]]:
    """A `locate` for a model validated from `doc.data` at `prefix`."""

    def locate(loc: tuple[str | int, ...], at_key: bool) -> tuple[Mark | None, str]:
        path = (*prefix, *(str(p) for p in loc))
        return doc.mark(path, at_key), format_key_path(path)

    return locate

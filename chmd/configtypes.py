"""Value types shared by every config file: durations, secrets, the strict base model.

A `Duration` is written `30s`, `5m`, `1h30m`, `2d` or `1w` and is held as float seconds.
A `Secret` is written literally or as a reference — `env:NAME`, `file:/path`,
`credential:NAME` (systemd's $CREDENTIALS_DIRECTORY/NAME) — and prints masked
everywhere; only client modules call `reveal()`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
)

MASK = "<secret>"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: object) -> float:
    """`1h30m` → 5400.0. Bare numbers are seconds. Raises ValueError with a hint."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m, 1h")  # noqa: TRY004 (pydantic needs ValueError)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 30s, 5m, 1h")  # noqa: TRY004 (pydantic needs ValueError)
    text = value.strip()
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"bad duration {value!r} (write e.g. 30s, 5m, 1h30m, 2d; no spaces)")
    return total


def format_duration(seconds: float) -> str:
    """5400.0 → `1h30m`: the shortest exact spelling, for dumps and messages."""
    if seconds == 0:
        return "0s"
    parts, rest = [], seconds
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_S[unit]
        count = int(rest // size)
        if count:
            parts.append(f"{count}{unit}")
            rest -= count * size
    if rest > 1e-9:
        parts.append(f"{round(rest * 1000)}ms")
    return "".join(parts)


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": ["string", "number"], "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"}),
]


class Secret:
    """A secret value. Prints as `<secret>`; `reveal()` is for client modules only."""

    __slots__ = ("_value", "reference")

    def __init__(self, value: str, reference: str | None = None) -> None:
        self._value = value
        self.reference = reference  # "env:NAME" etc., or None for a literal in the YAML

    @property
    def is_literal(self) -> bool:
        return self.reference is None

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def resolve_secret(value: object, base_dir: Path | None = None) -> Secret:
    """Turn `env:NAME`, `file:/path`, `credential:NAME` or a literal into a Secret.

    A relative `file:` path is read relative to `base_dir` (the config file's directory)
    when given, else to the working directory.
    """
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str | int):
        raise ValueError(  # noqa: TRY004 (pydantic turns only ValueError into a validation error)
            "expected a string or a reference env:NAME, file:/path, credential:NAME"
        )
    text = str(value)
    scheme, _, rest = text.partition(":")
    if scheme == "env" and rest:
        if rest not in os.environ:
            raise ValueError(f"environment variable {rest} is not set (secret reference {text!r})")
        return Secret(os.environ[rest], text)
    if scheme == "file" and rest:
        path = Path(rest).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return Secret(_read_secret_file(path, text), text)
    if scheme == "credential" and rest:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ValueError(
                f"{text!r}: $CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the unit)"
            )
        return Secret(_read_secret_file(Path(directory) / rest, text), text)
    return Secret(text)


def _read_secret_file(path: Path, reference: str) -> str:
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read secret {reference!r}: {exc.strerror}") from exc


def _dump_secret(value: Secret) -> str:
    return value.reference if value.reference else MASK


def _validate_secret(value: object, info: ValidationInfo) -> Secret:
    """pydantic hook: a validation context `{"base_dir": Path}` anchors relative `file:` paths."""
    context = info.context if isinstance(info.context, dict) else {}
    base_dir = context.get("base_dir")
    return resolve_secret(value, base_dir if isinstance(base_dir, Path) else None)


SecretValue = Annotated[
    Secret,
    BeforeValidator(_validate_secret),
    PlainSerializer(_dump_secret, return_type=str),
    WithJsonSchema(
        {"type": "string", "description": "literal, env:NAME, file:/path or credential:NAME"}
    ),
]
"""A secret in a pydantic model. Dumps as its reference (`env:X`) or `<secret>`, never the value."""


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

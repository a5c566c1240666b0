"""Finding and masking `Secret` values inside loaded configuration and log events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from chmd.configtypes import MASK, Secret

LITERAL_WARNING = "literal secret in the file (prefer env:NAME, file:/path or credential:NAME)"


def find_secrets(
    value: object, loc: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Secret]]:
    """Every Secret inside models, mappings and sequences, with its path."""
    if isinstance(value, Secret):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from find_secrets(getattr(value, name), (*loc, name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from find_secrets(item, (*loc, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from find_secrets(item, (*loc, str(index)))


def mask(value: Any) -> Any:
    """`value` with every Secret inside dicts, lists and tuples replaced by the mask."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {key: mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, tuple):
        return tuple(mask(item) for item in value)
    return value

"""Deep merge of inventory layers (defaults ← groups ← device) that remembers origins.

Mappings merge key by key; lists and scalars replace. For every path of the merged
result, `origins` tells which layer wrote it last, so an error about a value inherited
from a group points at the line in the group where it was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chmd.yamlfile import Mark, Path_, YamlDoc, format_key_path


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of a device: a mapping written in `doc` at `prefix`."""

    doc: YamlDoc
    prefix: Path_  # e.g. ("groups", "ios") or ("devices", "core-sw1")
    body: dict[str, Any]

    def mark(self, rel: Path_, at_key: bool = False) -> Mark:
        return self.doc.mark((*self.prefix, *rel), at_key)

    def key_path(self, rel: Path_) -> str:
        return format_key_path((*self.prefix, *rel))


@dataclass
class Merged:
    """The merged mapping of one device and the layer that wrote each of its paths."""

    data: dict[str, Any]
    origins: dict[Path_, Layer]


def merge_layers(layers: list[Layer]) -> Merged:
    """Merge `layers` in order (later wins) into fresh dicts; the layers are not modified."""
    merged = Merged({}, {})
    if layers:
        merged.origins[()] = layers[-1]
    for layer in layers:
        _merge_into(merged, merged.data, layer.body, (), layer)
    return merged


def _merge_into(
    merged: Merged, target: dict[str, Any], body: dict[str, Any], rel: Path_, layer: Layer
) -> None:
    for key, value in body.items():
        path = (*rel, str(key))
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merged.origins[path] = layer
            _merge_into(merged, target[key], value, path, layer)
            continue
        depth = len(path)
        for old in [p for p in merged.origins if len(p) > depth and p[:depth] == path]:
            del merged.origins[old]
        target[key] = _copy(merged, value, path, layer)


def _copy(merged: Merged, value: Any, path: Path_, layer: Layer) -> Any:
    merged.origins[path] = layer
    if isinstance(value, dict):
        return {k: _copy(merged, v, (*path, str(k)), layer) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(merged, v, (*path, str(i)), layer) for i, v in enumerate(value)]
    return value


def origin_of(merged: Merged, rel: Path_) -> tuple[Path_, Layer]:
    """The deepest written ancestor of `rel` (itself included) and the layer that wrote it."""
    path = rel
    while path not in merged.origins and path:
        path = path[:-1]
    return path, merged.origins[path]

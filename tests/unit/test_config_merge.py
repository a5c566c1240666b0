"""The inventory merge: later layers win, mappings merge, and every path knows its origin."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chmd.inventory.merge import Layer, merge_layers, origin_of
from chmd.yamlfile import parse_yaml

KEYS = st.sampled_from(["a", "b", "c", "snmp", "tags"])
LEAF = st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2))
BODY = st.recursive(
    st.dictionaries(KEYS, LEAF, max_size=3),
    lambda inner: st.dictionaries(KEYS, st.one_of(LEAF, inner), max_size=3),
    max_leaves=10,
)


def reference_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = reference_merge(out[key], value)
        else:
            out[key] = value
    return out


def value_at(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def layer(name: str, body: dict[str, Any]) -> Layer:
    return Layer(parse_yaml("{}", name), (name,), body)


@given(st.lists(BODY, min_size=1, max_size=4))
def test_merge_matches_reference_and_origins_hold(bodies: list[dict[str, Any]]) -> None:
    """Merging equals a plain recursive merge; each leaf's origin layer wrote that value."""
    layers = [layer(f"l{i}", body) for i, body in enumerate(bodies)]
    merged = merge_layers(layers)
    expected: dict[str, Any] = {}
    for body in bodies:
        expected = reference_merge(expected, body)
    assert merged.data == expected
    for path in merged.origins:
        if not path or isinstance(value_at(merged.data, path), dict):
            continue
        found, origin = origin_of(merged, path)
        assert found == path
        assert value_at(origin.body, path) == value_at(merged.data, path)


def test_merge_does_not_modify_layers() -> None:
    """Merging copies: a group shared by many devices is never changed by one of them."""
    group = {"tags": {"role": "core"}}
    merge_layers([layer("g", group), layer("d", {"tags": {"site": "hq"}})])
    assert group == {"tags": {"role": "core"}}

"""Load inventory files (etc/devices.yaml): defaults ← groups ← devices, merged once.

An inventory file has three optional top-level keys:

    defaults:          settings every device of this file starts from
    groups:            name → settings; shared by all inventory files
    devices:           name → settings, plus `groups: [a, b]` merged in that order

Every problem of every file is collected (never the first only) as a `Problem`
pointing at the line where the offending key was written — in the group, when a
device inherited it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chmd.inventory.checks import check_device
from chmd.inventory.merge import Layer, Merged, merge_layers, origin_of
from chmd.inventory.schema import Device
from chmd.secrets import LITERAL_WARNING, find_secrets
from chmd.yamlfile import (
    Mark,
    Path_,
    Problem,
    YamlDoc,
    YamlFileError,
    about_key,
    describe,
    did_you_mean,
    format_key_path,
    load_yaml,
)

TOP_KEYS = ("defaults", "groups", "devices")
_MAPPING_HINTS: dict[Path_, str] = {
    ("devices",): " (name → settings, e.g. `core-sw1: {host: 192.0.2.1}`)",
    ("groups",): " (name → settings, e.g. `core: {tags: {role: core}}`)",
}
DEVICE_ONLY_KEYS = ("groups",)


@dataclass(frozen=True)
class Inventory:
    """The merged, validated devices of every inventory file, in file order."""

    devices: tuple[Device, ...] = ()

    def names(self) -> list[str]:
        return [device.name for device in self.devices]


@dataclass
class InventoryResult:
    inventory: Inventory
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class _Parsed:
    """What the first pass collects from every file before devices are merged."""

    docs: list[YamlDoc] = field(default_factory=list)
    defaults: dict[str, Layer | None] = field(default_factory=dict)  # by file
    groups: dict[str, Layer] = field(default_factory=dict)
    devices: list[tuple[YamlDoc, str, dict[str, Any]]] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)


def load_inventory(files: Sequence[tuple[Path, str]], base_dir: Path) -> InventoryResult:
    """Load `files` ((path, name shown in messages) pairs). Relative paths and `file:`
    secrets resolve against `base_dir`."""
    parsed = _Parsed()
    for path, shown in files:
        try:
            doc = load_yaml(path, shown, keep_going=True)
        except YamlFileError as exc:
            parsed.errors.extend(exc.problems)
            continue
        parsed.errors.extend(doc.problems)
        _parse_file(doc, parsed)
    result = InventoryResult(Inventory(), parsed.errors)
    devices: list[Device] = []
    seen: dict[str, Mark] = {}
    used_groups: set[str] = set()
    for doc, name, body in parsed.devices:
        mark = doc.mark(("devices", name))
        if name in seen:
            result.errors.append(
                Problem(
                    mark,
                    format_key_path(("devices", name)),
                    f"duplicate device name (first defined at {seen[name]})",
                )
            )
            continue
        seen[name] = mark
        device = _build_device(doc, name, body, parsed, result, used_groups, base_dir)
        if device is not None:
            devices.append(device)
    for name, layer in parsed.groups.items():
        if name not in used_groups:
            result.warnings.append(
                Problem(layer.doc.mark(layer.prefix), layer.key_path(()), "group is not used")
            )
            result.errors.extend(_check_unused_group(layer, base_dir))
    result.inventory = Inventory(tuple(devices))
    result.errors[:] = _unique(result.errors)
    result.warnings[:] = _unique(result.warnings)
    return result


def _unique(problems: list[Problem]) -> list[Problem]:
    """Drop repeats (an error in a group shows once, not once per device using it)."""
    return list(dict.fromkeys(problems))


def _mapping(doc: YamlDoc, path: Path_, value: Any, errors: list[Problem]) -> dict[str, Any]:
    """`value` when it is a mapping (None counts as empty); otherwise an error and {}."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    hint = _MAPPING_HINTS.get(path, "")
    errors.append(Problem(doc.mark(path), format_key_path(path), f"expected a mapping{hint}"))
    return {}


def _parse_file(doc: YamlDoc, parsed: _Parsed) -> None:
    root = _mapping(doc, (), doc.data, parsed.errors)
    for key in root:
        if key not in TOP_KEYS:
            parsed.errors.append(
                Problem(
                    doc.mark((str(key),)),
                    str(key),
                    "unknown key" + did_you_mean(str(key), TOP_KEYS),
                )
            )
    defaults = _mapping(doc, ("defaults",), root.get("defaults"), parsed.errors)
    defaults = _reject_device_only_keys(doc, ("defaults",), defaults, parsed.errors)
    parsed.defaults[doc.file] = Layer(doc, ("defaults",), defaults) if defaults else None
    groups = _mapping(doc, ("groups",), root.get("groups"), parsed.errors)
    for name, raw in groups.items():
        path = ("groups", str(name))
        body = _mapping(doc, path, raw, parsed.errors)
        body = _reject_device_only_keys(doc, path, body, parsed.errors)
        if str(name) in parsed.groups:
            first = parsed.groups[str(name)]
            parsed.errors.append(
                Problem(
                    doc.mark(path),
                    format_key_path(path),
                    f"duplicate group name (first defined at {first.doc.mark(first.prefix)})",
                )
            )
            continue
        parsed.groups[str(name)] = Layer(doc, path, body)
    devices = _mapping(doc, ("devices",), root.get("devices"), parsed.errors)
    for name, raw in devices.items():
        body = _mapping(doc, ("devices", str(name)), raw, parsed.errors)
        parsed.devices.append((doc, str(name), body))


def _reject_device_only_keys(
    doc: YamlDoc, path: Path_, body: dict[str, Any], errors: list[Problem]
) -> dict[str, Any]:
    """`body` without the keys only a device may have, each reported."""
    for key in DEVICE_ONLY_KEYS:
        if key in body:
            errors.append(
                Problem(
                    doc.mark((*path, key)),
                    format_key_path((*path, key)),
                    "only a device can list groups (groups do not nest)",
                )
            )
    return {k: v for k, v in body.items() if k not in DEVICE_ONLY_KEYS}


def _group_layers(
    doc: YamlDoc, name: str, body: dict[str, Any], parsed: _Parsed, errors: list[Problem]
) -> list[Layer] | None:
    """The layers of the device's `groups:` list, in order (unknown ones reported, skipped);
    None when `groups:` is not a list of names."""
    raw = body.get("groups", [])
    path = ("devices", name, "groups")
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(g, str) for g in raw):
        errors.append(Problem(doc.mark(path), format_key_path(path), "expected a list of names"))
        return None
    layers = []
    for index, group in enumerate(raw):
        if group not in parsed.groups:
            hint = did_you_mean(group, parsed.groups)
            errors.append(
                Problem(
                    doc.mark((*path, str(index))),
                    format_key_path((*path, index)),
                    f"unknown group {group!r}{hint}",
                )
            )
        else:
            layers.append(parsed.groups[group])
    return layers


def _build_device(
    doc: YamlDoc,
    name: str,
    body: dict[str, Any],
    parsed: _Parsed,
    result: InventoryResult,
    used_groups: set[str],
    base_dir: Path,
) -> Device | None:
    groups = _group_layers(doc, name, body, parsed, result.errors)
    if groups is None:
        return None
    used_groups.update(layer.prefix[-1] for layer in groups)
    if "name" in body:
        path = ("devices", name, "name")
        result.errors.append(
            Problem(
                doc.mark(path),
                format_key_path(path),
                "unknown key (a device's name is its key under 'devices')",
            )
        )
        return None
    own = {k: v for k, v in body.items() if k != "groups"}
    defaults = parsed.defaults.get(doc.file)
    layers = [*([defaults] if defaults else []), *groups, Layer(doc, ("devices", name), own)]
    merged = merge_layers(layers)
    try:
        device = Device.model_validate(
            {**merged.data, "name": name, "groups": [layer.prefix[-1] for layer in groups]},
            context={"base_dir": base_dir},
        )
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            loc = tuple(str(p) for p in error["loc"])
            message = describe(error, Device, DEVICE_ONLY_KEYS)
            result.errors.append(_locate(merged, name, loc, message, about_key(error)))
        result.errors.extend(_check_raw_host(merged, name))
        return None
    problems = [_locate(merged, name, loc, msg) for loc, msg in check_device(device)]
    if problems:
        result.errors.extend(problems)
        return None
    for loc, secret in find_secrets(device):
        if secret.is_literal:
            result.warnings.append(_locate(merged, name, loc, LITERAL_WARNING))
    return _resolve_paths(device, base_dir)


def _check_unused_group(layer: Layer, base_dir: Path) -> list[Problem]:
    """Errors in what a group no device uses writes itself (unknown keys, types, durations)."""
    merged = merge_layers([layer])
    try:
        Device.model_validate(
            {"host": "192.0.2.1", **merged.data, "name": "-"}, context={"base_dir": base_dir}
        )
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            loc = tuple(str(p) for p in error["loc"])
            if loc and origin_of(merged, loc)[0] == loc:
                mark = layer.mark(loc, about_key(error))
                problems.append(Problem(mark, layer.key_path(loc), describe(error, Device)))
        return problems
    return []


def _check_raw_host(merged: Merged, name: str) -> list[Problem]:
    """The host check for a device that failed validation elsewhere, so it is not hidden."""
    host = merged.data.get("host")
    if not isinstance(host, str):
        return []
    device = Device.model_construct(name=name, host=host)
    return [_locate(merged, name, loc, msg) for loc, msg in check_device(device)]


def _locate(merged: Merged, name: str, loc: Path_, message: str, at_key: bool = False) -> Problem:
    """Point at where `loc` was written: exactly (in whichever layer), or at its nearest
    written ancestor while naming the device's path."""
    found, layer = origin_of(merged, loc)
    if found == loc and loc:
        return Problem(layer.mark(loc, at_key), layer.key_path(loc), message)
    return Problem(layer.mark(found), format_key_path(("devices", name, *loc)), message)


def _resolve_paths(device: Device, base_dir: Path) -> Device:
    """SSH key and known_hosts paths relative to the config directory become absolute."""
    if device.ssh is None:
        return device
    update: dict[str, str] = {}
    for key in ("key_file", "known_hosts"):
        value = getattr(device.ssh, key)
        if value:
            path = Path(value).expanduser()
            update[key] = os.path.normpath(path if path.is_absolute() else base_dir / path)
    if not update:
        return device
    return device.model_copy(update={"ssh": device.ssh.model_copy(update=update)})

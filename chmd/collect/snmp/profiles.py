"""SNMP profiles: YAML (shipped in chmd/profiles/, extended from etc/profiles/) → compiled tables.

Everything is resolved when profiles load (numeric OIDs as tuples, enum maps, derive functions,
durations), never per poll, and no MIB file is read at run time. A user profile with the same
`name` as a shipped one replaces it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from chmd.collect.snmp.ber import OID, BerError, parse_oid
from chmd.configtypes import Duration, StrictModel
from chmd.errors import ConfigError

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "profiles"
LOOKUPS: dict[str, OID] = {
    "entPhysicalName": (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 7),
    "entPhysicalDescr": (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 2),
}
DERIVES = ("interface", "memory", "entity_sensor", "hr_storage", "inventory")
Kind = Literal["gauge", "counter", "enum", "string"]


def _oid(text: str) -> str:
    try:
        parse_oid(str(text))
    except BerError as exc:
        raise ValueError(f"{text!r} is not a numeric OID (write e.g. 1.3.6.1.2.1.2.2.1.8)") from exc
    return str(text)


class FieldModel(StrictModel):
    oid: str
    kind: Kind = "gauge"
    scale: float = 1.0
    values: dict[int, str] | None = None
    fallback: str | None = None

    _check = field_validator("oid")(_oid)


class TagModel(StrictModel):
    oid: str | None = None
    index: int | None = None  # take the value from this index component instead of a column
    # map the value through lookup tables (entPhysicalName): the first non-empty name wins
    lookup: str | list[str] | None = None
    default: str | None = None  # when empty/missing: a template with {index}

    @field_validator("oid")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        return None if value is None else _oid(value)


class TableModel(StrictModel):
    name: str
    measurement: str
    index_tags: list[str] = Field(default_factory=list)
    static_tags: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, TagModel] = Field(default_factory=dict)
    fields: dict[str, FieldModel]
    fallbacks: dict[str, FieldModel] = Field(default_factory=dict)
    derive: str | None = None
    every: Duration | None = None
    labels_changed: str | None = None
    keep: dict[str, str] = Field(default_factory=dict)  # tag → regex a row's tag must match

    @field_validator("keep")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from exc
        return value

    @field_validator("derive")
    @classmethod
    def _derive(cls, value: str | None) -> str | None:
        if value is not None and value not in DERIVES:
            raise ValueError(f"unknown derive {value!r} (known: {', '.join(DERIVES)})")
        return value


class ScalarModel(StrictModel):
    measurement: str
    fields: dict[str, FieldModel]


class MatchModel(StrictModel):
    always: bool = False
    vendor: list[str] = Field(default_factory=list)
    os: list[str] = Field(default_factory=list)
    sys_object_id: list[str] = Field(default_factory=list)  # prefixes


class ProfileModel(StrictModel):
    name: str
    match: MatchModel = Field(default_factory=MatchModel)
    scalars: list[ScalarModel] = Field(default_factory=list)
    tables: list[TableModel] = Field(default_factory=list)
    lookups: dict[str, str] = Field(default_factory=dict)


# ---------------------------------------------------------------- compiled form


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    oid: OID
    kind: Kind
    scale: float = 1.0
    values: tuple[tuple[int, str], ...] = ()
    fallback: str | None = None

    def enum(self, number: int) -> str:
        return dict(self.values).get(number, str(number))


@dataclass(frozen=True, slots=True)
class TagColumn:
    name: str
    oid: OID | None
    index: int | None
    lookup: tuple[OID, ...]
    default: str | None


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    measurement: str
    index_tags: tuple[str, ...]
    static_tags: tuple[tuple[str, str], ...]
    tags: tuple[TagColumn, ...]
    fields: tuple[Column, ...]
    fallbacks: tuple[Column, ...]
    derive: str | None
    every_s: float | None
    labels_changed: OID | None
    keep: tuple[tuple[str, re.Pattern[str]], ...] = ()


@dataclass(frozen=True, slots=True)
class Scalars:
    measurement: str
    fields: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    always: bool
    vendors: tuple[str, ...]
    oses: tuple[str, ...]
    sys_object_ids: tuple[OID, ...]
    scalars: tuple[Scalars, ...]
    tables: tuple[Table, ...]
    source: str

    def matches(self, vendor: str, os: str, sys_object_id: OID | None) -> bool:
        if self.always:
            return True
        if self.vendors and vendor not in self.vendors:
            return False
        if self.oses and os not in self.oses:
            return False
        if self.sys_object_ids:
            return sys_object_id is not None and any(
                sys_object_id[: len(p)] == p for p in self.sys_object_ids
            )
        return bool(self.vendors or self.oses)


def _column(name: str, model: FieldModel) -> Column:
    values = tuple(sorted((model.values or {}).items()))
    return Column(name, parse_oid(model.oid), model.kind, model.scale, values, model.fallback)


def compile_profile(model: ProfileModel, source: str, lookups: dict[str, OID]) -> Profile:
    """Resolve one validated profile: OIDs to tuples, lookups to their OIDs."""
    tables = []
    for t in model.tables:
        tags = []
        for tag_name, tag in t.tags.items():
            if (tag.oid is None) == (tag.index is None):
                raise ConfigError([f"{source}: table {t.name!r} tag {tag_name}: give oid or index"])
            names = [tag.lookup] if isinstance(tag.lookup, str) else list(tag.lookup or [])
            unknown = [n for n in names if n not in lookups]
            if unknown:
                raise ConfigError([f"{source}: table {t.name!r}: unknown lookup {unknown[0]!r}"])
            tags.append(
                TagColumn(
                    tag_name,
                    parse_oid(tag.oid) if tag.oid else None,
                    tag.index,
                    tuple(lookups[n] for n in names),
                    tag.default,
                )
            )
        for f in t.fields.values():
            if f.fallback is not None and f.fallback not in t.fallbacks:
                raise ConfigError(
                    [f"{source}: table {t.name!r}: fallback {f.fallback!r} undefined"]
                )
        tables.append(
            Table(
                t.name,
                t.measurement,
                tuple(t.index_tags),
                tuple(sorted(t.static_tags.items())),
                tuple(tags),
                tuple(_column(n, f) for n, f in t.fields.items()),
                tuple(_column(n, f) for n, f in t.fallbacks.items()),
                t.derive,
                t.every,
                parse_oid(t.labels_changed) if t.labels_changed else None,
                tuple((tag, re.compile(pattern)) for tag, pattern in t.keep.items()),
            )
        )
    scalars = tuple(
        Scalars(s.measurement, tuple(_column(n, f) for n, f in s.fields.items()))
        for s in model.scalars
    )
    return Profile(
        model.name,
        model.match.always,
        tuple(model.match.vendor),
        tuple(model.match.os),
        tuple(parse_oid(p) for p in model.match.sys_object_id),
        scalars,
        tuple(tables),
        source,
    )


def _files(directories: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for directory in directories:
        if directory.is_dir():
            files.extend(sorted(directory.glob("*.yaml")))
    return files


def load_profiles(extra_dirs: Iterable[Path] = ()) -> dict[str, Profile]:
    """Shipped profiles, then user directories (same name replaces). Raises ConfigError."""
    models: dict[str, tuple[ProfileModel, str]] = {}
    problems: list[str] = []
    lookups = dict(LOOKUPS)
    for path in _files([SHIPPED_DIR, *extra_dirs]):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            model = ProfileModel.model_validate(raw)
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(part) for part in err["loc"])
                problems.append(f"{path}: {loc}: {err['msg']}")
            continue
        for name, oid in model.lookups.items():
            lookups[name] = parse_oid(_oid(oid))
        models[model.name] = (model, str(path))
    profiles: dict[str, Profile] = {}
    for name, (model, source) in models.items():
        try:
            profiles[name] = compile_profile(model, source, lookups)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return profiles


def select_profiles(
    profiles: dict[str, Profile],
    vendor: str,
    os: str,
    sys_object_id: OID | None,
    pinned: list[str] | None = None,
) -> list[Profile]:
    """The profiles for a device: the pinned names (plus `system`), or every one that matches."""
    if pinned is not None:
        missing = [n for n in pinned if n not in profiles]
        if missing:
            raise ConfigError([f"unknown SNMP profile(s): {', '.join(missing)}"])
        names = ["system", *[n for n in pinned if n != "system"]]
        return sorted((profiles[n] for n in names if n in profiles), key=_poll_order)
    chosen = [p for p in profiles.values() if p.matches(vendor, os, sys_object_id)]
    return sorted(chosen, key=_poll_order)


def _poll_order(profile: Profile) -> tuple[int, str]:
    """system, then interfaces, then the rest by name: what matters most is read first."""
    return ({"system": 0, "interfaces": 1}.get(profile.name, 2), profile.name)

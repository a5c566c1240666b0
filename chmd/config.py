"""etc/chmd.yaml → `ChmdConfig`, plus the inventory and rule files it names.

`load_config(path)` is the one entry point: it reads chmd.yaml, every inventory file
and every rule file, collects *every* problem of every file, and either returns a
`LoadedConfig` or raises `ConfigError` with all of them (`file:line:column: key.path:
problem (hint)`). Relative paths in chmd.yaml — and relative `file:` secrets — resolve
against the directory of chmd.yaml. Each stage owns the model of its own section
(`StorageSettings`, `NotifySettings`, …); this module only composes them.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator

from chmd.collect.ssh.settings import SshCollectorSettings
from chmd.configtypes import Duration, StrictModel
from chmd.errors import ConfigError
from chmd.inventory.load import Inventory, load_inventory
from chmd.inventory.schema import Device
from chmd.notify.settings import NotifySettings
from chmd.rules.load import RuleSet, load_rule_files
from chmd.secrets import LITERAL_WARNING, find_secrets
from chmd.store.settings import StorageSettings
from chmd.yamlfile import (
    Mark,
    Problem,
    YamlDoc,
    YamlFileError,
    doc_locator,
    format_key_path,
    load_yaml,
    validation_problems,
)

DEFAULT_METRICS_LISTEN = "127.0.0.1:9515"
DEFAULT_KNOWN_HOSTS = "known_hosts"  # beside chmd.yaml (docs/ssh.md)
_M = TypeVar("_M", bound=StrictModel)


class InventorySettings(StrictModel):
    """Where the devices are: inventory files (defaults ← groups ← devices)."""

    files: list[str] = Field(default_factory=lambda: ["devices.yaml"], min_length=1)
    profiles_dir: str | None = None  # extra SNMP profiles beside the built-in ones


class RulesSettings(StrictModel):
    """Which rule files to load, how often rules are evaluated unless a group says, and the
    engine's knobs (chmd.rules.engine.EngineSettings; docs/rules.md)."""

    files: list[str] = Field(default_factory=lambda: ["rules/*.yaml"])
    interval: Duration = 60.0
    raw_resolution: Duration = Field(60.0, gt=0)  # bucket of the raw windows
    flap_window: Duration = Field(3600.0, gt=0)
    flap_threshold: int = Field(6, ge=2)  # firing↔resolved changes in flap_window: flapping
    retention: Duration = 900.0  # how long a resolved/inactive alert record is kept
    forget_after: Duration = Field(7 * 86400.0, gt=0)  # a series silent this long is dropped


class MetricsSettings(StrictModel):
    """The Prometheus /metrics listener."""

    listen: str = DEFAULT_METRICS_LISTEN

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"expected HOST:PORT such as {DEFAULT_METRICS_LISTEN}, got {value!r}")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class LogSettings(StrictModel):
    """Log level and format: `auto` is human console output on a TTY, JSON lines otherwise."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


class SnmpSettings(StrictModel):
    """Daemon-wide SNMP settings; per-device access is in the inventory."""

    max_in_flight: int = Field(64, ge=1, le=100000)


class ChmdConfig(StrictModel):
    """The whole of etc/chmd.yaml. Paths are absolute once loaded."""

    inventory: InventorySettings = Field(default_factory=InventorySettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    state_dir: str = "/var/lib/chmd"
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    ssh: SshCollectorSettings = Field(default_factory=SshCollectorSettings)
    snmp: SnmpSettings = Field(default_factory=SnmpSettings)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """A section written with only comments under it (`ssh:`) means its defaults."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in SECTIONS)}
        return data


SECTIONS = ("inventory", "rules", "storage", "notify", "metrics", "log", "ssh", "snmp")


@dataclass(frozen=True)
class LoadedConfig:
    """chmd.yaml validated, the inventory merged, the rule files loaded."""

    path: Path  # chmd.yaml as given
    config: ChmdConfig
    inventory: Inventory
    rule_files: tuple[Path, ...] = ()
    rules: RuleSet = field(default_factory=lambda: RuleSet(()))  # compiled by chmd.rules
    warnings: tuple[str, ...] = field(default=())

    @property
    def devices(self) -> tuple[Device, ...]:
        return self.inventory.devices


def default_config_path(cwd: Path | None = None) -> Path:
    """etc/chmd.yaml when it exists below the working directory, else /etc/chmd/chmd.yaml."""
    local = (cwd or Path.cwd()) / "etc" / "chmd.yaml"
    return Path("etc/chmd.yaml") if local.is_file() else Path("/etc/chmd/chmd.yaml")


def load_config(path: Path) -> LoadedConfig:
    """Load chmd.yaml and everything it names; raises ConfigError with every problem."""
    shown = str(path)
    try:
        doc = load_yaml(path, shown, keep_going=True)
    except YamlFileError as exc:
        raise ConfigError([str(p) for p in exc.problems]) from exc
    base = path.parent.absolute()
    errors: list[Problem] = list(doc.problems)
    warnings: list[Problem] = []
    raw = doc.data if doc.data is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError([str(Problem(doc.mark(()), "", "expected a mapping of settings"))])
    config = _validate(doc, raw, base, errors)
    inventory_settings = config.inventory if config else _section(InventorySettings, raw, base)
    rules_settings = config.rules if config else _section(RulesSettings, raw, base)
    inventory = Inventory()
    if inventory_settings is not None:
        files = _existing_files(doc, inventory_settings.files, path.parent, errors)
        result = load_inventory(files, base)
        errors.extend(result.errors)
        warnings.extend(result.warnings)
        inventory = result.inventory
        profiles_dir = inventory_settings.profiles_dir
        if profiles_dir is not None and not _file_pair(path.parent, profiles_dir)[0].is_dir():
            loc = ("inventory", "profiles_dir")
            shown_dir = _file_pair(path.parent, profiles_dir)[1]
            errors.append(
                Problem(doc.mark(loc), format_key_path(loc), f"no such directory: {shown_dir}")
            )
    rule_problems: list[str] = []
    rule_files: list[Path] = []
    rules: RuleSet | None = None
    if rules_settings is not None:
        rule_files = _expand_rule_files(doc, rules_settings, path.parent, errors, warnings)
        rules = _load_rules(rule_files, rules_settings.interval, rule_problems)
    if config is not None:
        warnings.extend(
            Problem(doc.mark(loc), format_key_path(loc), LITERAL_WARNING)
            for loc, secret in find_secrets(config)
            if secret.is_literal
        )
    if errors or rule_problems:
        raise ConfigError([*(str(p) for p in _ordered(errors, shown)), *rule_problems])
    assert config is not None  # noqa: S101 (no errors means the config validated)
    return LoadedConfig(
        path=path,
        config=_resolve_paths(config, base),
        inventory=inventory,
        rule_files=tuple(rule_files),
        rules=rules or RuleSet(()),
        warnings=tuple(str(p) for p in _ordered(warnings, shown)),
    )


def _validate(
    doc: YamlDoc, raw: dict[str, Any], base: Path, errors: list[Problem]
) -> ChmdConfig | None:
    try:
        return ChmdConfig.model_validate(raw, context={"base_dir": base})
    except ValidationError as exc:
        errors.extend(validation_problems(exc, ChmdConfig, doc_locator(doc)))
        return None


def _section(model: type[_M], raw: dict[str, Any], base: Path) -> _M | None:
    """One section on its own, when the whole file failed: so its files still get checked."""
    key = "inventory" if model is InventorySettings else "rules"
    try:
        return model.model_validate(raw.get(key) or {}, context={"base_dir": base})
    except ValidationError:
        return None  # already reported by the whole-file validation


def _file_pair(shown_dir: Path, name: str) -> tuple[Path, str]:
    """(path to open, path to show) for a file named in chmd.yaml."""
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = shown_dir / path
    return path, os.path.normpath(path)


def _existing_files(
    doc: YamlDoc, names: list[str], shown_dir: Path, errors: list[Problem]
) -> list[tuple[Path, str]]:
    """The inventory files named in chmd.yaml; a missing one is an error at its name."""
    found = []
    for index, name in enumerate(names):
        path, shown = _file_pair(shown_dir, name)
        if path.is_file():
            found.append((path, shown))
        else:
            loc = ("inventory", "files", str(index))
            errors.append(Problem(doc.mark(loc), format_key_path(loc), f"no such file: {shown}"))
    return found


def _expand_rule_files(
    doc: YamlDoc,
    settings: RulesSettings,
    shown_dir: Path,
    errors: list[Problem],
    warnings: list[Problem],
) -> list[Path]:
    """Globs relative to chmd.yaml's directory → sorted files; a pattern matching nothing
    warns. A glob skips rule test files (`*.test.yaml`); naming one explicitly loads it."""
    found: list[Path] = []
    for index, pattern in enumerate(settings.files):
        full = _file_pair(shown_dir, pattern)[1]
        matches = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
        if glob.has_magic(full):  # rule tests (`chmd rules test`) live beside their rules
            matches = [m for m in matches if not m.endswith(TEST_FILE_SUFFIXES)]
        loc = ("rules", "files", str(index))
        if glob.has_magic(full) and not matches:
            warnings.append(Problem(doc.mark(loc), format_key_path(loc), "matches no file"))
        elif not glob.has_magic(full) and not Path(full).is_file():
            errors.append(Problem(doc.mark(loc), format_key_path(loc), f"no such file: {full}"))
            continue
        found.extend(Path(m) for m in matches if Path(m) not in found)
    return found


TEST_FILE_SUFFIXES = (".test.yaml", ".test.yml")


def _load_rules(paths: list[Path], interval_s: float, problems: list[str]) -> RuleSet | None:
    """The rules stage validates and compiles the rule files (chmd.rules.load)."""
    try:
        return load_rule_files(paths, interval_s)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def _ordered(problems: list[Problem], first: str) -> list[Problem]:
    """`first` (chmd.yaml) first, other files in the order they were read, then by line and
    column; repeats dropped."""
    files: dict[str, int] = {first: 0}
    for problem in problems:
        if problem.mark is not None:
            files.setdefault(problem.mark.file, len(files))

    def key(problem: Problem) -> tuple[int, int, int]:
        mark = problem.mark or Mark("", 0, 0)
        return files.get(mark.file, -1), mark.line, mark.column

    return sorted(dict.fromkeys(problems), key=key)


def _absolute(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return os.path.normpath(path if path.is_absolute() else base / path)


def _resolve_ssh_paths(ssh: SshCollectorSettings, base: Path) -> SshCollectorSettings:
    """SSH paths absolute; known_hosts defaults to `known_hosts` beside chmd.yaml."""
    known = ssh.known_hosts if "known_hosts" in ssh.model_fields_set else DEFAULT_KNOWN_HOSTS
    tofu = ssh.tofu_known_hosts
    return ssh.model_copy(
        update={
            "known_hosts": _absolute(base, known),
            "tofu_known_hosts": _absolute(base, tofu) if tofu is not None else None,
            "command_sets": {k: _absolute(base, v) for k, v in ssh.command_sets.items()},
        }
    )


def _resolve_paths(config: ChmdConfig, base: Path) -> ChmdConfig:
    """Relative paths → absolute against chmd.yaml's directory; the spool defaults to
    `<state_dir>/spool` unless `storage.spool_dir` is set."""
    state_dir = _absolute(base, config.state_dir)
    storage = config.storage
    if "spool_dir" in storage.model_fields_set:
        spool_dir = _absolute(base, storage.spool_dir)
    else:
        spool_dir = os.path.join(state_dir, "spool")
    inventory = config.inventory
    if inventory.profiles_dir is not None:
        inventory = inventory.model_copy(
            update={"profiles_dir": _absolute(base, inventory.profiles_dir)}
        )
    return config.model_copy(
        update={
            "state_dir": state_dir,
            "storage": storage.model_copy(update={"spool_dir": spool_dir}),
            "inventory": inventory,
            "ssh": _resolve_ssh_paths(config.ssh, base),
        }
    )


__all__ = [
    "ChmdConfig",
    "ConfigError",
    "InventorySettings",
    "LoadedConfig",
    "LogSettings",
    "MetricsSettings",
    "RulesSettings",
    "SnmpSettings",
    "default_config_path",
    "load_config",
]

"""Platform command sets: which `show` commands to run, how often, and how output becomes samples.

A command set is YAML shipped in `chmd/collect/ssh/platforms/<platform>.yaml` (or any file a
user points at). It is validated and compiled once, at load: converters are looked up,
templates found, so a poll only runs what was proven to exist.

Field spec mini-language (see docs/ssh.md):
  fields:   ifMtu: "mtu | int"             one record key through a converter (default `str`)
            used_percent: "memory_used, memory_total | percent"   several keys
  tags:     ifDescr: "{interface}"          a format string over the record
            ifName: "{interface} | ios_short_ifname"
            class: "temperature"            a literal
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from chmd.collect.ssh.parsers.convert import CONVERTERS, Converter
from chmd.configtypes import Duration, StrictModel
from chmd.errors import ConfigError

PLATFORM_FILES = {"cisco_ios": "cisco_ios", "cisco_xe": "cisco_ios", "cisco_nxos": "cisco_nxos"}
"""Inventory `ssh.platform` → built-in command set (IOS-XE speaks IOS's CLI)."""


class SampleSpec(StrictModel):
    measurement: str
    when: str | None = None  # only records where this key is non-empty
    rows: Literal["all", "first"] = "all"
    tags: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, str]


class CommandSpec(StrictModel):
    command: str
    interval: Duration | None = None  # None → every poll of the device
    parser: Literal["ntc", "template"] = "ntc"
    template: str | None = None  # file in chmd/collect/ssh/templates/ (parser: template)
    kind: Literal["metrics", "log"] = "metrics"
    allow_empty: bool = False  # output that parses to no record is not an error
    enabled: bool = True
    samples: list[SampleSpec]


class CommandSetSpec(StrictModel):
    platform: str
    ntc_platform: str
    session: Literal["exec", "interactive"] = "exec"
    pagination: str = "terminal length 0"
    prompt: str = r"[\w.\-:/()]+[#>]"  # the whole last line at login, e.g. `lab-sw1#`
    commands: list[CommandSpec]


@dataclass(frozen=True, slots=True)
class FieldRule:
    name: str
    keys: tuple[str, ...]
    convert: Converter


@dataclass(frozen=True, slots=True)
class TagRule:
    name: str
    template: str
    convert: Converter | None


@dataclass(frozen=True, slots=True)
class SampleRule:
    measurement: str
    when: str | None
    first_row_only: bool
    tags: tuple[TagRule, ...]
    fields: tuple[FieldRule, ...]


@dataclass(frozen=True, slots=True)
class Command:
    command: str
    interval_s: float | None
    ntc_platform: str
    template_path: Path | None  # None → ntc-templates' own template for the command
    kind: str
    allow_empty: bool
    samples: tuple[SampleRule, ...]
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class CommandSet:
    platform: str
    session: str
    pagination: str
    prompt: str
    commands: tuple[Command, ...]


def _converter(name: str, where: str) -> Converter:
    try:
        return CONVERTERS[name]
    except KeyError:
        known = ", ".join(sorted(CONVERTERS))
        raise ConfigError([f"{where}: unknown converter {name!r} (known: {known})"]) from None


def _split(spec: str) -> tuple[str, str | None]:
    body, bar, conv = spec.partition("|")
    return body.strip(), (conv.strip() if bar else None)


def _field_rule(name: str, spec: str, where: str) -> FieldRule:
    body, conv = _split(spec)
    keys = tuple(k.strip() for k in body.split(",") if k.strip())
    if not keys:
        raise ConfigError([f"{where}.fields.{name}: names no record key"])
    return FieldRule(name, keys, _converter(conv or "str", f"{where}.fields.{name}"))


def _tag_rule(name: str, spec: str, where: str) -> TagRule:
    body, conv = _split(spec)
    try:
        list(string.Formatter().parse(body))
    except ValueError as exc:
        raise ConfigError([f"{where}.tags.{name}: bad template {body!r}: {exc}"]) from None
    return TagRule(name, body, _converter(conv, f"{where}.tags.{name}") if conv else None)


def _template_path(name: str, where: str) -> Path:
    path = Path(str(resources.files("chmd.collect.ssh") / "templates" / name))
    if not path.is_file():
        raise ConfigError([f"{where}.template: no template {name!r} in {path.parent}"])
    return path


def _check_ntc_template(platform: str, command: str, where: str) -> None:
    """ntc-templates must have a template for (platform, command): proven at load, not per poll."""
    from ntc_templates.parse import ParsingException, parse_output

    try:
        parse_output(platform=platform, command=command, data="")
    except ParsingException:
        raise ConfigError(
            [
                f"{where}: ntc-templates has no {platform} template for this command "
                "(use `parser: template` with a template of your own)"
            ]
        ) from None


def compile_command_set(spec: CommandSetSpec, source: str) -> CommandSet:
    """Resolve converters and templates once; raise ConfigError naming the command."""
    commands = []
    for cmd in spec.commands:
        where = f"{source}: commands[{cmd.command!r}]"
        if cmd.parser == "template" and not cmd.template:
            raise ConfigError([f"{where}: parser 'template' needs `template: FILE.textfsm`"])
        template = _template_path(cmd.template, where) if cmd.template else None
        if cmd.parser == "ntc":
            _check_ntc_template(spec.ntc_platform, cmd.command, where)
        rules = tuple(
            SampleRule(
                s.measurement,
                s.when,
                s.rows == "first",
                tuple(_tag_rule(n, v, where) for n, v in s.tags.items()),
                tuple(_field_rule(n, v, where) for n, v in s.fields.items()),
            )
            for s in cmd.samples
        )
        commands.append(
            Command(
                cmd.command,
                cmd.interval,
                spec.ntc_platform,
                template,
                cmd.kind,
                cmd.allow_empty,
                rules,
                cmd.enabled,
            )
        )
    return CommandSet(spec.platform, spec.session, spec.pagination, spec.prompt, tuple(commands))


def load_command_set_file(path: Path) -> CommandSet:
    """Load and compile a command-set YAML file; every problem becomes a ConfigError."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([f"{path}: cannot read command set: {exc}"]) from exc
    try:
        spec = CommandSetSpec.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{path}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError(problems) from None
    return compile_command_set(spec, str(path))


def builtin_command_set(platform: str) -> CommandSet:
    """The command set shipped for an inventory platform (`cisco_ios`, `cisco_xe`, `cisco_nxos`)."""
    try:
        name = PLATFORM_FILES[platform]
    except KeyError:
        raise ConfigError([f"ssh.platform {platform!r}: no built-in command set"]) from None
    path = Path(str(resources.files("chmd.collect.ssh") / "platforms" / f"{name}.yaml"))
    return load_command_set_file(path)

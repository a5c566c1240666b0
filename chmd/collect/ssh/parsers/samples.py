"""Records → Samples, by a command's compiled SampleRules. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chmd.collect.fieldtypes import typed_fields
from chmd.collect.ssh.commandset import Command, FieldRule, SampleRule, TagRule
from chmd.model import FieldValue, Sample

COLLECTOR_TAG = "collector"
"""Every SSH sample carries `collector=ssh` (issue #8 item 4: samples say who made them)."""


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value).strip()
    return str(value).strip()


def _render_tag(rule: TagRule, view: Mapping[str, str]) -> str:
    text = rule.template.format_map(view).strip()
    if rule.convert is not None and text:
        converted = rule.convert([text])
        text = "" if converted is None else str(converted)
    return text


def _field(rule: FieldRule, record: Mapping[str, Any]) -> FieldValue | None:
    values = [record.get(key, "") for key in rule.keys]
    if all(_as_text(v) == "" for v in values):
        return None
    return rule.convert(values)


def record_sample(
    rule: SampleRule, record: Mapping[str, Any], base_tags: Mapping[str, str], time_ns: int
) -> Sample | None:
    """One record through one rule; None when the rule does not apply or yields no field."""
    if rule.when is not None and _as_text(record.get(rule.when, "")) == "":
        return None
    view = _Blank({k: _as_text(v) for k, v in record.items()})
    tags = dict(base_tags)
    for tag in rule.tags:
        value = _render_tag(tag, view)
        if value:  # InfluxDB has no empty tag values
            tags[tag.name] = value
    fields: dict[str, FieldValue] = {}
    for field in rule.fields:
        converted = _field(field, record)
        if converted is not None:
            fields[field.name] = converted
    typed_fields(rule.measurement, fields)
    return Sample(rule.measurement, tags, fields, time_ns) if fields else None


def to_samples(
    command: Command,
    records: Sequence[Mapping[str, Any]],
    base_tags: Mapping[str, str],
    time_ns: int,
) -> list[Sample]:
    """Every record through every sample rule of the command, in output order."""
    samples: list[Sample] = []
    for rule in command.samples:
        rows = records[:1] if rule.first_row_only else records
        for record in rows:
            sample = record_sample(rule, record, base_tags, time_ns)
            if sample is not None:
                samples.append(sample)
    return samples


def base_tags(device_name: str, host: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The tags on every SSH sample of a device: inventory tags, device, agent_host, collector."""
    return {**extra, "device": device_name, "agent_host": host, COLLECTOR_TAG: "ssh"}

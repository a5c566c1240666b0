"""`chmd schema [chmd|devices|rules]`: JSON Schema of each configuration file, for editors.

Point an editor at it, e.g. for the YAML language server:
`# yaml-language-server: $schema=chmd-devices.schema.json` after
`chmd schema devices > chmd-devices.schema.json`. The schema describes shape and types;
`chmd check` also checks what a schema cannot (references, secrets, merged devices).
"""

from __future__ import annotations

import json
from typing import Any

import click

from chmd.cli import main
from chmd.config import ChmdConfig
from chmd.inventory.load import DEVICE_ONLY_KEYS
from chmd.inventory.schema import Device
from chmd.rules.schema import RuleFileModel

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"


def chmd_schema() -> dict[str, Any]:
    schema = ChmdConfig.model_json_schema()
    schema.update({"$schema": SCHEMA_URI, "title": "chmd.yaml"})
    return schema


def _partial(schema: Any) -> Any:
    """`schema` with nothing required and $refs pointing at the `…Partial` definitions."""
    if isinstance(schema, dict):
        out = {k: _partial(v) for k, v in schema.items() if k != "required"}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out["$ref"] = ref + "Partial"
        return out
    if isinstance(schema, list):
        return [_partial(item) for item in schema]
    return schema


def devices_schema() -> dict[str, Any]:
    """The inventory file: `defaults` and `groups` hold partial device settings; a device
    needs `host` and may list `groups`. The device name is its key."""
    device = Device.model_json_schema()
    defs = device.pop("$defs", {})
    device["properties"].pop("name")
    device["required"] = [r for r in device.get("required", []) if r != "name"]
    device["properties"].pop("groups")  # only a device lists groups (set below)
    partial = _partial(device)
    device["properties"]["groups"] = {
        "type": "array",
        "items": {"type": "string"},
        "description": "groups merged in this order, after defaults",
    }
    all_defs = {**defs, **{f"{k}Partial": _partial(v) for k, v in defs.items()}}
    assert DEVICE_ONLY_KEYS == ("groups",)  # noqa: S101 (keep this schema in step)
    return {
        "$schema": SCHEMA_URI,
        "title": "chmd inventory (devices.yaml)",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "defaults": partial,
            "groups": {"type": "object", "additionalProperties": partial},
            "devices": {"type": "object", "additionalProperties": device},
        },
        "$defs": all_defs,
    }


def rules_schema() -> dict[str, Any]:
    """A rule file, as the rules stage defines it (chmd.rules.schema.RuleFileModel)."""
    schema = RuleFileModel.model_json_schema()
    schema.update({"$schema": SCHEMA_URI, "title": "chmd rule file"})
    return schema


@main.command()
@click.argument(
    "file", type=click.Choice(["chmd", "devices", "rules"]), default="chmd", required=False
)
def schema(file: str) -> None:
    """Print the JSON Schema of chmd.yaml (chmd), an inventory (devices) or a rule file."""
    builders = {"chmd": chmd_schema, "devices": devices_schema, "rules": rules_schema}
    click.echo(json.dumps(builders[file](), indent=2))

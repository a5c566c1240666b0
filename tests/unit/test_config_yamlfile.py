"""chmd.yamlfile: positions of keys and values, duplicate keys, syntax errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chmd.inventory.schema import Device
from chmd.yamlfile import (
    Mark,
    YamlFileError,
    doc_locator,
    format_key_path,
    parse_yaml,
    validation_problems,
)

TEXT = "devices:\n  sw1:\n    host: 192.0.2.1\n    profiles:\n      - a\n      - b\n"


def test_positions_of_keys_and_values() -> None:
    """Scalar entries point at their value, mappings at their key, list items at the item."""
    doc = parse_yaml(TEXT, "d.yaml")
    assert doc.mark(("devices", "sw1", "host")) == Mark("d.yaml", 3, 11)
    assert doc.mark(("devices", "sw1")) == Mark("d.yaml", 2, 3)
    assert doc.mark(("devices", "sw1", "profiles", 1)) == Mark("d.yaml", 6, 9)
    assert doc.mark(("devices", "sw1", "host"), at_key=True) == Mark("d.yaml", 3, 5)


def test_missing_path_points_at_deepest_written_ancestor() -> None:
    """A path not in the file (a missing key) points at its nearest written parent."""
    doc = parse_yaml(TEXT, "d.yaml")
    assert doc.mark(("devices", "sw1", "snmp", "community")) == Mark("d.yaml", 2, 3)


def test_duplicate_keys_raise_by_default() -> None:
    """A duplicate key is an error naming where the first one was."""
    with pytest.raises(YamlFileError) as info:
        parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", "x.yaml")
    assert [str(p) for p in info.value.problems] == [
        "x.yaml:4:3: b.c: duplicate key (first defined at x.yaml:3:3)"
    ]


def test_duplicate_keys_kept_with_keep_going() -> None:
    """With keep_going the duplicate is reported in `problems` and the last value kept."""
    doc = parse_yaml("a: 1\na: 2\n", "x.yaml", keep_going=True)
    assert doc.data == {"a": 2}
    assert [str(p) for p in doc.problems] == [
        "x.yaml:2:1: a: duplicate key (first defined at x.yaml:1:1)"
    ]


def test_syntax_error_has_position() -> None:
    """A YAML syntax error is reported as file:line:column."""
    with pytest.raises(YamlFileError) as info:
        parse_yaml("a: 1\n b: 2\n", "x.yaml")
    assert [str(p) for p in info.value.problems] == [
        "x.yaml:2:3: YAML syntax error: mapping values are not allowed here"
    ]


def test_empty_file_is_none() -> None:
    """An empty (or comments-only) file parses to None."""
    assert parse_yaml("# nothing\n", "x.yaml").data is None


def test_key_path_format() -> None:
    """Key paths join keys with dots and write list indexes in brackets."""
    assert format_key_path(("devices", "sw1", "groups", 2)) == "devices.sw1.groups[2]"


def test_pydantic_errors_map_back_to_the_file() -> None:
    """validation_problems turns a pydantic error loc into file:line:column and key path."""
    doc = parse_yaml("name: x\nhost: 192.0.2.1\nsnmp:\n  retries: many\n  comunity: c\n", "d")
    with pytest.raises(ValidationError) as info:
        Device.model_validate(doc.data)
    problems = validation_problems(info.value, Device, doc_locator(doc))
    assert [str(p) for p in problems] == [
        "d:4:12: snmp.retries: expected a valid integer, unable to parse string as an integer",
        "d:5:3: snmp.comunity: unknown key (did you mean 'community'?)",
    ]

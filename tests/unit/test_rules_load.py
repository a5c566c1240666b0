"""Rule files: validation messages (verbatim, file:line:column), compilation, the JSON schema."""

from __future__ import annotations

import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from chmd.errors import ConfigError
from chmd.rules.compile import compile_template
from chmd.rules.load import load_rule_files
from chmd.rules.schema import RuleFileModel

REPO = Path(__file__).resolve().parents[2]


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError) as info:
        load_rule_files([path])
    return [p.replace(str(path), "r.yaml") for p in info.value.problems]


def test_unknown_key_points_at_the_key_with_a_suggestion(tmp_path: Path) -> None:
    """A misspelt key names file:line:column of the key and suggests the right one."""
    assert problems(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - name: a
                kind: threshold
                select: {measurement: cpu, field: usage}
                op: ">"
                value: 1
                sevrity: major
        """,
    ) == ["r.yaml:9:9: groups[0].rules[0].sevrity: unknown key (did you mean 'severity'?)"]


def test_bad_kind_lists_the_kinds(tmp_path: Path) -> None:
    """An unknown `kind` lists every kind."""
    assert problems(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - {name: a, kind: treshold}
        """,
    ) == [
        "r.yaml:4:9: groups[0].rules[0]: kind must be one of threshold, rate, trend, anomaly, "
        "nodata, pattern, composite"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """A bad duration, a bad regex and a missing key in one file: three messages."""
    assert problems(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - name: a
                kind: threshold
                select: {measurement: cpu, field: usage, tags: {name: "~[x"}}
                op: ">"
                value: 1
                for: 5 minutes
              - name: b
                kind: nodata
                select: {measurement: system}
        """,
    ) == [
        "r.yaml:6:63: groups[0].rules[0].select.tags.name: bad regular expression '[x': "
        "unterminated character set at position 0",
        "r.yaml:9:14: groups[0].rules[0].for: bad duration '5 minutes' (write e.g. 30s, 5m, "
        "1h30m, 2d; no spaces)",
        "r.yaml:10:9: groups[0].rules[1].absent_for: required key is missing",
    ]


def test_duplicate_rule_names_across_files(tmp_path: Path) -> None:
    """The same rule name in two files is an error naming where it was first defined."""
    rule = (
        "groups:\n  - name: g\n    rules:\n"
        "      - {name: a, kind: nodata, select: {measurement: m}, absent_for: 1m}\n"
    )
    (tmp_path / "one.yaml").write_text(rule)
    (tmp_path / "two.yaml").write_text(rule)
    with pytest.raises(ConfigError) as info:
        load_rule_files([tmp_path / "one.yaml", tmp_path / "two.yaml"])
    assert info.value.problems == [
        f"{tmp_path}/two.yaml:4:16: groups[0].rules[0].name: duplicate rule name 'a' "
        f"(first defined at {tmp_path}/one.yaml:4:9)"
    ]


def test_composite_checks_references(tmp_path: Path) -> None:
    """A composite naming an unknown rule gets a did-you-mean; one with only NOTs is refused."""
    got = problems(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - {name: cpu_high, kind: nodata, select: {measurement: m}, absent_for: 1m}
              - {name: c1, kind: composite, condition: {all: [cpu_hgh]}}
              - {name: c2, kind: composite, condition: {not: cpu_high}}
        """,
    )
    assert got == [
        "r.yaml:5:9: c1.condition: unknown rule 'cpu_hgh' (did you mean 'cpu_high'?)",
        "r.yaml:6:9: c2.condition: needs at least one rule that is not under `not` "
        "(it selects the entities)",
    ]


def test_composite_cycle_is_refused(tmp_path: Path) -> None:
    """Composites referring to each other in a loop are a configuration error."""
    got = problems(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - {name: a, kind: composite, condition: {all: [b]}}
              - {name: b, kind: composite, condition: {all: [a]}}
        """,
    )
    assert got == ["composite rules refer to each other in a cycle: a → b → a"]


def test_bad_template_is_caught_at_load(tmp_path: Path) -> None:
    """A summary with an unclosed brace fails at load, not at the first alert."""
    got = problems(
        tmp_path,
        """\
        groups:
          - name: g
            rules:
              - {name: a, kind: nodata, select: {measurement: m}, absent_for: 1m, summary: "{dev"}
        """,
    )
    assert len(got) == 1
    assert got[0].startswith("r.yaml:4:84: groups[0].rules[0].summary: bad template '{dev'")


def test_template_renders_tags_value_and_missing_tags() -> None:
    """Templates take tags and the value; a missing tag renders empty, a mismatched spec plainly."""
    template = compile_template("{device} {ifName} ({ifAlias}) at {value:.1f}")
    assert (
        template.render({"device": "sw1", "ifName": "Gi1", "value": 12.345}) == "sw1 Gi1 () at 12.3"
    )
    assert template.render({"device": "sw1", "value": "up"}) == "sw1  () at up"


def test_composites_are_ordered_after_their_inputs(tmp_path: Path) -> None:
    """Evaluation order puts a composite after the rules it reads, whatever the file order."""
    path = tmp_path / "r.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - {name: c, kind: composite, condition: {any: [a, b]}}\n"
        "      - {name: a, kind: nodata, select: {measurement: m}, absent_for: 1m}\n"
        "      - {name: b, kind: nodata, select: {measurement: m}, absent_for: 2m}\n"
    )
    assert [r.name for r in load_rule_files([path]).rules] == ["a", "b", "c"]


PACKS = sorted(p for p in (REPO / "rules").glob("*.yaml") if not p.name.endswith(".test.yaml"))


@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.name)
def test_shipped_files_validate_against_the_json_schema(pack: Path) -> None:
    """`chmd schema rules` accepts every shipped pack."""
    jsonschema.validate(yaml.safe_load(pack.read_text()), RuleFileModel.model_json_schema())

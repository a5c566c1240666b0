"""The `notify:` settings: receivers are secrets, references are checked at load."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from chmd.notify.settings import DEFAULT_INHIBIT_RULES, NotifySettings

SECRET_URL = "json://127.0.0.1:9/hook?+X-Token=s3cr3t-t0ken"


def load(data: dict[str, Any]) -> NotifySettings:
    return NotifySettings.model_validate(data)


def test_empty_section_is_valid_and_ships_device_inhibition() -> None:
    """No `notify:` keys: no routes, and the device-unreachable inhibition rule by default."""
    cfg = load({})
    assert cfg.route is None
    assert cfg.inhibit_rules == DEFAULT_INHIBIT_RULES
    assert cfg.inhibit_rules[0].source == ["rule=device_unreachable"]
    assert cfg.inhibit_rules[0].equal == ["device"]


def test_receiver_urls_never_appear_in_dumps_or_reprs() -> None:
    """An Apprise URL (with its token) prints as <secret> in repr, str and model_dump."""
    cfg = load({"receivers": {"ops": {"urls": [SECRET_URL]}}, "route": {"receiver": "ops"}})
    for text in (repr(cfg), str(cfg), str(cfg.model_dump()), cfg.model_dump_json()):
        assert "s3cr3t" not in text
    assert cfg.receivers["ops"].urls[0].reveal() == SECRET_URL


def test_unrecognised_apprise_url_is_refused_without_showing_it() -> None:
    """A URL Apprise cannot parse is a load error whose message names the scheme, not the URL."""
    with pytest.raises(ValidationError) as info:
        load({"receivers": {"ops": {"urls": ["nosuchscheme://user:s3cr3t@host"]}}})
    [error] = info.value.errors()
    assert error["msg"] == (
        "Value error, urls[0]: Apprise does not recognise this URL (scheme 'nosuchscheme')"
    )
    assert error["loc"] == ("receivers", "ops", "urls")


def test_receiver_needs_a_target() -> None:
    """A receiver with neither urls nor config is refused with the fix."""
    with pytest.raises(ValidationError, match="a receiver needs `urls:`"):
        load({"receivers": {"ops": {}}})


def test_unknown_keys_are_refused() -> None:
    """A typo in a route key is an error (extra keys forbidden)."""
    with pytest.raises(ValidationError, match="repeat_intervall"):
        load(
            {
                "receivers": {"ops": {"urls": [SECRET_URL]}},
                "route": {"receiver": "ops", "repeat_intervall": "1h"},
            }
        )


def test_escalation_receivers_must_exist() -> None:
    """An escalation step naming an unknown receiver is refused at load."""
    with pytest.raises(ValidationError, match="unknown receiver 'boss'"):
        load(
            {
                "receivers": {"ops": {"urls": [SECRET_URL]}},
                "route": {
                    "receiver": "ops",
                    "escalation": [{"after": "15m", "receivers": ["boss"]}],
                },
            }
        )


def test_documented_example_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `notify:` example in docs/notify.md loads (secrets from env and credentials)."""
    text = (Path(__file__).parents[2] / "docs" / "notify.md").read_text()
    block = re.search(r"```yaml\n(notify:.*?)```", text, re.S)
    assert block is not None
    monkeypatch.setenv("CHMD_OPS_MAIL_URL", "mailtos://u:p@smtp.example.com?to=ops@example.com")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (tmp_path / "chmd-oncall-url").write_text("json://hooks.example.com/oncall\n")
    (tmp_path / "chmd-ack-key").write_text("k" * 32)
    cfg = load(yaml.safe_load(block.group(1))["notify"])
    assert cfg.route is not None
    assert [r.receiver for r in cfg.route.routes] == ["oncall", "ops"]
    assert cfg.delivery.storm_limit == 30


def test_relative_apprise_config_path_is_anchored_at_the_config_dir(tmp_path: Path) -> None:
    """`config: apprise.yaml` means the file beside chmd.yaml, not in the working directory."""
    cfg = NotifySettings.model_validate(
        {"receivers": {"sms": {"config": "apprise.yaml"}}}, context={"base_dir": tmp_path}
    )
    assert cfg.receivers["sms"].config == str(tmp_path / "apprise.yaml")

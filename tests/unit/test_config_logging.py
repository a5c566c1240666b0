"""chmd.log: console on a TTY, JSON otherwise, levels, secrets masked."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from chmd import log as chmd_log
from chmd.configtypes import Secret


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


pytestmark = pytest.mark.usefixtures("restore_logging")


def test_auto_is_json_when_not_a_tty() -> None:
    """`auto` writes one JSON object per line to a pipe or file."""
    stream = io.StringIO()
    chmd_log.configure("info", "auto", stream)
    structlog.get_logger("t").info("device_down", device="sw1")
    event = json.loads(stream.getvalue())
    assert (event["event"], event["device"], event["level"]) == ("device_down", "sw1", "info")


def test_auto_is_console_on_a_tty() -> None:
    """`auto` writes human console lines to a terminal."""
    stream = Tty()
    chmd_log.configure("info", "auto", stream)
    structlog.get_logger("t").info("device_down", device="sw1")
    line = stream.getvalue()
    assert "device_down" in line
    assert "device=sw1" in line
    assert not line.startswith("{")


def test_level_filters() -> None:
    """Events below the configured level are dropped."""
    stream = io.StringIO()
    chmd_log.configure("warning", "json", stream)
    logger = structlog.get_logger("t")
    logger.info("quiet")
    logger.warning("loud")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["loud"]


def test_mask_secrets_processor() -> None:
    """The processor replaces Secrets at any depth and leaves other values alone."""
    event = {"event": "x", "a": Secret("v1"), "b": {"c": (Secret("v2"), 3)}, "d": "plain"}
    assert chmd_log.mask_secrets(None, "info", event) == {
        "event": "x",
        "a": "<secret>",
        "b": {"c": ("<secret>", 3)},
        "d": "plain",
    }

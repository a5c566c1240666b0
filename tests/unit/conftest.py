"""Unit-test options and shared fixtures: `--update-golden` rewrites golden files
(tests/unit/golden/) from the code; `restore_logging` undoes `chmd.log.configure`."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/unit/golden/ files from the current output instead of comparing",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run was asked to rewrite golden files."""
    return bool(request.config.getoption("--update-golden", default=False))


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """After the test: structlog's defaults back, and the handlers chmd.log added removed."""
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_chmd", False):
            root.removeHandler(handler)

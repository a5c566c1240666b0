"""structlog for chmd: human console lines on a TTY, JSON lines otherwise.

`configure(level, fmt)` is called by the CLI once at start (and again by the daemon
only when a reload changes the `log:` section). Every event passes `mask_secrets`,
so a `Secret` that slips into an event — even inside a dict or list — prints as
`<secret>`. Standard-library logging (asyncssh, pysnmp, aiohttp) is rendered by the
same processors. Code logs with `chmd.log.get_logger(__name__)` or
`structlog.get_logger()`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from chmd.secrets import mask

Level = Literal["debug", "info", "warning", "error"]
Format = Literal["auto", "console", "json"]

_LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def mask_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace every Secret in the event (nested dicts, lists, tuples too) by the mask."""
    for key, value in event_dict.items():
        event_dict[key] = mask(value)
    return event_dict


def use_json(fmt: Format, stream: TextIO) -> bool:
    """JSON lines unless asked for console output, or `auto` on a terminal."""
    if fmt == "auto":
        return not stream.isatty()
    return fmt == "json"


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_secrets,
    ]


def _renderer(json_lines: bool) -> Processor:
    if json_lines:
        return structlog.processors.JSONRenderer(sort_keys=False)
    return structlog.dev.ConsoleRenderer(colors=False)


def configure(level: Level = "info", fmt: Format = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog and the standard-library root logger to write to `stream` (stderr)."""
    out = stream if stream is not None else sys.stderr
    json_lines = use_json(fmt, out)
    shared = _shared_processors()
    tail: list[Processor] = [structlog.processors.format_exc_info] if json_lines else []
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
            _renderer(json_lines),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_chmd", False):
            root.removeHandler(old)
    handler._chmd = True  # type: ignore[attr-defined]  # marks the handler we own
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
    # Chatty libraries: their INFO lines are per-connection noise for a daemon.
    for name in ("asyncssh", "pysnmp", "aiohttp.access"):
        logging.getLogger(name).setLevel(max(_LEVELS[level], logging.WARNING))


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger (bound to `initial` values)."""
    return structlog.get_logger(name, **initial)

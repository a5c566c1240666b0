"""Running a coroutine from a synchronous test without disturbing pytest-asyncio.

`run_sync()` sets the thread's event loop and then sets it to None, dropping (unclosed)
the loop pytest-asyncio had installed; the ResourceWarning then fails whichever test is
running at the next garbage collection. A Runner with a loop factory leaves the thread's
current loop alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on a private event loop, closed afterwards."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(coro)

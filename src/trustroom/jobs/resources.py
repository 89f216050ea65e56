"""Long-lived objects that one worker's tasks share, such as an HTTP connection pool."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, TypeVar

T = TypeVar("T")


class Resources:
    """Made on first use, one per factory, and closed when the worker stops.

    They live as long as the worker's event loop, so a task never opens (and pays for) a
    new connection pool per job.
    """

    def __init__(self) -> None:
        self._made: dict[Callable[[], Any], Any] = {}
        self._stack = AsyncExitStack()

    async def get(self, factory: Callable[[], AbstractAsyncContextManager[T]]) -> T:
        if factory not in self._made:
            self._made[factory] = await self._stack.enter_async_context(factory())
        made: T = self._made[factory]
        return made

    async def aclose(self) -> None:
        self._made.clear()
        await self._stack.aclose()

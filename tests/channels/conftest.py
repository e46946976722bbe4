"""Helpers shared by the cross-thread channel tests (``test_cross.py``, ``test_bytes.py``).

Test modules import the helpers (``from .conftest import Threads, run, until``); the
``threads`` fixture is found by pytest.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

R = TypeVar("R")
JOIN_TIMEOUT = 30.0


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, R], timeout: float = 30) -> R:
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def until(predicate: Callable[[], bool]) -> None:
    """Yield to the loop until ``predicate()`` holds (the caller's wait_for bounds it)."""
    while not predicate():
        await asyncio.sleep(0.001)


def give_threads_time() -> None:
    """Let started threads reach their blocking call (best effort: nothing asserts it)."""
    time.sleep(0.05)


class Threads:
    """Start threads, remember them, join them all (failing if one does not end)."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def start(self, fn: Callable[..., Any], *args: Any) -> threading.Thread:
        def body() -> None:
            try:
                fn(*args)
            except BaseException as exc:  # reported by join_all
                self.errors.append(exc)

        t = threading.Thread(target=body, daemon=True)
        self.threads.append(t)
        t.start()
        return t

    def join_all(self) -> None:
        for t in self.threads:
            t.join(JOIN_TIMEOUT)
        alive = [t for t in self.threads if t.is_alive()]
        assert not alive, f"threads did not end: {alive}"
        if self.errors:
            raise self.errors[0]

    async def join_all_async(self) -> None:
        """join_all without blocking the running loop (the threads may need it)."""
        await until(lambda: not any(t.is_alive() for t in self.threads))
        self.join_all()


@pytest.fixture
def threads() -> Iterator[Threads]:
    ts = Threads()
    yield ts
    for t in ts.threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in ts.threads), "threads did not end"

"""Shared fixtures: every loop-level test body can run on stock asyncio and on nexusloop."""
from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import nexusloop


def _stock() -> asyncio.AbstractEventLoop:
    return asyncio.new_event_loop()


LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": _stock,
    "nexusloop": nexusloop.new_event_loop,
}


def _open_fds() -> set[int]:
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except FileNotFoundError:  # pragma: no cover - not Linux
        return set()


@contextlib.contextmanager
def _checked(factory: Callable[[], Any]) -> Iterator[Any]:
    """Yield a loop from ``factory``; close it after and fail if file descriptors leaked."""
    before = _open_fds()
    loop = factory()
    try:
        yield loop
    finally:
        if not loop.is_closed():
            loop.close()
        del loop
        leaked = _open_fds() - before
        if leaked:  # objects kept alive by a reference cycle may still hold fds
            gc.collect()
            leaked = _open_fds() - before
        assert not leaked, f"file descriptors leaked: {sorted(leaked)}"


@pytest.fixture(params=sorted(LOOP_FACTORIES))
def any_loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop, once stock asyncio and once nexusloop; closed and leak-checked after."""
    with _checked(LOOP_FACTORIES[request.param]) as loop:
        yield loop


@pytest.fixture
def loop(any_loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
    """Alias of ``any_loop`` for test modules that call their loop ``loop``."""
    return any_loop


@pytest.fixture
def nloop() -> Iterator[Any]:
    """A fresh nexusloop loop (for nexusloop-only behaviour), closed and leak-checked after."""
    with _checked(nexusloop.new_event_loop) as loop:
        yield loop


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection created (test modules, CPython's asyncio test suite, hypothesis
    strategies): it lives for the whole session, and every ``gc.collect()`` a test makes (some
    make hundreds: CPython's ``test_future_del_collect``) would otherwise traverse all of it
    again. Objects the tests create are not frozen, so collection tests see them as before."""
    gc.collect()
    gc.freeze()

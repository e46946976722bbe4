"""Fixtures for the integration tests: real libraries on loopback, on each loop, leak-checked.

Tests that drive a loop they are handed use ``any_loop`` (tests/conftest.py) and run their body with
:func:`run`. Libraries that create their own loop from a factory (uvicorn's ``Server``, its CLI) get
``loop_choice``: the same two loops, named the way that library's users name them, with the
file-descriptor check around the whole test instead of around one loop.

Every test here also proves which loop the library ran on (handlers compare
``asyncio.get_running_loop()`` with the loop under test), and fails on what users would see as
sloppiness: a log record at ERROR level (asyncio's "Task was destroyed but it is pending!", aiohttp's
"Unclosed client session", an exception in a callback, a failed server handler, which the libraries
log rather than raise) or a ``ResourceWarning`` (an unclosed socket or transport), both after a
garbage collection at teardown.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import warnings
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

import nexusloop

_T = TypeVar("_T")

# Generous upper bound that detects a hang; the tests take well under a second each on stock asyncio.
HANG_TIMEOUT = 30.0


def open_fds() -> set[int]:
    """The process's open file descriptors (Linux; empty elsewhere, which disables the check)."""
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except FileNotFoundError:  # pragma: no cover - not Linux
        return set()


@contextlib.contextmanager
def no_fd_leak() -> Iterator[None]:
    """Fail if the block leaves file descriptors open (after a collection, for cycles holding some)."""
    before = open_fds()
    yield
    leaked = open_fds() - before
    if leaked:
        gc.collect()
        leaked = open_fds() - before
    assert not leaked, f"file descriptors leaked: {sorted(leaked)}"


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class LoopChoice:
    """One loop under test, as a library that builds its own loop is told about it."""

    name: str
    #: what a uvicorn user passes as ``--loop`` / ``Config(loop=...)``
    uvicorn_loop: str
    #: builds a loop of this kind directly (for a client beside a server in another process)
    factory: Callable[[], asyncio.AbstractEventLoop]
    #: ``type(asyncio.get_running_loop())`` inside the library's code must be exactly this
    loop_class: type


def _stock_loop_class() -> type:
    loop = asyncio.new_event_loop()
    try:
        return type(loop)
    finally:
        loop.close()


LOOP_CHOICES: dict[str, LoopChoice] = {
    # uvicorn's own "asyncio" choice builds asyncio.SelectorEventLoop, the stock loop on POSIX.
    "asyncio": LoopChoice("asyncio", "asyncio", asyncio.new_event_loop, _stock_loop_class()),
    # The import-string form uvicorn documents for a custom loop factory.
    "nexusloop": LoopChoice(
        "nexusloop", "nexusloop:new_event_loop", nexusloop.new_event_loop, nexusloop.Loop
    ),
}


@pytest.fixture(params=sorted(LOOP_CHOICES))
def loop_choice(request: pytest.FixtureRequest) -> Iterator[LoopChoice]:
    """Stock asyncio, then nexusloop, for code that makes its own loop; fd-leak check around the test."""
    with no_fd_leak():
        yield LOOP_CHOICES[request.param]


def run(
    loop: asyncio.AbstractEventLoop,
    main: Coroutine[Any, Any, _T],
    timeout: float = HANG_TIMEOUT,
) -> _T:
    """Run ``main`` on ``loop`` as :func:`asyncio.run` would, bounded in time; check nothing is left.

    ``main`` runs as the only task it did not start itself, and must leave no task behind (servers
    closed, sessions closed, handlers finished); the rest of :func:`asyncio.run`'s clean-up follows
    so that the fixture's fd check sees the final state.
    """

    async def bounded() -> _T:
        async with asyncio.timeout(timeout):
            return await main

    assert not loop.is_running()
    asyncio.set_event_loop(loop)  # as asyncio.run does, for code that calls get_event_loop()
    try:
        result = loop.run_until_complete(bounded())
        left = [t for t in asyncio.all_tasks(loop) if not t.done()]
        assert not left, f"tasks still pending after the test body: {left}"
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        return result
    finally:
        asyncio.set_event_loop(None)


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _no_logged_errors_or_resource_warnings() -> Iterator[None]:
    """Autouse, so set up before and torn down after the loop fixtures: sees their clean-up too."""
    handler = _ErrorRecords()
    root_logger = logging.getLogger()  # asyncio, aiohttp, uvicorn and websockets all propagate here
    root_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            yield
            gc.collect()
    finally:
        root_logger.removeHandler(handler)
    resource = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    for w in caught:  # hand the others back to pytest's own warning capture
        if not issubclass(w.category, ResourceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    assert not resource, f"ResourceWarning(s): {resource}"
    errors = [handler.format(r) for r in handler.records]
    assert not errors, "errors were logged:\n" + "\n".join(errors)

"""What the stream, server and connection tests share: the ``net`` fixture and its harness.

``net`` wraps the ``any_loop`` fixture (stock asyncio and nexusloop, fd-leak checked) and, after
the test, fails on pending tasks, transports left open, unexpected exception-handler calls and
ResourceWarnings.
"""
from __future__ import annotations

import asyncio
import gc
import shutil
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import nexusloop

HANG_GUARD = 20.0  # seconds; only catches hangs


class Net:
    """The loop under test plus what its exception handler received."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.errors: list[dict[str, Any]] = []

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, HANG_GUARD))

    def take_errors(self) -> list[dict[str, Any]]:
        errors, self.errors = self.errors, []
        return errors

    @property
    def nexus(self) -> bool:
        return isinstance(self.loop, nexusloop.Loop)

    def needs_313(self, what: str) -> None:
        """Skip on the stock loop before Python 3.13 (nexusloop has ``what`` everywhere)."""
        if not self.nexus and sys.version_info < (3, 13):
            pytest.skip(f"stock asyncio has {what} from Python 3.13 (nexusloop on every version)")

    def skip_stock_if(self, affected: bool, reason: str) -> None:
        """Skip on the stock loop if ``affected`` (an asyncio bug there); nexusloop always runs."""
        if affected and not self.nexus:
            pytest.skip(f"stock asyncio {reason} (asyncio bug)")


def _is_open(transport: Any) -> bool:
    # Socket transports drop ``_sock`` when closed, pipe transports ``_pipe``.
    return getattr(transport, "_sock", None) is not None or (
        getattr(transport, "_pipe", None) is not None
    )


@pytest.fixture
def net(any_loop: asyncio.AbstractEventLoop) -> Iterator[Net]:
    loop = any_loop
    harness = Net(loop)
    loop.set_exception_handler(lambda _loop, context: harness.errors.append(context))
    gc.collect()  # what earlier tests left to the collector must not warn during this one
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield harness
        for _ in range(3):
            loop.run_until_complete(asyncio.sleep(0))
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        gc.collect()
        still_open = [t for t in list(loop._transports.values()) if _is_open(t)]  # type: ignore[attr-defined]
        for transport in still_open:
            # A read pipe transport has no abort() (asyncio's ReadTransport neither).
            transport.abort() if hasattr(transport, "abort") else transport.close()
        if still_open:
            loop.run_until_complete(asyncio.sleep(0))
        gc.collect()
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not pending, f"tasks left pending: {pending}"
    assert not still_open, f"transports left open: {still_open}"
    assert not harness.errors, f"unexpected exception handler calls: {harness.errors}"
    assert not unclosed, f"ResourceWarnings: {[str(w.message) for w in unclosed]}"


@pytest.fixture
def tmpdir_short() -> Iterator[str]:
    """A short temporary directory (Unix socket paths are limited to ~100 bytes)."""
    path = tempfile.mkdtemp(prefix="nls")
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def until(cond: Callable[[], Any], what: str = "condition") -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


async def ticks(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)
    await asyncio.sleep(0.02)


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


class Proto(asyncio.Protocol):
    keep_open: Any = None

    def __init__(self) -> None:
        self.transport: Any = None
        self.data = bytearray()
        self.events: list[str] = []
        self.lost: list[BaseException | None] = []

    def connection_made(self, transport: Any) -> None:
        self.events.append("made")
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> Any:
        self.events.append("eof")
        return self.keep_open

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.append(exc)


class Echo(Proto):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.transport.write(data)


class Accepted:
    """A protocol factory that remembers every protocol it made."""

    def __init__(self, cls: Callable[[], Any] = Echo) -> None:
        self.cls = cls
        self.protocols: list[Any] = []

    def __call__(self) -> Any:
        protocol = self.cls()
        self.protocols.append(protocol)
        return protocol

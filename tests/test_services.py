"""Loop services: registered on the loop, closed by ``Loop.close()`` in reverse order, held weakly."""
from __future__ import annotations

import asyncio
import gc
import signal
import warnings
import weakref
from typing import Any

import pytest

import nexusloop


class _Recorder:
    """A service that records when it is closed and whether the loop was still open."""

    def __init__(self, loop: Any, name: str, log: list[tuple[str, bool]]) -> None:
        self._loop = weakref.ref(loop)
        self.name = name
        self.log = log

    def close(self) -> None:
        loop = self._loop()
        assert loop is not None
        self.log.append((self.name, loop.is_closed()))


def test_close_closes_services_in_reverse_registration_order(nloop: Any) -> None:
    log: list[tuple[str, bool]] = []
    for name in ("first", "second", "third"):
        nloop._add_service(_Recorder(nloop, name, log))
    nloop.close()
    # Last registered, first closed; the loop is still open while they close.
    assert log == [("third", False), ("second", False), ("first", False)]
    nloop.close()
    assert len(log) == 3  # close() is idempotent: services are closed once


def test_built_in_services_close_after_later_ones(nloop: Any) -> None:
    log: list[tuple[str, bool]] = []
    nloop._add_service(_Recorder(nloop, "late", log))
    nloop.run_until_complete(nloop.run_in_executor(None, int))
    nloop.close()
    assert log == [("late", False)]
    assert nloop._executor_shutdown_called and nloop._default_executor is None


def test_a_service_whose_close_raises_leaves_the_loop_open(nloop: Any) -> None:
    log: list[tuple[str, bool]] = []
    nloop._add_service(_Recorder(nloop, "first", log))

    class Broken:
        fail = True

        def close(self) -> None:
            if self.fail:
                raise RuntimeError("boom")

    broken = Broken()
    nloop._add_service(broken)
    with pytest.raises(RuntimeError, match="boom"):
        nloop.close()
    assert not nloop.is_closed() and log == []
    broken.fail = False
    nloop.close()  # retried: the failed service and the rest are closed now
    assert nloop.is_closed() and log == [("first", False)]


def test_no_service_added_to_a_closed_loop(nloop: Any) -> None:
    nloop.close()
    with pytest.raises(RuntimeError, match="closed"):
        nloop._add_service(_Recorder(nloop, "late", []))


def test_services_do_not_keep_an_unclosed_loop_alive() -> None:
    """A loop dropped without close() is released at once (no cycle through its services)."""
    gc.collect()
    gc.disable()
    try:
        loop = nexusloop.new_event_loop()
        ref = weakref.ref(loop)
        with warnings.catch_warnings():
            # (A recorded warning would keep the loop alive: its ``source`` is the loop.)
            warnings.simplefilter("ignore", ResourceWarning)
            del loop
        assert ref() is None
    finally:
        gc.enable()


def test_loop_collected_in_a_cycle_still_closes_its_services() -> None:
    """The collector clears weak references first: services must close without their loop."""
    loop = nexusloop.new_event_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    loop.run_until_complete(loop.run_in_executor(None, int))
    executor = loop._default_executor
    loop.cycle = loop  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del loop
        gc.collect()
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1
    assert executor is not None and executor._shutdown


def test_cpython_private_names_are_kept(loop: asyncio.AbstractEventLoop) -> None:
    """CPython's tests and tools read these on any loop; same body on stock asyncio and ours."""
    assert loop._default_executor is None  # type: ignore[attr-defined]
    assert loop._executor_shutdown_called is False  # type: ignore[attr-defined]
    assert loop._signal_handlers == {}  # type: ignore[attr-defined]
    loop.run_until_complete(loop.run_in_executor(None, int))
    assert loop._default_executor is not None  # type: ignore[attr-defined]
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    try:
        assert list(loop._signal_handlers) == [signal.SIGUSR1]  # type: ignore[attr-defined]
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    loop.run_until_complete(loop.shutdown_default_executor())
    assert loop._executor_shutdown_called is True  # type: ignore[attr-defined]

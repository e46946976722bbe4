"""add_signal_handler / remove_signal_handler: same body on stock asyncio and nexusloop.

Signals are sent to this process with ``os.kill``; the tests run in pytest's main thread
(signal handlers can only be installed there). Dispositions and the wakeup fd are restored
after each test.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix signals")

HANG_GUARD = 20.0  # seconds; only catches hangs
_TOUCHED = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGHUP, signal.SIGALRM)


@pytest.fixture
def loop(any_loop: asyncio.AbstractEventLoop) -> Iterator[asyncio.AbstractEventLoop]:
    """Stock asyncio and nexusloop (see tests/conftest.py); signal state restored after."""
    saved = {sig: signal.getsignal(sig) for sig in _TOUCHED}
    try:
        yield any_loop
    finally:
        if not any_loop.is_closed():
            any_loop.close()
        # closing the loop must have undone everything it installed
        leftover = signal.set_wakeup_fd(-1)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        assert leftover == -1, "the closed loop left its wakeup fd installed"


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, HANG_GUARD))


def test_handler_runs_on_the_loop_when_the_signal_arrives(loop):
    calls = []

    async def main():
        got = asyncio.Event()

        def on_usr1(*args):
            calls.append((args, asyncio.get_running_loop(), threading.get_ident()))
            got.set()

        loop.add_signal_handler(signal.SIGUSR1, on_usr1, "a", 2)
        os.kill(os.getpid(), signal.SIGUSR1)
        await got.wait()

    run(loop, main())
    assert calls == [(("a", 2), loop, threading.get_ident())]
    assert loop.remove_signal_handler(signal.SIGUSR1) is True


def test_handler_runs_once_per_delivery_and_for_the_right_signal(loop):
    seen: list[str] = []

    async def main():
        done = asyncio.Event()

        def record(name):
            seen.append(name)
            if len(seen) == 3:
                done.set()

        loop.add_signal_handler(signal.SIGUSR1, record, "usr1")
        loop.add_signal_handler(signal.SIGUSR2, record, "usr2")
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.sleep(0)
        os.kill(os.getpid(), signal.SIGUSR2)
        await asyncio.sleep(0)
        os.kill(os.getpid(), signal.SIGUSR1)
        await done.wait()

    run(loop, main())
    assert sorted(seen) == ["usr1", "usr1", "usr2"]


def test_handler_replaced_by_a_second_add(loop):
    seen: list[str] = []

    async def main():
        done = asyncio.Event()

        def second():
            seen.append("second")
            done.set()

        loop.add_signal_handler(signal.SIGUSR1, seen.append, "first")
        loop.add_signal_handler(signal.SIGUSR1, second)
        os.kill(os.getpid(), signal.SIGUSR1)
        await done.wait()

    run(loop, main())
    assert seen == ["second"]


def test_handler_exception_goes_to_the_exception_handler(loop):
    contexts: list[dict[str, Any]] = []

    async def main():
        reported = asyncio.Event()

        def handler(_loop, context):
            contexts.append(context)
            reported.set()

        def boom():
            raise ZeroDivisionError("in a signal handler")

        loop.set_exception_handler(handler)
        loop.add_signal_handler(signal.SIGUSR1, boom)
        os.kill(os.getpid(), signal.SIGUSR1)
        await reported.wait()

    run(loop, main())
    [context] = contexts
    assert isinstance(context["exception"], ZeroDivisionError)
    assert "handle" in context


def test_remove_returns_true_then_false_and_restores_sig_dfl(loop):
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    assert signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN)
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert loop.remove_signal_handler(signal.SIGUSR1) is False
    assert loop.remove_signal_handler(signal.SIGUSR2) is False  # never added


def test_remove_sigint_restores_default_int_handler(loop):
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    assert loop.remove_signal_handler(signal.SIGINT) is True
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_wakeup_fd_is_set_while_handlers_exist_and_cleared_after_the_last(loop):
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    loop.add_signal_handler(signal.SIGUSR2, lambda: None)
    current = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(current)  # peek without changing it
    assert current != -1
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    current = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(current)
    assert current != -1  # SIGUSR2 still needs it
    assert loop.remove_signal_handler(signal.SIGUSR2) is True
    assert signal.set_wakeup_fd(-1) == -1


def test_close_removes_all_handlers(loop):
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    loop.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1


def test_handlers_work_again_after_removing_the_last_one(loop):
    async def main():
        got = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        assert loop.remove_signal_handler(signal.SIGUSR1)
        loop.add_signal_handler(signal.SIGUSR2, got.set)
        os.kill(os.getpid(), signal.SIGUSR2)
        await got.wait()
        assert loop.remove_signal_handler(signal.SIGUSR2)

    run(loop, main())


@pytest.mark.parametrize("sig", [0, -1, signal.NSIG + 1])
def test_invalid_signal_number_raises_value_error(loop, sig):
    with pytest.raises(ValueError, match="invalid signal number"):
        loop.add_signal_handler(sig, lambda: None)
    with pytest.raises(ValueError, match="invalid signal number"):
        loop.remove_signal_handler(sig)


def test_non_int_signal_raises_type_error(loop):
    with pytest.raises(TypeError):
        loop.add_signal_handler("boom", lambda: None)
    with pytest.raises(TypeError):
        loop.remove_signal_handler("boom")


def test_uncatchable_signal_raises_runtime_error(loop):
    with pytest.raises(RuntimeError, match="cannot be caught"):
        loop.add_signal_handler(signal.SIGKILL, lambda: None)
    # nothing was installed, so there is nothing to remove (and removal does not raise)
    assert loop.remove_signal_handler(signal.SIGKILL) is False
    assert signal.set_wakeup_fd(-1) == -1


def test_coroutine_callbacks_raise_type_error(loop):
    async def coro_fn():
        pass

    with pytest.raises(TypeError, match="coroutines cannot be used with add_signal_handler"):
        loop.add_signal_handler(signal.SIGUSR1, coro_fn)
    coro = coro_fn()
    try:
        with pytest.raises(TypeError, match="coroutines cannot be used"):
            loop.add_signal_handler(signal.SIGUSR1, coro)
    finally:
        coro.close()
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_add_on_a_closed_loop_raises_runtime_error(loop):
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)


def test_add_from_another_thread_raises_runtime_error(loop):
    errors: list[BaseException] = []

    def add():
        try:
            loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    worker = threading.Thread(target=add)
    worker.start()
    worker.join(HANG_GUARD)
    [error] = errors
    assert isinstance(error, RuntimeError)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL

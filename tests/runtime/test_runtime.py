"""``Runtime``, ``nexusloop.run`` shutdown of runtime tasks, the ``slab`` / ``signal_handlers``
options and ``shutdown_signal()``.

The signal tests send SIGINT / SIGTERM to this very process (``os.kill``), only after checking
that the loop's handler is installed (so a broken install fails the test instead of killing
pytest). The ``signal_state`` fixture restores the dispositions and the wakeup fd after each
test and fails if the closed loop left anything installed. Every test that makes loops itself
(``Runtime``, ``nexusloop.run``) checks that no file descriptor leaked.
"""
from __future__ import annotations

import asyncio
import gc
import inspect
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import nexusloop
from nexusloop import LoopOptions
from nexusloop.runtime import (
    Runtime,
    SlabFullError,
    runtime_stats,
    shutdown_signal,
    spawn,
    spawn_slab,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix only")

HANG_GUARD = 30.0  # seconds: only detects hangs


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


@pytest.fixture
def fd_check() -> Iterator[None]:
    """Fail if the test leaked file descriptors (loops made by Runtime / nexusloop.run)."""
    before = _open_fds()
    yield
    leaked = _open_fds() - before
    if leaked:
        gc.collect()
        leaked = _open_fds() - before
    assert not leaked, f"file descriptors leaked: {sorted(leaked)}"


async def settle(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def guarded(coro: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
    return asyncio.wait_for(coro, HANG_GUARD)


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"slab": -1}, ValueError, "slab must be >= 0"),
    ({"slab": True}, TypeError, "slab must be an int, not bool"),
    ({"slab": 2.0}, TypeError, "slab must be an int, not float"),
    ({"slab": "4"}, TypeError, "slab must be an int, not str"),
    ({"signal_handlers": 1}, TypeError, "signal_handlers must be a bool, not int"),
    ({"signal_handlers": None}, TypeError, "signal_handlers must be a bool, not NoneType"),
])
@pytest.mark.parametrize("how", ["LoopOptions", "new_event_loop", "Runtime"])
def test_bad_option_values(
    fd_check: None, how: str, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    make: dict[str, Callable[..., Any]] = {
        "LoopOptions": LoopOptions, "new_event_loop": nexusloop.new_event_loop, "Runtime": Runtime,
    }
    with pytest.raises(error, match=match):
        make[how](**kwargs)


def test_option_defaults() -> None:
    options = LoopOptions()
    assert options.slab == 0
    assert options.signal_handlers is False


def test_run_with_a_bad_option_closes_main() -> None:
    async def main() -> None:
        pass

    coro = main()
    with pytest.raises(ValueError, match="slab"):
        nexusloop.run(coro, slab=-1)
    state = inspect.getcoroutinestate(coro)
    coro.close()
    assert state == inspect.CORO_CLOSED


# ----------------------------------------------------------------------------- Runtime


def test_block_on_twice_runs_on_the_same_loop(fd_check: None) -> None:
    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    with Runtime() as rt:
        first = rt.block_on(which())
        second = rt.block_on(which())
        assert first is second is rt.loop
        assert isinstance(first, nexusloop.Loop)
        assert not first.is_closed()
    assert first.is_closed()


def test_block_on_returns_and_raises(fd_check: None) -> None:
    async def value() -> int:
        await asyncio.sleep(0)
        return 7

    async def fails() -> None:
        raise LookupError("from main")

    with Runtime() as rt:
        assert rt.block_on(value()) == 7
        with pytest.raises(LookupError, match="from main"):
            rt.block_on(fails())
        assert rt.block_on(value()) == 7  # still usable


def test_runtime_without_with_block(fd_check: None) -> None:
    rt = Runtime(slab=2)
    try:
        assert rt.block_on(asyncio.sleep(0, "x")) == "x"
        loop = rt.loop
    finally:
        rt.close()
    assert loop.is_closed()
    rt.close()  # idempotent
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="closed"):
        rt.block_on(coro)
    coro.close()


def test_runtime_options(fd_check: None) -> None:
    with Runtime(slab=4) as rt:
        assert rt.loop.options.slab == 4
        assert rt.options is rt.loop.options
    base = LoopOptions(slab=2, event_interval=8)
    with Runtime(base, slab=5) as rt:
        assert rt.loop.options.slab == 5
        assert rt.loop.options.event_interval == 8
    with pytest.raises(TypeError, match="unknown nexusloop option 'slabs'"):
        Runtime(slabs=1)  # type: ignore[call-arg]


def test_runtime_slab_option_reaches_spawn_slab(fd_check: None) -> None:
    async def job() -> None:
        await asyncio.sleep(HANG_GUARD * 2)

    async def main() -> dict[str, int]:
        handles = [spawn_slab(job()) for _ in range(2)]
        coro = job()
        with pytest.raises(SlabFullError):
            spawn_slab(coro)
        stats = runtime_stats()
        for handle in handles:
            handle.abort()
            with pytest.raises(asyncio.CancelledError):
                await handle
        return stats

    with Runtime(slab=2) as rt:
        stats = rt.block_on(guarded(main()))
    assert stats == {"slab_capacity": 2, "slab_size": 2, "slab_in_use": 2, "slab_made": 2,
                     "spawned_running": 0}


def test_runtime_world_is_the_loops_world(fd_check: None) -> None:
    from nexusloop.world import WorldBuilder

    world = WorldBuilder().build()

    async def main() -> Any:
        return asyncio.get_running_loop().world  # type: ignore[attr-defined]

    with Runtime(world=world) as rt:
        assert rt.block_on(main()) is world
        assert rt.loop.options.world is world


@pytest.mark.parametrize("debug", [True, False])
def test_runtime_debug_flag(fd_check: None, debug: bool) -> None:
    async def main() -> bool:
        return asyncio.get_running_loop().get_debug()

    with Runtime(debug=debug) as rt:
        assert rt.block_on(main()) is debug


def test_runtime_block_on_a_non_coroutine_is_refused_as_runner_does(fd_check: None) -> None:
    with Runtime() as rt, pytest.raises(ValueError, match="a coroutine was expected"):
        rt.block_on(None)  # type: ignore[arg-type]


def test_runtime_repr_shows_the_options() -> None:
    rt = Runtime(slab=3)
    assert "slab=3" in repr(rt)
    rt.close()


# ------------------------------------------------- nexusloop.run: shutdown of runtime tasks


SHUTDOWN_GUARD = 5.0  # seconds for the runner to cancel three tasks: only detects hangs


def _stop_on_error_or_hang(reports: list[dict[str, Any]]) -> None:
    """Turn a shutdown that cannot finish into an error out of run() instead of a hang.

    An error reported during shutdown (a done callback of the runner's gather failing) would
    leave the gather pending for ever; stopping the loop makes run_until_complete raise.
    """
    loop = asyncio.get_running_loop()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        reports.append(context)
        loop.stop()

    loop.set_exception_handler(handler)
    loop.call_later(SHUTDOWN_GUARD, loop.stop)


@pytest.mark.parametrize("keep", ["kept", "detached"])
@pytest.mark.parametrize("kind", ["create_task", "spawn", "spawn_slab"])
def test_run_cancels_tasks_left_pending_and_their_finally_runs(
    fd_check: None, kind: str, keep: str
) -> None:
    log: list[str] = []
    handles: list[Any] = []
    reports: list[dict[str, Any]] = []

    async def job(i: int) -> None:
        try:
            await asyncio.sleep(HANG_GUARD * 2)
        finally:
            await asyncio.sleep(0)  # the finally block may still await
            log.append(f"finally {i}")

    async def main() -> None:
        _stop_on_error_or_hang(reports)
        for i in range(3):
            if kind == "create_task":
                handle: Any = asyncio.get_running_loop().create_task(job(i))
            else:
                handle = (spawn if kind == "spawn" else spawn_slab)(job(i))
                if keep == "detached":
                    handle.detach()
            if keep == "kept":
                handles.append(handle)
        await settle()

    if kind == "create_task":
        asyncio.run(main())
    else:
        nexusloop.run(main())
    assert reports == []
    assert sorted(log) == ["finally 0", "finally 1", "finally 2"]
    for handle in handles:
        assert handle.done() if kind == "create_task" else handle.is_finished()


def test_run_shutdown_with_a_task_that_ignores_one_cancellation(fd_check: None) -> None:
    log: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(HANG_GUARD * 2)
        except asyncio.CancelledError:
            log.append("cancelled once")
        log.append("returned")

    keep: list[Any] = []
    reports: list[dict[str, Any]] = []

    async def main() -> None:
        _stop_on_error_or_hang(reports)
        keep.append(spawn(stubborn()))
        await settle()

    nexusloop.run(main())
    assert reports == []
    assert log == ["cancelled once", "returned"]


# -------------------------------------------------------------------- shutdown_signal


@pytest.fixture
def signal_state() -> Iterator[None]:
    """Restore SIGINT/SIGTERM and the wakeup fd; fail if a closed loop left them changed."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    assert saved[signal.SIGTERM] == signal.SIG_DFL
    assert saved[signal.SIGINT] is signal.default_int_handler
    try:
        yield
    finally:
        now = {sig: signal.getsignal(sig) for sig in saved}
        wakeup = signal.set_wakeup_fd(-1)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        assert now == saved, "the closed loop left signal handlers installed"
        assert wakeup == -1, "the closed loop left its wakeup fd installed"


def send_later(sig: int) -> None:
    """Send ``sig`` to this process from a loop callback, once the loop handles it."""
    handler = signal.getsignal(sig)
    # Never kill pytest: SIG_DFL (SIGTERM) or Python's default SIGINT handler mean the loop's
    # handling is not installed.
    assert handler not in (signal.SIG_DFL, signal.default_int_handler, None), handler
    asyncio.get_running_loop().call_soon(os.kill, os.getpid(), sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_signal_resolves_with_the_signal(
    fd_check: None, signal_state: None, sig: signal.Signals
) -> None:
    async def main() -> signal.Signals:
        send_later(sig)
        return await shutdown_signal()

    got = nexusloop.run(guarded(main()), signal_handlers=True)
    assert got == sig
    assert isinstance(got, signal.Signals)
    # Loop closed: the default dispositions are back (signal_state checks the wakeup fd).
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_shutdown_signal_wakes_every_waiter(fd_check: None, signal_state: None) -> None:
    async def waiter() -> signal.Signals:
        return await shutdown_signal()

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        waiters: list[Any] = [spawn(waiter()), spawn_slab(waiter()), loop.create_task(waiter())]
        await settle()
        assert not any(w.done() if isinstance(w, asyncio.Task) else w.is_finished()
                       for w in waiters)
        send_later(signal.SIGTERM)
        return [await w for w in waiters] + [await shutdown_signal()]

    assert nexusloop.run(guarded(main()), signal_handlers=True) == [signal.SIGTERM] * 4


def test_waiter_made_after_the_signal_returns_at_once(fd_check: None, signal_state: None) -> None:
    async def main() -> list[Any]:
        send_later(signal.SIGTERM)
        first = await shutdown_signal()
        ran: list[int] = []
        asyncio.get_running_loop().call_soon(ran.append, 1)
        later = [await shutdown_signal(), await shutdown_signal()]
        assert ran == [], "waiting for a signal that already came gave up the loop"
        return [first, *later]

    assert nexusloop.run(guarded(main()), signal_handlers=True) == [signal.SIGTERM] * 3


def test_first_signal_is_not_a_keyboard_interrupt_the_second_is(
    fd_check: None, signal_state: None
) -> None:
    log: list[str] = []

    async def main() -> None:
        send_later(signal.SIGINT)
        log.append(f"first {await shutdown_signal()!r}")
        send_later(signal.SIGINT)
        try:
            await asyncio.sleep(HANG_GUARD)
        finally:
            log.append("main interrupted")

    with pytest.raises(KeyboardInterrupt):
        nexusloop.run(main(), signal_handlers=True)
    assert log == [f"first {signal.SIGINT!r}", "main interrupted"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_shutdown_state_lasts_across_block_on(fd_check: None, signal_state: None) -> None:
    async def first() -> signal.Signals:
        send_later(signal.SIGTERM)
        return await shutdown_signal()

    with Runtime(signal_handlers=True) as rt:
        assert rt.block_on(guarded(first())) == signal.SIGTERM
        assert rt.block_on(guarded(shutdown_signal())) == signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) != signal.SIG_DFL  # still handled
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_shutdown_signal_without_the_option(fd_check: None, signal_state: None) -> None:
    async def main() -> None:
        await shutdown_signal()

    with pytest.raises(RuntimeError, match=r"signal_handlers=True"):
        nexusloop.run(main())
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # nothing installed


def test_shutdown_signal_on_a_stock_asyncio_loop(signal_state: None) -> None:
    async def main() -> None:
        await shutdown_signal()

    with pytest.raises(RuntimeError, match="nexusloop"):
        asyncio.run(main())


def test_signal_handlers_in_a_non_main_thread(signal_state: None) -> None:
    errors: list[BaseException] = []

    def make() -> None:
        try:
            loop = nexusloop.new_event_loop(signal_handlers=True)
        except BaseException as exc:  # noqa: BLE001 (reported to the main thread)
            errors.append(exc)
        else:
            loop.close()

    gc.collect()
    before = _open_fds()
    thread = threading.Thread(target=make)
    thread.start()
    thread.join(HANG_GUARD)
    assert not thread.is_alive()
    gc.collect()
    assert _open_fds() == before, "the refused loop leaked file descriptors"
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError), errors
    assert "main thread" in str(errors[0])
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_signal_handlers_installed_at_loop_creation_and_removed_at_close(
    fd_check: None, signal_state: None
) -> None:
    loop = nexusloop.new_event_loop(signal_handlers=True)
    try:
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    finally:
        loop.close()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


"""run_in_executor, the default executor, getaddrinfo/getnameinfo: same body on both loops."""
from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import sys
import threading
from collections.abc import Coroutine
from typing import Any

import pytest

HANG_GUARD = 20.0  # seconds; only catches hangs


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, HANG_GUARD))


def is_stock(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("asyncio")


def test_run_in_executor_returns_the_result(loop):
    assert run(loop, loop.run_in_executor(None, sum, [1, 2, 3])) == 6
    assert run(loop, loop.run_in_executor(None, divmod, 17, 5)) == (3, 2)


def test_run_in_executor_returns_an_asyncio_future_of_this_loop(loop):
    async def main():
        fut = loop.run_in_executor(None, int, "7")
        assert asyncio.isfuture(fut)
        assert fut.get_loop() is loop
        return await fut

    assert run(loop, main()) == 7


def test_run_in_executor_propagates_exceptions(loop):
    def boom():
        raise KeyError("from the worker")

    with pytest.raises(KeyError, match="from the worker"):
        run(loop, loop.run_in_executor(None, boom))


def test_default_executor_is_a_lazily_created_asyncio_thread_pool(loop):
    def whoami():
        return threading.current_thread().name, threading.get_ident()

    name, ident = run(loop, loop.run_in_executor(None, whoami))
    assert name.startswith("asyncio")
    assert ident != threading.get_ident()


def test_explicit_executor_is_used(loop):
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine") as pool:
        name = run(loop, loop.run_in_executor(pool, lambda: threading.current_thread().name))
    assert name.startswith("mine")


def test_set_default_executor(loop):
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="custom-default")
    try:
        loop.set_default_executor(pool)
        name = run(loop, loop.run_in_executor(None, lambda: threading.current_thread().name))
        assert name.startswith("custom-default")
    finally:
        pool.shutdown(wait=True)


def test_set_default_executor_rejects_other_executors(loop):
    class NotAThreadPool(concurrent.futures.Executor):
        pass

    with pytest.raises(TypeError, match="ThreadPoolExecutor"):
        loop.set_default_executor(NotAThreadPool())
    with pytest.raises(TypeError):
        loop.set_default_executor(object())


def test_shutdown_default_executor_then_run_in_executor_raises(loop):
    run(loop, loop.run_in_executor(None, int))  # make the default executor exist
    run(loop, loop.shutdown_default_executor())
    with pytest.raises(RuntimeError, match="Executor shutdown has been called"):
        loop.run_in_executor(None, int)
    # an explicit executor is still fine
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert run(loop, loop.run_in_executor(pool, int, "5")) == 5


def test_shutdown_default_executor_without_executor_still_blocks_default(loop):
    run(loop, loop.shutdown_default_executor())
    with pytest.raises(RuntimeError, match="Executor shutdown has been called"):
        loop.run_in_executor(None, int)


def test_shutdown_default_executor_waits_for_running_work(loop):
    started = threading.Event()
    finished = threading.Event()
    release = threading.Event()

    def work():
        started.set()
        release.wait(HANG_GUARD)
        finished.set()

    async def main():
        fut = loop.run_in_executor(None, work)
        await loop.run_in_executor(None, started.wait, HANG_GUARD)
        shutdown = asyncio.ensure_future(loop.shutdown_default_executor())
        await asyncio.sleep(0)
        assert not shutdown.done()  # the loop keeps running while the pool joins
        release.set()
        await shutdown
        assert finished.is_set()
        await fut

    run(loop, main())


def test_shutdown_default_executor_timeout(loop):
    if is_stock(loop) and sys.version_info < (3, 12):
        pytest.skip("timeout parameter is Python 3.12+ on the stock loop")
    if is_stock(loop) and sys.version_info[:2] == (3, 12):
        pytest.skip(
            "stock asyncio 3.12 (3.12.1 here) awaits the executor's whole shutdown before its "
            "timeout applies, so a stuck job hangs it; 3.13 applies the timeout to the wait"
        )
    release = threading.Event()

    async def main():
        fut = loop.run_in_executor(None, release.wait, HANG_GUARD)
        with pytest.warns(RuntimeWarning, match="did not finish"):
            await loop.shutdown_default_executor(timeout=0.05)
        release.set()
        await fut

    run(loop, main())


def test_close_shuts_down_the_default_executor(loop):
    run(loop, loop.run_in_executor(None, int))
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_in_executor(None, int)


def test_run_in_executor_on_a_closed_loop_raises(loop):
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_in_executor(None, int)


def test_coroutine_function_is_rejected_in_debug_mode(loop):
    async def coro_fn():
        pass

    loop.set_debug(True)
    with pytest.raises(TypeError, match="coroutines cannot be used with run_in_executor"):
        loop.run_in_executor(None, coro_fn)


def test_non_callable_is_rejected_in_debug_mode(loop):
    loop.set_debug(True)
    with pytest.raises(TypeError, match="a callable object was expected"):
        loop.run_in_executor(None, 42)


def test_getaddrinfo_localhost(loop):
    infos = run(loop, loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM))
    assert infos
    for family, type_, _proto, _canon, sockaddr in infos:
        assert family in (socket.AF_INET, socket.AF_INET6)
        assert type_ == socket.SOCK_STREAM
        assert sockaddr[1] == 80
    assert {info[4][0] for info in infos} & {"127.0.0.1", "::1"}


def test_getaddrinfo_matches_socket_getaddrinfo(loop):
    args = ("127.0.0.1", 8080)
    kwargs = {"family": socket.AF_INET, "type": socket.SOCK_DGRAM, "proto": 0,
              "flags": socket.AI_NUMERICHOST}
    expected = socket.getaddrinfo(*args, **kwargs)
    assert run(loop, loop.getaddrinfo(*args, **kwargs)) == expected


def test_getaddrinfo_in_debug_mode(loop):
    loop.set_debug(True)
    infos = run(loop, loop.getaddrinfo("localhost", 80, family=socket.AF_INET,
                                       type=socket.SOCK_STREAM))
    assert infos[0][4] == ("127.0.0.1", 80)


def test_getaddrinfo_error_propagates(loop):
    with pytest.raises(socket.gaierror):
        run(loop, loop.getaddrinfo("name.invalid", 80))


def test_getnameinfo(loop):
    flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    assert run(loop, loop.getnameinfo(("127.0.0.1", 80), flags)) == ("127.0.0.1", "80")

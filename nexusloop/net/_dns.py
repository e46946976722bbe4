"""DNS: ``loop.getaddrinfo`` and ``loop.getnameinfo``.

The C resolver has no non-blocking interface, so, as asyncio does, each look-up is a call of
``socket.getaddrinfo`` / ``socket.getnameinfo`` in the loop's default executor
(``loop.run_in_executor(None, ...)``). Callers that already hold a numeric address skip this
module altogether (``sock_connect`` and the connection code check for literal IPs first).

In debug mode ``getaddrinfo`` logs what it resolved and how long it took on asyncio's logger,
at INFO when the look-up took at least ``loop.slow_callback_duration``, as asyncio's loop does.

Contract with the loop
----------------------
Plain coroutine functions whose first parameter is the loop; ``nexusloop.Loop`` binds them as
methods. They call ``loop.run_in_executor(None, ...)``, ``loop._debug``, ``loop.time()`` and
``loop.slow_callback_duration``, and keep no state.
"""
from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nexusloop.loop import Loop

__all__ = ["getaddrinfo", "getnameinfo"]

# asyncio's logger: debug-mode DNS timing lines are where asyncio users look for them.
_logger = logging.getLogger("asyncio")


async def getaddrinfo(
    loop: Loop,
    host: Any,
    port: Any,
    *,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[tuple[Any, Any, int, str, Any]]:
    """``socket.getaddrinfo`` in the default executor.

    Example::

        infos = await loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    """
    if loop._debug:
        return await loop.run_in_executor(  # type: ignore[no-any-return]
            None, _getaddrinfo_logged, loop, host, port, family, type, proto, flags
        )
    resolve: Callable[..., Any] = socket.getaddrinfo
    return await loop.run_in_executor(  # type: ignore[no-any-return]
        None, resolve, host, port, family, type, proto, flags
    )


def _getaddrinfo_logged(
    loop: Loop, host: Any, port: Any, family: int, type: int, proto: int, flags: int
) -> Any:
    # Debug mode: say what was resolved and how long it took (runs in the executor thread).
    parts = [f"{host}:{port!r}"]
    for name, value in (("family", family), ("type", type), ("proto", proto), ("flags", flags)):
        if value:
            parts.append(f"{name}={value!r}")
    what = ", ".join(parts)
    _logger.debug("Get address info %s", what)
    started = loop.time()
    infos = socket.getaddrinfo(host, port, family, type, proto, flags)
    took = loop.time() - started
    slow = getattr(loop, "slow_callback_duration", 0.1)
    level = logging.INFO if took >= slow else logging.DEBUG
    _logger.log(level, "Getting address info %s took %.3fms: %r", what, took * 1e3, infos)
    return infos


async def getnameinfo(loop: Loop, sockaddr: tuple[Any, ...], flags: int = 0) -> tuple[str, str]:
    """``socket.getnameinfo`` in the default executor.

    Example::

        host, service = await loop.getnameinfo(("127.0.0.1", 80))
    """
    return await loop.run_in_executor(  # type: ignore[no-any-return]
        None, socket.getnameinfo, sockaddr, flags
    )

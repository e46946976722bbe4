"""Readiness polling backends.

The loop core talks to its poller through four methods shaped like ``select.epoll``:
``register(fd, mask)``, ``modify(fd, mask)``, ``unregister(fd)`` and ``poll(timeout)`` returning
``[(fd, mask), ...]`` with epoll's bits (``EPOLLIN``/``EPOLLOUT``/``EPOLLERR``/``EPOLLHUP``). On
Linux the core uses ``select.epoll`` itself, so a poll costs exactly one ``epoll_wait`` and no
Python-level translation. Elsewhere (macOS: kqueue) :class:`SelectorPoller` adapts the standard
``selectors`` module to the same shape.
"""
from __future__ import annotations

import select
import selectors
from typing import Any

POLLIN = 0x001
POLLOUT = 0x004
POLLERR = 0x008
POLLHUP = 0x010


class SelectorPoller:
    """epoll-shaped adapter over :mod:`selectors` (used where epoll is missing)."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()

    @staticmethod
    def _events(mask: int) -> int:
        events = 0
        if mask & POLLIN:
            events |= selectors.EVENT_READ
        if mask & POLLOUT:
            events |= selectors.EVENT_WRITE
        return events

    def register(self, fd: int, mask: int) -> None:
        self._selector.register(fd, self._events(mask))

    def modify(self, fd: int, mask: int) -> None:
        self._selector.modify(fd, self._events(mask))

    def unregister(self, fd: int) -> None:
        self._selector.unregister(fd)

    def poll(self, timeout: float = -1, maxevents: int = -1) -> list[tuple[int, int]]:
        result = []
        for key, events in self._selector.select(None if timeout < 0 else timeout):
            mask = 0
            if events & selectors.EVENT_READ:
                mask |= POLLIN
            if events & selectors.EVENT_WRITE:
                mask |= POLLOUT
            result.append((key.fd, mask))
        return result

    def close(self) -> None:
        self._selector.close()


def fileobj_to_fd(fileobj: Any) -> int:
    """Return the file descriptor of ``fileobj`` (an int or an object with ``fileno()``).

    Raises ``ValueError`` for anything else and for negative descriptors, as ``selectors`` does.
    """
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


def new_poller() -> Any:
    """The best poller for this platform."""
    if hasattr(select, "epoll"):
        return select.epoll()
    return SelectorPoller()

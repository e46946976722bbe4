"""The I/O readiness driver: file descriptors whose readiness fires handlers.

Design
------
:class:`IoInstaller` registers an :class:`IoDriver` resource (the registration table) and
returns an :class:`IoPoller`. Handlers register interest with ``ResMut[IoDriver]``.

Registrations live in a slab: a token is ``(slot, generation)`` packed in one int, so a token
whose registration is gone (fired, deregistered) is recognised as stale and silently skipped,
even if its slot was reused.

Firing is **move-out-fire**: when an fd is ready its registration is removed
from the slab, the World's sequence advances, and the handler runs with an :class:`IoEvent`.
To hear about the fd again the handler registers again (typically a handler stamped from a
:class:`~nexusloop.world.HandlerTemplate`, or itself). The OS-level interest is kept across
that gap: the fd is only removed from the selector (or the loop) if no handler re-registered it
by the end of the dispatch, so an echo-style handler that re-arms itself costs no syscall.

Two backends behind one API:

* **standalone**: a :mod:`selectors` selector (epoll on Linux, kqueue on macOS);
  ``poll(world, timeout)`` waits up to ``timeout`` seconds (None = forever, 0 = non-blocking)
  and dispatches what is ready.
* **loop-backed** (``IoInstaller(loop=...)`` or :meth:`IoPoller.attach`): interest goes to
  ``loop.add_reader`` / ``loop.add_writer``, so on nexusloop the loop's own poller wakes the
  handlers and ``poll`` is not needed.
"""
from __future__ import annotations

import asyncio
import selectors
from typing import TYPE_CHECKING, Any, NamedTuple

from nexusloop._core._poller import fileobj_to_fd

from ._world import LoopDriverInstaller, World

if TYPE_CHECKING:
    from ._handler import Handler

__all__ = ["READABLE", "WRITABLE", "IoDriver", "IoEvent", "IoInstaller", "IoPoller", "IoToken"]

READABLE = selectors.EVENT_READ
WRITABLE = selectors.EVENT_WRITE

#: A registration's identity: slot and generation packed into one int.
IoToken = int

_GEN_SHIFT = 24
_SLOT_MASK = (1 << _GEN_SHIFT) - 1


class IoEvent(NamedTuple):
    """What a fired I/O handler receives: which fd, which token, which readiness."""

    fd: int
    token: IoToken
    readable: bool
    writable: bool


_fileno = fileobj_to_fd


class IoDriver:
    """The I/O driver's resource: register fds with the handler to fire when ready.

    Example::

        def on_readable(io: ResMut[IoDriver], event: IoEvent) -> None:
            data = os.read(event.fd, 4096)
            io.register(event.fd, template.generate())   # re-arm (move-out-fire)

        token = io.register(sock, into_handler(on_readable, registry))
    """

    __slots__ = (
        "_armed",
        "_by_fd",
        "_fds",
        "_free",
        "_gens",
        "_handlers",
        "_loop",
        "_masks",
        "_selector",
        "_world",
    )

    def __init__(self) -> None:
        self._handlers: list[Handler[IoEvent] | None] = []
        self._fds: list[int] = []
        self._masks: list[int] = []
        self._gens: list[int] = []
        self._free: list[int] = []
        self._by_fd: dict[int, IoToken] = {}
        self._selector: selectors.BaseSelector | None = None
        self._armed: dict[int, int] = {}  # fd -> mask the OS is watching
        self._loop: asyncio.AbstractEventLoop | None = None
        self._world: World | None = None

    def register(
        self,
        fileobj: Any,
        handler: Handler[IoEvent],
        *,
        readable: bool = True,
        writable: bool = False,
    ) -> IoToken:
        """Fire ``handler`` once when ``fileobj`` (an fd or an object with ``fileno()``) is ready.

        One registration per fd at a time: registering an fd that is already registered raises
        :class:`ValueError` (deregister it, or let it fire, first).
        """
        fd = _fileno(fileobj)
        mask = (READABLE if readable else 0) | (WRITABLE if writable else 0)
        if not mask:
            raise ValueError("register() needs readable=True and/or writable=True")
        if fd in self._by_fd:
            raise ValueError(f"fd {fd} is already registered (token {self._by_fd[fd]})")
        if self._free:
            slot = self._free.pop()
            self._handlers[slot] = handler
            self._fds[slot] = fd
            self._masks[slot] = mask
        else:
            slot = len(self._handlers)
            if slot > _SLOT_MASK:
                raise RuntimeError("too many I/O registrations")
            self._handlers.append(handler)
            self._fds.append(fd)
            self._masks.append(mask)
            self._gens.append(0)
        token = (self._gens[slot] << _GEN_SHIFT) | slot
        self._by_fd[fd] = token
        self._arm(fd, mask)
        return token

    def deregister(self, token: IoToken) -> bool:
        """Remove a registration; False if the token is stale (fired or already removed)."""
        slot = token & _SLOT_MASK
        if not self._is_live(token):
            return False
        fd = self._fds[slot]
        self._remove(slot)
        self._disarm_if_idle(fd)
        return True

    def token_for(self, fileobj: Any) -> IoToken | None:
        """The live token of an fd, or None."""
        return self._by_fd.get(_fileno(fileobj))

    def is_registered(self, token: IoToken) -> bool:
        """Whether ``token`` is a live registration."""
        return self._is_live(token)

    def __len__(self) -> int:
        return len(self._by_fd)

    # -- internals -----------------------------------------------------------------------------
    def _is_live(self, token: IoToken) -> bool:
        slot = token & _SLOT_MASK
        return (
            slot < len(self._handlers)
            and self._handlers[slot] is not None
            and self._gens[slot] == token >> _GEN_SHIFT
        )

    def _remove(self, slot: int) -> Handler[IoEvent]:
        handler = self._handlers[slot]
        assert handler is not None
        self._handlers[slot] = None
        del self._by_fd[self._fds[slot]]
        self._gens[slot] += 1
        self._free.append(slot)
        return handler

    def _arm(self, fd: int, mask: int) -> None:
        current = self._armed.get(fd, 0)
        if current == mask:
            return
        loop = self._loop
        if loop is not None:
            for bit, add, remove in (
                (READABLE, loop.add_reader, loop.remove_reader),
                (WRITABLE, loop.add_writer, loop.remove_writer),
            ):
                if mask & bit and not current & bit:
                    add(fd, self._fire_on_loop, fd, bit)
                elif current & bit and not mask & bit:
                    remove(fd)
        else:
            selector = self._get_selector()
            if current:
                selector.modify(fd, mask)
            else:
                selector.register(fd, mask)
        self._armed[fd] = mask

    def _disarm_if_idle(self, fd: int) -> None:
        if fd in self._by_fd or fd not in self._armed:
            return
        mask = self._armed.pop(fd)
        loop = self._loop
        if loop is not None:
            if mask & READABLE:
                loop.remove_reader(fd)
            if mask & WRITABLE:
                loop.remove_writer(fd)
        elif self._selector is not None:
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass

    def _get_selector(self) -> selectors.BaseSelector:
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
        return self._selector

    def _fire(self, world: World, fd: int, ready: int, token: IoToken | None = None) -> bool:
        if token is None:
            token = self._by_fd.get(fd)
            if token is None:
                return False
        elif not self._is_live(token):
            return False  # stale: removed by an earlier handler of the same batch
        slot = token & _SLOT_MASK
        if not ready & self._masks[slot]:
            return False
        handler = self._remove(slot)
        world.next_sequence()
        try:
            handler.run(world, IoEvent(fd, token, bool(ready & READABLE), bool(ready & WRITABLE)))
        finally:
            self._disarm_if_idle(fd)
        return True

    def _fire_on_loop(self, fd: int, ready: int) -> None:
        world = self._world
        assert world is not None
        self._fire(world, fd, ready)

    def close(self) -> None:
        """Drop every registration and release the selector (or the loop's interest)."""
        for fd in list(self._by_fd):
            self.deregister(self._by_fd[fd])
        if self._selector is not None:
            self._selector.close()
            self._selector = None

    def __repr__(self) -> str:
        mode = "loop" if self._loop is not None else "standalone"
        return f"<IoDriver {mode} registered={len(self._by_fd)}>"


class IoPoller:
    """Drives an :class:`IoDriver`: ``poll(world, timeout)`` waits for readiness and fires.

    Example::

        io = wb.install_driver(IoInstaller())
        world = wb.build()
        world.resource_mut(IoDriver).register(sock, into_handler(on_readable, world.registry))
        fired = io.poll(world, timeout=0.5)    # 0 after half a second without readiness
    """

    __slots__ = ("driver",)

    def __init__(self, driver: IoDriver) -> None:
        self.driver = driver

    def poll(self, world: World, timeout: float | None = 0.0) -> int:
        """Wait up to ``timeout`` seconds (None: until something is ready) and fire the ready
        handlers; returns how many fired. A no-op when the driver is loop-backed."""
        driver = self.driver
        if driver._loop is not None:
            return 0
        if not driver._armed:
            return 0
        ready = driver._get_selector().select(timeout)
        # Snapshot the tokens first: readiness belongs to the registration that was live when
        # the OS reported it; a handler earlier in the batch may deregister or replace it.
        by_fd = driver._by_fd
        batch = [(key.fd, mask, by_fd.get(key.fd)) for key, mask in ready]
        fired = 0
        for fd, mask, token in batch:
            if token is not None and driver._fire(world, fd, mask, token):
                fired += 1
        return fired

    def attach(self, loop: asyncio.AbstractEventLoop, world: World) -> None:
        """Hand the fds to ``loop``'s poller (``add_reader``/``add_writer``) from now on."""
        driver = self.driver
        if driver._loop is not None:
            raise RuntimeError("the I/O driver is already attached to a loop")
        armed = dict(driver._armed)
        for fd in armed:
            if driver._selector is not None:
                try:
                    driver._selector.unregister(fd)
                except (KeyError, ValueError, OSError):
                    pass
        driver._armed = {}
        driver._loop = loop
        driver._world = world
        for fd, mask in armed.items():
            driver._arm(fd, mask)

    def close(self) -> None:
        """Close the driver (see :meth:`IoDriver.close`)."""
        self.driver.close()

    def __len__(self) -> int:
        return len(self.driver)


class IoInstaller(LoopDriverInstaller[IoPoller]):
    """Installs the I/O driver: registers an :class:`IoDriver`, returns an :class:`IoPoller`.

    With ``loop=`` the driver is loop-backed from the start.

    Example::

        io = wb.install_driver(IoInstaller())
        world = wb.build()
        io.poll(world, timeout=0.1)
    """

    def _create(self, world: World) -> tuple[IoDriver, IoPoller]:
        driver = IoDriver()
        driver._world = world
        return driver, IoPoller(driver)

"""Cancellation tokens: one ``cancel()`` that reaches a whole tree of work.

A :class:`CancellationToken` is a flag that goes from *active* to *cancelled* once and never
back. Code asks it (``is_cancelled()``), waits for it (``await token.cancelled()``), or runs a
body until it fires (``async with token.scope():`` / ``await token.run(coro)``). Tokens form
trees: ``token.child_token()`` is cancelled with its parent, never the other way round. This is
tokio-util's ``CancellationToken``, rebuilt for asyncio.

How a tree is held
==================

A child holds its parent **strongly**; a parent holds its children **weakly** (a dict of
``weakref.ref`` keys, in creation order). A dropped child is freed at once by reference counting
(no cycle is involved, so the cyclic collector is not needed), and its weak reference's callback
removes the parent's entry: a long-lived parent that hands out a child per request does not grow.
A child that is still alive keeps the chain up to the root alive, since the root's ``cancel()``
must reach it through its ancestors, dropped or not. A cancelled token lets go of its parent.

Cancelling is iterative: ``cancel()`` walks the subtree with an explicit stack, visiting each
token once, so a chain 10,000 deep (or a million wide) costs linear time and no recursion.
Deallocation of a long chain recurses in CPython's ``tp_dealloc`` too, but CPython's "trashcan"
bounds that depth for every garbage-collected type; the tests drop a 100,000-deep chain.

Threads
=======

``cancel()`` may be called from any thread (a thread that watches a socket, a signal handler, a
test harness). The tokens of one tree share one re-entrant lock, held while the tree is marked
and its registrations are taken out; nothing else happens under it. Then each registration (a
future of ``cancelled()``, a :class:`CancelScope`) is woken **on its own loop**:

* directly, when ``cancel()`` runs inside a task of that very loop, on its thread: the future's
  ``set_result`` schedules its waiter as usual, with no cross-thread hand-off;
* otherwise with one ``loop.call_soon_threadsafe`` per loop, carrying that loop's whole batch
  (so 10,000 waiters parked on another loop cost one hand-off, not 10,000 self-pipe writes).

"Otherwise" includes plain loop callbacks and ``signal.signal`` handlers. A Python signal handler
runs on the main thread *inside* the loop's poll; a ``call_soon`` from there would sit in the
ready queue while the poll resumes and sleeps on, whereas ``call_soon_threadsafe`` wakes the
loop. No cheap test tells a signal handler from a loop callback, so both take the safe path,
at the cost of one tick. A registration whose loop is closed is dropped (nobody can await it).

Scopes
======

``async with token.scope():`` is ``asyncio.timeout`` with a token for a clock, and it keeps the
same bookkeeping so that it nests with ``asyncio.timeout``, ``TaskGroup`` and other scopes:

* entry records ``task.cancelling()``;
* when the token fires, the task is cancelled with ``task.cancel()`` (so ``finally`` blocks and
  ``async with`` exits in the body run) — never synchronously while the task itself is running:
  a token cancelled from inside the body, or already cancelled at entry, cancels the task from a
  ``call_soon`` callback, as ``asyncio.timeout(0)`` does. On Python 3.11 and 3.12 ``uncancel()``
  does not clear a pending ``cancel()`` of a running task, so cancelling synchronously would leak
  a ``CancelledError`` past the scope when the body ends without awaiting again;
* exit calls ``task.uncancel()`` if the scope cancelled the task, and swallows the
  ``CancelledError`` only if no other cancellation is pending (``uncancel() <=`` the count at
  entry). An outer ``task.cancel()`` that arrives at the same time still propagates.
"""
from __future__ import annotations

import threading
import weakref
from asyncio import (
    AbstractEventLoop,
    CancelledError,
    Handle,
    current_task,
    get_running_loop,
    iscoroutine,
)
from collections.abc import Awaitable
from inspect import isawaitable
from types import TracebackType
from typing import Any, TypeVar, final

from nexusloop._compat import get_running_loop_or_none

__all__ = ["CancelScope", "CancellationToken", "DropGuard"]

T = TypeVar("T")

_RLock = threading.RLock
_ref = weakref.ref


class _ChildRef(weakref.ref["CancellationToken"]):
    """A parent's (weak) reference to a child: the key of the parent's ``_children``.

    It remembers the parent, weakly too, so that one module-level callback (:func:`_unlink`)
    can drop the entry of a freed child: no closure per parent, and no reference cycle.
    """

    __slots__ = ("parent",)
    parent: weakref.ref[CancellationToken]


def _unlink(child_ref: _ChildRef) -> None:
    """Weak-reference callback: a child was freed; drop its entry in the parent.

    No lock: ``dict.pop`` is atomic, and ``cancel()`` iterates a copy of the dict.
    """
    parent = child_ref.parent()
    if parent is not None:
        children = parent._children
        if children is not None:
            children.pop(child_ref, None)


def _new_token(lock: Any) -> CancellationToken:
    token: CancellationToken = object.__new__(CancellationToken)
    token._cancelled = False
    token._parent = None
    token._children = None
    token._waiters = None
    token._lock = lock
    return token


def _deliver(obj: Any) -> None:
    """Wake one registration, on its loop's thread."""
    if type(obj) is CancelScope:
        obj._on_token()
    elif not obj.done():  # a waiter's future; done if its task was cancelled meanwhile
        obj.set_result(None)


def _deliver_batch(objs: list[Any]) -> None:
    for obj in objs:
        _deliver(obj)


def _wake(registrations: list[dict[Any, AbstractEventLoop]]) -> None:
    """Deliver the registrations taken out of cancelled tokens (dicts nobody else sees now)."""
    running = get_running_loop_or_none()
    direct = running is not None and current_task(running) is not None
    batches: dict[AbstractEventLoop, list[Any]] = {}
    for waiters in registrations:
        for obj, loop in waiters.items():
            if direct and loop is running:
                _deliver(obj)
            else:
                batch = batches.get(loop)
                if batch is None:
                    batches[loop] = [obj]
                else:
                    batch.append(obj)
    for loop, objs in batches.items():
        try:
            loop.call_soon_threadsafe(_deliver_batch, objs)
        except RuntimeError:  # closed: nothing on it can await these any more
            if not loop.is_closed():
                raise


@final
class CancellationToken:
    """A cancellation flag shared by a tree of work; thread-safe.

    ``cancel()`` cancels this token and every token derived from it with
    :meth:`child_token`, wakes every ``await token.cancelled()`` and cancels the body of every
    ``token.scope()``. It may be called from any thread, any number of times.

    Example::

        token = CancellationToken()

        async def worker(token: CancellationToken) -> None:
            async with token.scope():        # cancelled (finally blocks run) when token fires
                while True:
                    await handle(await next_job())

        async def main() -> None:
            tasks = [asyncio.create_task(worker(token.child_token())) for _ in range(4)]
            await asyncio.sleep(10)
            token.cancel()                   # all four workers stop
            await asyncio.gather(*tasks)
    """

    __slots__ = ("_cancelled", "_parent", "_children", "_waiters", "_lock", "__weakref__")

    def __init__(self) -> None:
        self._cancelled: bool = False
        # Strong: a live child keeps its ancestors alive (the root's cancel() goes through them).
        self._parent: CancellationToken | None = None
        # Weak references to live children (values unused: a dict keeps creation order). None
        # until the first child, and again once cancelled.
        self._children: dict[weakref.ref[CancellationToken], None] | None = None
        # Parked futures of cancelled() and entered scopes, each with its loop.
        self._waiters: dict[Any, AbstractEventLoop] | None = None
        # One lock per tree (children share their root's).
        self._lock: Any = _RLock()

    def __repr__(self) -> str:
        if self._cancelled:
            return "<CancellationToken cancelled>"
        children = self._children
        waiters = self._waiters
        return (f"<CancellationToken active children={len(children) if children else 0}"
                f" waiters={len(waiters) if waiters else 0}>")

    def is_cancelled(self) -> bool:
        """True once this token (or an ancestor) has been cancelled.

        Example::

            while not token.is_cancelled():
                process(await queue.get())
        """
        return self._cancelled

    def cancel(self) -> None:
        """Cancel this token and all its descendants; idempotent; callable from any thread.

        Waiters and scopes on this token and its descendants are woken on their own loops (see
        the module docstring). The parent of this token is not affected.

        Example::

            loop.add_signal_handler(signal.SIGTERM, token.cancel)
        """
        if self._cancelled:
            return
        registrations: list[dict[Any, AbstractEventLoop]] = []
        with self._lock:
            if self._cancelled:
                return
            parent = self._parent
            if parent is not None:
                siblings = parent._children
                if siblings is not None:
                    # Equal weakrefs of a live object hash and compare equal: this finds the
                    # entry the parent made, so a cancelled child no longer costs it anything.
                    siblings.pop(_ref(self), None)
            self._parent = None
            stack = [self]
            pop = stack.pop
            push = stack.append
            while stack:
                token = pop()
                token._cancelled = True
                waiters = token._waiters
                if waiters is not None:
                    token._waiters = None  # from now on only this call sees the dict
                    registrations.append(waiters)
                children = token._children
                if children is not None:
                    token._children = None
                    # A copy (atomic under the GIL): a child freed meanwhile must not change
                    # the dict under the iteration. Reversed, so children are visited in
                    # creation order.
                    for child_ref in reversed(list(children)):
                        child = child_ref()
                        if child is not None and not child._cancelled:
                            # A cancelled token needs no ancestors: the ones nobody else
                            # holds are freed as the walk moves on.
                            child._parent = None
                            push(child)
        if registrations:
            _wake(registrations)

    def child_token(self) -> CancellationToken:
        """A new token cancelled when this one is (at once if this one already is).

        Cancelling the child leaves this token alone. This token keeps only a weak reference to
        the child: a dropped child is freed, and its entry removed, right away.

        Example::

            async def handle(conn, server_token):
                token = server_token.child_token()   # server shutdown stops every connection
                with token.drop_guard():             # ... and this connection's end stops
                    ...                              #     the helpers it started
        """
        child = _new_token(self._lock)
        if self._cancelled:
            child._cancelled = True
            return child
        with self._lock:
            if self._cancelled:
                child._cancelled = True
                return child
            children = self._children
            if children is None:
                children = self._children = {}
            child_ref = _ChildRef(child, _unlink)
            child_ref.parent = _ref(self)  # CPython caches a plain weakref: made once per token
            children[child_ref] = None
            child._parent = self
        return child

    async def cancelled(self) -> None:
        """Wait until this token is cancelled (return at once if it already is).

        Any number of tasks, on any loops, may wait. A waiting task that is itself cancelled
        leaves nothing behind.

        Example::

            async def stop_server_on(token, server):
                await token.cancelled()
                server.close()
        """
        if self._cancelled:
            return
        loop = get_running_loop()
        fut = loop.create_future()
        if not self._register(fut, loop):
            return
        try:
            await fut
        finally:
            self._unregister(fut)

    def scope(self) -> CancelScope:
        """An async context manager that cancels its body when this token fires.

        The body is cancelled through ``task.cancel()``, so its ``finally`` blocks run; the
        ``CancelledError`` is swallowed at the end of the ``async with`` and
        ``scope.cancelled_caught`` is set. A cancellation from elsewhere propagates as usual.
        If the token is already cancelled at entry, the body runs until its first suspension.

        Example::

            async with token.scope() as scope:
                await serve_forever()
            if scope.cancelled_caught:
                log.info("stopped by the token")
        """
        return CancelScope(self)

    async def run(self, coro: Awaitable[T]) -> T | None:
        """Await ``coro`` until this token fires: its result, or ``None`` if the token fired first.

        The awaitable runs in the current task inside a :meth:`scope`, so a token firing
        mid-way cancels it (its ``finally`` blocks run) and ``run`` returns ``None``.
        Exceptions of ``coro`` propagate. If the token is already cancelled, a coroutine is
        closed without being started (no "never awaited" warning) and ``None`` is returned;
        another awaitable is awaited in the scope, as :meth:`scope` would.

        ``None`` is ambiguous when ``coro`` may itself return ``None``: use
        ``async with token.scope() as scope`` and ``scope.cancelled_caught`` to tell.

        Example::

            data = await token.run(reader.read(65536))
            if data is None:
                return            # shutting down
        """
        if not isawaitable(coro):
            raise TypeError(f"an awaitable is required, got {coro!r}")
        if self._cancelled and iscoroutine(coro):
            coro.close()
            return None
        async with CancelScope(self):
            return await coro
        return None

    def drop_guard(self) -> DropGuard:
        """A context manager that cancels this token when its ``with`` block ends.

        Ends of all kinds (normal, exception, cancellation) cancel, unless
        :meth:`DropGuard.disarm` was called in the block. tokio's name; here the guard acts
        at the end of the ``with`` block, not when an object is garbage-collected.

        Example::

            token = parent.child_token()
            with token.drop_guard():
                spawn_helpers(token)     # the helpers stop when this block is left
                await main_work()
        """
        return DropGuard(self)

    def _register(self, obj: Any, loop: AbstractEventLoop) -> bool:
        """Park ``obj`` until this token fires; False (nothing parked) if it already has."""
        with self._lock:
            if self._cancelled:
                return False
            waiters = self._waiters
            if waiters is None:
                waiters = self._waiters = {}
            waiters[obj] = loop
            return True

    def _unregister(self, obj: Any) -> None:
        if self._waiters is not None:  # None once cancelled: then cancel() owns the dict
            with self._lock:
                waiters = self._waiters
                if waiters is not None:
                    waiters.pop(obj, None)


# CancelScope states.
_CREATED = 0
_ENTERED = 1
_CANCELLING = 2  # the scope called task.cancel(): exit uncancels
_EXITED = 3
_STATE_NAMES = ("created", "active", "cancelling", "exited")


@final
class CancelScope:
    """The async context manager of :meth:`CancellationToken.scope`; use it once.

    ``cancelled_caught`` is True after the ``async with`` if the token cancelled the body and
    the scope swallowed the resulting ``CancelledError``.

    Example::

        async with token.scope() as scope:
            await asyncio.sleep(3600)
        assert scope.cancelled_caught == token.is_cancelled()
    """

    __slots__ = ("_token", "_state", "_task", "_loop", "_cancelling", "_handle",
                 "cancelled_caught")

    def __init__(self, token: CancellationToken) -> None:
        if type(token) is not CancellationToken:
            raise TypeError(f"a CancellationToken is required, got {token!r}")
        self._token = token
        self._state = _CREATED
        self._task: Any = None
        self._loop: AbstractEventLoop | None = None
        self._cancelling = 0
        self._handle: Handle | None = None
        #: True if the token cancelled the body and this scope swallowed the CancelledError.
        self.cancelled_caught = False

    @property
    def token(self) -> CancellationToken:
        """The token this scope follows."""
        return self._token

    def __repr__(self) -> str:
        return f"<CancelScope [{_STATE_NAMES[self._state]}] token={self._token!r}>"

    async def __aenter__(self) -> CancelScope:
        if self._state != _CREATED:
            raise RuntimeError("CancelScope has already been entered")
        task = current_task()
        if task is None:
            raise RuntimeError("CancelScope should be used inside a task")
        loop = get_running_loop()
        self._state = _ENTERED
        self._task = task
        self._loop = loop
        self._cancelling = task.cancelling()
        if not self._token._register(self, loop):
            # Already cancelled: cancel the task once it is suspended, never while it runs.
            self._handle = loop.call_soon(self._fire)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        if self._state != _ENTERED and self._state != _CANCELLING:
            raise RuntimeError(f"CancelScope exited in state {_STATE_NAMES[self._state]!r}")
        self._token._unregister(self)
        handle = self._handle
        if handle is not None:
            self._handle = None
            handle.cancel()
        task = self._task
        self._task = None
        if self._state == _CANCELLING:
            self._state = _EXITED
            if (task.uncancel() <= self._cancelling and exc_type is not None
                    and issubclass(exc_type, CancelledError)):
                # No cancellation but ours is pending: this CancelledError is ours.
                self.cancelled_caught = True
                return True
        else:
            self._state = _EXITED
        return None

    def _on_token(self) -> None:
        """The token fired; on the loop's thread."""
        if self._state != _ENTERED:
            return
        loop = self._loop
        assert loop is not None
        if current_task(loop) is self._task:
            # The body cancelled the token itself: cancel once it is suspended.
            if self._handle is None:
                self._handle = loop.call_soon(self._fire)
        else:
            self._fire()

    def _fire(self) -> None:
        self._handle = None
        if self._state != _ENTERED:
            return
        self._state = _CANCELLING
        self._task.cancel()


@final
class DropGuard:
    """The context manager of :meth:`CancellationToken.drop_guard`.

    Example::

        with token.drop_guard() as guard:
            await risky_setup()
            guard.disarm()           # setup succeeded: keep the token alive past the block
    """

    __slots__ = ("_token", "_armed")

    def __init__(self, token: CancellationToken) -> None:
        if type(token) is not CancellationToken:
            raise TypeError(f"a CancellationToken is required, got {token!r}")
        self._token = token
        self._armed = True

    @property
    def token(self) -> CancellationToken:
        """The token this guard cancels."""
        return self._token

    def __repr__(self) -> str:
        state = "armed" if self._armed else "disarmed"
        return f"<DropGuard {state} token={self._token!r}>"

    def disarm(self) -> CancellationToken:
        """Do not cancel the token at the end of the block; returns the token.

        Example::

            with token.drop_guard() as guard:
                ...
                keep = guard.disarm()
        """
        self._armed = False
        return self._token

    def __enter__(self) -> DropGuard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self._armed:
            self._armed = False
            self._token.cancel()


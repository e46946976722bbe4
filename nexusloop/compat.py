"""The thread bridge: await a coroutine that runs on another event loop, in another thread.

Latency-critical code on nexusloop hands cold-path work (a database driver, an HTTP client, a
library that only runs on stock asyncio or uvloop) to a loop running in another thread and
awaits the result; code on that loop hands work back the same way. This is the Python
counterpart of the nexus seed's tokio bridge.

* :func:`run_on` ``(loop, coro)``: called from a task on any loop (nexusloop, asyncio, uvloop),
  runs ``coro`` as a task on ``loop`` (running in another thread) and returns a future of the
  caller's loop that resolves with its result, its exception or its cancellation.
* :class:`LoopThread`: a loop (stock asyncio by default, any loop through ``loop_factory``)
  running in a thread of its own, started and stopped by a context manager.

``docs/bridge.md`` has the user-level account and the measurements. This essay is about why the
bridge is shaped as it is.

One hand-off, no ``concurrent.futures``
=======================================

``asyncio.run_coroutine_threadsafe`` + ``asyncio.wrap_future`` round-trips through a
``concurrent.futures.Future`` (a ``threading.Condition`` and its lock, taken on every state
change), chains three futures with Python closures, delivers the result through a done callback
(one more iteration of the remote loop) and then through a second future of the caller's loop
(one more iteration there). :func:`run_on` does one hand-off each way and nothing else:

1. The caller's side is one future of the caller's loop (:class:`_Call`), the remote side one
   small object (:class:`_Remote`); ``loop.call_soon_threadsafe(remote)`` starts it.
2. On the remote loop the coroutine runs inside a wrapper coroutine (``_remote_main``), as a
   task made with ``loop.create_task`` (task factories apply, ``current_task()`` works, so
   ``asyncio.timeout`` and ``TaskGroup`` work inside it). The wrapper delivers the outcome with
   one ``caller_loop.call_soon_threadsafe`` *from the task's last step*: no done callback, so no
   extra iteration of the remote loop.
3. The delivering callback sets the caller's future and runs its done callbacks itself (the
   future keeps them; see :class:`_Call`), so the awaiting task resumes in that same iteration of
   the caller's loop instead of the next one.
4. Wake-ups are the loops' own: ``call_soon_threadsafe`` on nexusloop writes its eventfd only when
   the loop is parked in ``epoll_wait`` (``nexusloop/_core/_loopcore.py``), asyncio and uvloop
   write their self-pipe / async handle. Nobody polls.

What a round trip costs is mostly the two wake-ups of parked threads (and the GIL passing
between them), which the bridge cannot avoid; the rest is loop iterations, which it can.
Measured and left out: running the task's first step eagerly inside the start callback (as 3.12's
``eager_start`` does) saves an iteration before the delivery but adds one after it, for no gain
on 3.11; compiling this module could only shave part of its small share (on a nexusloop target
a round trip costs no more than a bare ``call_soon_threadsafe`` ping-pong; ``docs/bridge.md``).

The remote coroutine runs in a copy of the caller's context taken at the call (the start
callback runs in the copy ``call_soon_threadsafe`` takes, and ``create_task`` copies that), as a
task made by ``create_task`` on the caller's loop would: it sees the caller's context variables,
and what it sets is not seen by the caller.

Cancellation: like awaiting a task
==================================

Cancelling the awaiting task (or calling ``cancel()`` on the future) *requests* cancellation of
the remote task; the future is cancelled when the remote task is. This is what ``await task``
does in asyncio: ``_Call.cancel`` forwards the request and returns True, like ``Task.cancel``
does for the future its task waits on. So when ``await run_on(...)`` raises ``CancelledError``
the remote coroutine has finished (its ``finally`` blocks ran), an exception raised while it
unwinds reaches the caller instead of being lost, and a remote coroutine that catches the
cancellation and returns a value delivers that value (as an awaited task would). The price is
the one asyncio pays too: a caller that cancels waits for the remote loop to process the
request. One exception: if the remote loop is closed when the cancellation is requested,
nothing there can ever finish, and the future is cancelled at once.

The remote task being cancelled by anyone (its loop shutting down, ``asyncio.timeout`` inside
it, a ``TaskGroup`` there) surfaces in the caller as ``CancelledError``, with its message.

Cancellation before the first step, and the primed wrapper
----------------------------------------------------------

A task cancelled before its first step throws ``CancelledError`` into a coroutine that has not
started, where no ``try`` block is active yet: a wrapper made the ordinary way would never see
it and never deliver. So the wrapper is *primed* before it is given to ``create_task``: one
``send(None)`` runs it up to a bare ``yield`` inside its ``try`` (``_handover``), and the
task's first step resumes it from there. Whatever the task then does to it - cancel it before
the first step, close it because the task was destroyed - happens inside the ``try``.

No hang on a dead loop
======================

Every call ends: with the coroutine's outcome, or with ``RuntimeError`` when the target loop
drops the work.

* Before it starts, the remote side is referenced only by the handle queued on the target loop.
  If the loop is closed with the handle queued, the handle is dropped, ``_Remote.__del__`` sees
  it never started, closes the coroutine (no "never awaited" warning) and fails the call.
* After it starts, the remote side is referenced by the remote task's wrapper coroutine only:
  the caller's future holds it through a weak reference, and it holds the task through one (both
  used only to forward cancellation). A task that its loop dropped (the loop closed without
  cancelling it) is garbage; when it is freed, Python closes its coroutine, the wrapper sees
  ``GeneratorExit`` and fails the call with ``RuntimeError``. A task dropped before its first
  step is freed at once; one that waits on a future is in a reference cycle with it and is freed
  by the cyclic collector. An exception that the coroutine's cleanup raises then goes where
  Python sends exceptions of finalizers (``sys.unraisablehook``) or, when the wrapper closes it,
  to the caller. :class:`LoopThread` never drops tasks (it cancels them at exit), and neither
  do ``asyncio.run`` and ``asyncio.Runner``.

Races: both sides use ``call_soon_threadsafe`` of one loop, which is FIFO, so a cancellation
request can never overtake the start it follows. The caller's future is resolved only on the
caller's loop and only if it is still pending; the remote side is touched only on the remote
loop (and by ``__del__``, when nothing else can touch it).

Outcomes nobody can receive
===========================

* The caller's loop is closed when the remote coroutine finishes: an exception goes to the remote
  loop's exception handler (with the message ``"run_on(): the caller's loop is closed; ..."``), a
  result is dropped.
* The caller dropped the future without awaiting it: the future holds the exception, and asyncio
  reports "Future exception was never retrieved" when it is collected, as for any future.
* The call was cancelled at once (its target loop closed) and the coroutine raised later anyway:
  reported on the caller's loop.
* The remote task itself never holds an unretrieved exception (the wrapper delivers and returns),
  so the remote loop does not log "Task exception was never retrieved" for a delivered one.
"""
from __future__ import annotations

import asyncio
import itertools
import threading
import types
import weakref
from asyncio import AbstractEventLoop, CancelledError, Future
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context, copy_context
from typing import Any, TypeVar

from nexusloop._compat import get_running_loop_or_none as _get_running_loop_or_none

__all__ = ["LoopThread", "run_on"]

T = TypeVar("T")

_get_running_loop = asyncio.get_running_loop
_cancel_future = Future.cancel
_set_result = Future.set_result
_set_exception = Future.set_exception
_future_done = Future.done
_future_init = Future.__init__
_weakref = weakref.ref
_CoroutineType = types.CoroutineType
_Coroutine = Coroutine
_thread_ids = itertools.count(1)
#: What the remote wrapper re-raises after delivering it (as asyncio.Task does with these).
_REMOTE_RERAISE = (CancelledError, GeneratorExit, KeyboardInterrupt, SystemExit)


# ------------------------------------------------------------------------------ run_on


class _Call(Future[T]):
    """The caller's side of one :func:`run_on`: a future of the caller's loop.

    Resolved only on the caller's loop, by the callbacks the remote side queues there with
    ``call_soon_threadsafe``. ``cancel()`` forwards the request to the remote task, as
    ``Task.cancel`` does for the future its task awaits (module docstring).

    It keeps its done callbacks itself and runs them from the delivering callback, instead of
    having ``set_result`` schedule each with ``call_soon``: the awaiting task resumes in the
    loop iteration that receives the outcome, not in the next one (one iteration of the caller's
    loop less per call, which matters when the caller is stock asyncio: measured in
    ``docs/bridge.md``). Callbacks added once it is done are scheduled with ``call_soon``, as
    asyncio does.
    """

    __slots__ = ("_target", "_remote", "_waiters")

    _remote: Callable[[], _Remote | None]

    def __init__(self, loop: AbstractEventLoop, target: AbstractEventLoop) -> None:
        _future_init(self, loop=loop)
        self._target = target
        self._waiters: list[tuple[Callable[[Any], object], Context]] = []

    def cancel(self, msg: Any = None) -> bool:
        """Request cancellation of the remote task; True if the call was still pending.

        The future is cancelled once the remote task is (or resolves with what the remote
        coroutine returned or raised instead, if it did not let itself be cancelled). If the
        target loop is closed, the future is cancelled at once.
        """
        if _future_done(self):
            return False
        remote = self._remote()
        if remote is not None:
            try:
                self._target.call_soon_threadsafe(remote.cancel, msg)
            except RuntimeError:  # the target loop is closed: nothing there will finish
                _cancel_future(self, msg)
                self._schedule_waiters()
        # remote is None: the remote side is gone, its outcome is queued on this loop already.
        return True

    def add_done_callback(
        self, fn: Callable[[Any], object], *, context: Context | None = None
    ) -> None:
        """As ``asyncio.Future.add_done_callback``."""
        if context is None:
            context = copy_context()
        if _future_done(self):
            self.get_loop().call_soon(fn, self, context=context)
        else:
            self._waiters.append((fn, context))

    def remove_done_callback(self, fn: Callable[[Any], object]) -> int:
        """As ``asyncio.Future.remove_done_callback``."""
        waiters = self._waiters
        kept = [(f, c) for f, c in waiters if f != fn]
        removed = len(waiters) - len(kept)
        waiters[:] = kept
        return removed

    def set_result(self, result: Any) -> None:
        """Refused, as by ``asyncio.Task``: the outcome comes from the remote coroutine."""
        raise RuntimeError("the future of a run_on() call does not support set_result()")

    def set_exception(self, exception: Any) -> None:
        """Refused, as by ``asyncio.Task``: the outcome comes from the remote coroutine."""
        raise RuntimeError("the future of a run_on() call does not support set_exception()")

    def _wake(self) -> None:
        """Run the done callbacks now (we are a callback of the caller's loop)."""
        waiters = self._waiters
        if not waiters:
            return
        self._waiters = []
        for index, (fn, context) in enumerate(waiters):
            try:
                context.run(fn, self)
            except (SystemExit, KeyboardInterrupt):
                loop = self.get_loop()
                for later, later_context in waiters[index + 1:]:
                    loop.call_soon(later, self, context=later_context)
                raise
            except BaseException as exc:  # as a Handle reports a failing callback
                self.get_loop().call_exception_handler({
                    "message": f"Exception in callback {fn!r}",
                    "exception": exc,
                    "future": self,
                })

    def _schedule_waiters(self) -> None:
        waiters = self._waiters
        self._waiters = []
        loop = self.get_loop()
        for fn, context in waiters:
            loop.call_soon(fn, self, context=context)

    def _deliver_result(self, value: Any) -> None:
        if not _future_done(self):
            _set_result(self, value)
            self._wake()

    def _deliver_exception(self, exc: BaseException) -> None:
        if not _future_done(self):
            _set_exception(self, exc)
            self._wake()
        else:
            # Cancelled at once because the target loop was closed, and the coroutine raised
            # after all (while the collector closed it): report it rather than lose it.
            self.get_loop().call_exception_handler({
                "message": "run_on(): the remote coroutine raised after the call was cancelled",
                "exception": exc,
                "future": self,
            })

    def _deliver_lost(self, exc: BaseException) -> None:
        # The target loop dropped the work (RuntimeError made by the bridge): moot if the call
        # was cancelled meanwhile.
        if not _future_done(self):
            _set_exception(self, exc)
            self._wake()

    def _deliver_cancel(self, msg: Any) -> None:
        if not _future_done(self):
            _cancel_future(self, msg)
            self._wake()


@types.coroutine
def _handover() -> Generator[None, None, None]:
    """Where the primed wrapper waits for its task's first step (module docstring)."""
    yield


async def _remote_main(remote: _Remote, coro: Coroutine[Any, Any, Any]) -> None:
    """Runs as the task on the target loop: awaits ``coro``, delivers its outcome to the caller."""
    try:
        await _handover()
        result = await coro
    except BaseException as exc:
        coro.close()  # a no-op if it ran; if it never started: no "never awaited" warning
        remote.fail(exc)
        if isinstance(exc, _REMOTE_RERAISE):
            raise  # the task ends cancelled; close() goes on; run_forever() sees the exit
        return  # delivered: the remote task holds no unretrieved exception
    remote.succeed(result)


class _Remote:
    """The remote side of one :func:`run_on`: started by the target loop, delivers to the caller.

    Called (``__call__``) on the target loop to start; ``cancel`` runs there too. Referenced only
    by the target loop's handle and then by the remote task (the caller keeps a weak reference),
    so that work the target loop drops is noticed (module docstring).
    """

    __slots__ = (
        "call", "caller", "target", "coro", "task", "started", "delivered", "__weakref__",
    )

    def __init__(
        self,
        call: _Call[Any],
        caller: AbstractEventLoop,
        target: AbstractEventLoop,
        coro: Coroutine[Any, Any, Any],
    ) -> None:
        self.call: _Call[Any] | None = call
        self.caller = caller
        self.target = target
        self.coro: Coroutine[Any, Any, Any] | None = coro
        # Weak: the remote task must not be kept alive by its own wrapper's frame (a cycle:
        # a task its loop drops must be freed at once, see "No hang on a dead loop").
        self.task: Callable[[], asyncio.Task[None] | None] | None = None
        self.started = False
        self.delivered = False

    def __call__(self) -> None:
        """Start, on the target loop: the wrapper, primed, becomes a task of the loop."""
        self.started = True
        coro = self.coro
        assert coro is not None
        self.coro = None
        main = _remote_main(self, coro)
        main.send(None)  # prime: run up to _handover (inside the wrapper's try)
        try:
            # Runs in the copy of the caller's context that call_soon_threadsafe() took at the
            # call; the task takes a copy of that, as create_task() on the caller's loop would.
            self.task = _weakref(self.target.create_task(main))
        except BaseException as exc:  # a task factory failed, or the loop refused
            self._deliver(exc)
            main.close()  # closes coro too; fail() sees the outcome is delivered already
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise

    def cancel(self, msg: Any) -> None:
        """On the target loop: cancel the remote task (FIFO: the start has run)."""
        task = None if self.task is None else self.task()
        if task is not None:
            task.cancel(msg)

    def succeed(self, result: Any) -> None:
        if self.delivered:
            return
        self.delivered = True
        call = self.call
        self.call = None
        assert call is not None
        try:
            self.caller.call_soon_threadsafe(call._deliver_result, result)
        except RuntimeError:
            pass  # the caller's loop is closed: nobody can receive the result

    def fail(self, exc: BaseException) -> None:
        if isinstance(exc, GeneratorExit):
            self._deliver(RuntimeError(
                f"run_on(): the task running the coroutine on {self.target!r} was destroyed "
                "before it finished (was its loop closed without cancelling its tasks?)"
            ), lost=True)
        else:
            self._deliver(exc)

    def _deliver(self, exc: BaseException, lost: bool = False) -> None:
        if self.delivered:
            return
        self.delivered = True
        call = self.call
        self.call = None
        assert call is not None
        try:
            if lost:
                self.caller.call_soon_threadsafe(call._deliver_lost, exc)
            elif isinstance(exc, CancelledError):
                message = exc.args[0] if exc.args else None
                self.caller.call_soon_threadsafe(call._deliver_cancel, message)
            else:
                self.caller.call_soon_threadsafe(call._deliver_exception, exc)
        except RuntimeError:
            if lost or isinstance(exc, CancelledError):
                return
            # The caller's loop is closed: nobody can receive the exception; do not lose it.
            self.target.call_exception_handler({
                "message": "run_on(): the caller's loop is closed; the exception of the remote "
                           "coroutine cannot be delivered",
                "exception": exc,
            })

    def __del__(self) -> None:
        if self.started:
            return  # from here on the wrapper reports every outcome
        coro = self.coro
        self.coro = None
        self.started = True
        try:
            if coro is not None:
                coro.close()
            self._deliver(RuntimeError(
                f"run_on(): {self.target!r} was closed before the coroutine started"), lost=True)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        coro = self.coro
        what = "started" if coro is None else getattr(coro, "__qualname__", repr(coro))
        return f"<run_on {what} on {self.target!r}>"


def run_on(loop: AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Run ``coro`` as a task on ``loop``, which runs in another thread; await it from here.

    Call it from a task on any event loop (nexusloop, stock asyncio, uvloop); ``loop`` is another
    loop, running in another thread. Returns a future of the *calling* loop that resolves with
    the coroutine's result, raises its exception (the same exception object, remote traceback
    included) or is cancelled when the remote task is. The coroutine starts at once (like
    ``create_task``), whether or not the future is awaited, and runs in a copy of the caller's
    context. Cancelling the future - or the task awaiting it, e.g. by ``asyncio.timeout`` -
    cancels the remote task, and the future is cancelled once that task has finished
    cancelling, as when awaiting a task (see ``docs/bridge.md``).

    If ``loop`` is the calling loop, this is ``loop.create_task(coro)``.

    Example::

        from nexusloop import compat

        async def fetch_report(day: str) -> bytes:    # runs on the asyncio loop's thread
            ...

        async def handler(cold: compat.LoopThread) -> None:   # runs on nexusloop
            report = await compat.run_on(cold.loop, fetch_report("2024-06-01"))

    Raises:
        RuntimeError: no loop runs in this thread; ``loop`` is closed or not running (the
            coroutine is closed then, so it does not warn that it was never awaited).
        TypeError: ``coro`` is not a coroutine object, or ``loop`` is not an event loop.
    """
    caller = _get_running_loop()
    if type(coro) is not _CoroutineType and not isinstance(coro, _Coroutine):
        raise TypeError(f"run_on() needs a coroutine object, got {type(coro).__name__}")
    if loop is caller:
        return caller.create_task(coro)
    if not isinstance(loop, AbstractEventLoop):
        coro.close()
        raise TypeError(f"run_on() needs an event loop, got {type(loop).__name__}")
    if not loop.is_running():
        coro.close()
        state = "closed" if loop.is_closed() else "not running"
        raise RuntimeError(f"run_on(): the target loop is {state}: {loop!r}")
    call: _Call[T] = _Call(caller, loop)
    remote = _Remote(call, caller, loop, coro)
    call._remote = _weakref(remote)
    try:
        loop.call_soon_threadsafe(remote)  # in a copy of this context: the remote task's
    except RuntimeError:  # closed since is_running() said otherwise
        remote.started = True  # keep __del__ quiet: this call never existed
        remote.coro = None
        coro.close()
        raise RuntimeError(f"run_on(): the target loop is closed: {loop!r}") from None
    return call


# -------------------------------------------------------------------------- LoopThread

#: How many times the shutdown cancels the tasks left on the loop before it gives up on tasks
#: that keep starting new ones (those are then destroyed with the loop, as asyncio would).
_SHUTDOWN_ROUNDS = 10


def _drive(loop: AbstractEventLoop, future: Future[Any]) -> Any:
    """``loop.run_until_complete(future)``, resumed if a stray ``loop.stop()`` interrupts it."""
    while True:
        try:
            return loop.run_until_complete(future)
        except RuntimeError:
            if future.done():
                raise
            # "Event loop stopped before Future completed": a stop() requested while the
            # loop was already winding down. Go on until the future is done.


def _set_done(future: Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class LoopThread:
    """An event loop running in a thread of its own, for :func:`run_on`.

    ``loop_factory`` makes the loop, in the new thread (stock ``asyncio.new_event_loop`` by
    default; ``uvloop.new_event_loop``, ``nexusloop.new_event_loop`` or any other factory). The
    thread is an ordinary (non-daemon) thread: the loop is always closed properly, so a program
    must stop it (the context managers do) or it will wait for it at exit.

    ``start()`` (or entering the context) returns once the loop is running. ``stop()`` (or
    leaving a ``with`` block) and ``await aclose()`` (or leaving an ``async with`` block) shut
    it down as ``asyncio.run`` does: cancel the tasks left on it and wait for them, shut down
    async generators and the default executor, close the loop, join the thread. Inside a
    coroutine use ``async with`` / ``aclose()``: ``stop()`` refuses to block a running loop
    (tasks being cancelled on the thread may need it to answer).

    Example::

        import asyncio
        import nexusloop
        from nexusloop import compat

        async def cold_path(x: int) -> int:
            await asyncio.sleep(0.01)         # on the thread's stock asyncio loop
            return x * 2

        async def main() -> None:
            async with compat.LoopThread() as cold:           # asyncio.new_event_loop()
                print(await compat.run_on(cold.loop, cold_path(21)))   # 42

        nexusloop.run(main())
    """

    def __init__(
        self,
        loop_factory: Callable[[], AbstractEventLoop] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        self._factory = asyncio.new_event_loop if loop_factory is None else loop_factory
        self._thread = threading.Thread(
            target=self._main, name=name or f"nexusloop-LoopThread-{next(_thread_ids)}")
        self._loop: AbstractEventLoop | None = None
        self._running = threading.Event()
        self._lock = threading.Lock()
        self._stop_requested = False
        self._finished = False
        self._waiters: list[tuple[AbstractEventLoop, Future[None]]] = []
        self._error: BaseException | None = None

    @property
    def loop(self) -> AbstractEventLoop:
        """The thread's loop (running between ``start()`` and the end of the stop)."""
        if self._loop is None:
            raise RuntimeError("the LoopThread has not been started")
        return self._loop

    @property
    def thread(self) -> threading.Thread:
        """The thread the loop runs in."""
        return self._thread

    def start(self) -> LoopThread:
        """Start the thread; return once its loop is running (re-raises a failing factory)."""
        if self._thread.ident is not None:
            raise RuntimeError("a LoopThread can only be started once")
        self._thread.start()
        self._running.wait()
        if self._loop is None:  # the factory failed
            self._thread.join()
            error, self._error = self._error, None
            assert error is not None
            raise error
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Shut the loop down (see the class docstring) and join the thread.

        Blocks the calling thread; from a coroutine use :meth:`aclose`. Does nothing if the
        thread was never started or is already stopped. Re-raises an exception that ended the
        loop's ``run_forever`` (e.g. ``SystemExit`` raised in one of its tasks).

        Raises:
            RuntimeError: called where an event loop is running (use ``aclose()``).
            TimeoutError: the thread did not end within ``timeout`` seconds.
        """
        if self._thread.ident is None:
            return
        if _get_running_loop_or_none() is not None:
            raise RuntimeError(
                "LoopThread.stop() would block the event loop running in this thread; "
                "use 'await aclose()' or 'async with' here")
        self._request_stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"{self._thread.name} did not stop within {timeout} s")
        self._raise_error()

    async def aclose(self) -> None:
        """Shut the loop down and wait for the thread to end, without blocking the caller's loop.

        Cancelling ``aclose()`` stops the waiting, not the shutdown.
        """
        if self._thread.ident is None:
            return
        caller = _get_running_loop()
        if caller is self._loop:
            raise RuntimeError("a LoopThread cannot be closed from its own loop")
        done: Future[None] = caller.create_future()
        with self._lock:
            finished = self._finished
            if not finished:
                self._waiters.append((caller, done))
        self._request_stop()
        if not finished:
            await done
        self._thread.join()  # the thread is at its very end: returns at once
        self._raise_error()

    def __enter__(self) -> LoopThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> LoopThread:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = ("finished" if self._finished else "running" if self._loop is not None
                 else "not started")
        return f"<LoopThread {self._thread.name} {state} loop={self._loop!r}>"

    # ------------------------------------------------------------- on the thread

    def _request_stop(self) -> None:
        with self._lock:
            if self._stop_requested or self._finished:
                return
            self._stop_requested = True
        loop = self._loop
        assert loop is not None
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:
            pass  # closed already: the thread is ending on its own

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _main(self) -> None:
        try:
            loop = self._factory()
        except BaseException as exc:
            self._error = exc
            self._finish()
            return
        self._loop = loop
        try:
            loop.call_soon(self._running.set)
            loop.run_forever()
        except BaseException as exc:
            self._error = exc
        finally:
            with self._lock:
                self._stop_requested = True  # from now on stop() adds no loop.stop()
            try:
                self._shutdown(loop)
            except BaseException as exc:
                if self._error is None:
                    self._error = exc
            finally:
                loop.close()
                self._finish()

    def _shutdown(self, loop: AbstractEventLoop) -> None:
        """What ``asyncio.run`` does at the end, plus: tasks started meanwhile are cancelled too."""
        for round_ in range(_SHUTDOWN_ROUNDS):
            tasks = asyncio.all_tasks(loop)
            if tasks:
                for task in tasks:
                    task.cancel()
                _drive(loop, asyncio.gather(*tasks, return_exceptions=True))
                for task in tasks:
                    if not task.cancelled() and task.exception() is not None:
                        loop.call_exception_handler({
                            "message": "unhandled exception during LoopThread shutdown",
                            "exception": task.exception(),
                            "task": task,
                        })
            if round_ == 0:
                _drive(loop, asyncio.ensure_future(loop.shutdown_asyncgens(), loop=loop))
                _drive(loop, asyncio.ensure_future(loop.shutdown_default_executor(), loop=loop))
            elif not tasks:
                break

    def _finish(self) -> None:
        with self._lock:
            self._finished = True
            waiters, self._waiters = self._waiters, []
        self._running.set()  # a factory failure: start() is waiting
        for caller, done in waiters:
            try:
                caller.call_soon_threadsafe(_set_done, done)
            except RuntimeError:
                pass  # that loop is closed: nobody waits there any more

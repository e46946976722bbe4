"""Runtime tasks: compiled task stepping, the task pool (slab) and join handles.

Why a task class of our own
---------------------------
``spawn`` and ``spawn_slab`` run coroutines as :class:`RuntimeTask` objects rather than as
``asyncio.Task``. Two reasons:

* **Pooling.** A C ``asyncio.Task`` cannot be reset and reused; a ``RuntimeTask`` can. The task
  pool (:class:`TaskPool`, the *slab*) keeps finished task objects and hands them to the next
  ``spawn_slab``: in the steady state a spawn allocates nothing but the caller's coroutine (and
  the join handle, from a freelist). A bounded pool refuses work when full: back-pressure.
* **Stepping on the loop's own queue.** A task step is pushed straight into the loop core's
  ready ring (``LoopCore._push``), and completion wakes all of a task's waiters from one queued
  callback instead of one ``call_soon`` each.

A ``RuntimeTask`` is an asyncio citizen nonetheless: it implements the ``asyncio.Task`` API
(``cancel(msg)``, ``cancelling``, ``uncancel``, ``done``, ``result``, ``exception``,
``add_done_callback(fn, context=)``, ``get_coro``, ``get_context``, ``get_name`` ...), is a
future for ``asyncio.isfuture``, enters itself with asyncio's ``_enter_task`` hook while it steps
(so ``asyncio.current_task()`` returns it and ``asyncio.timeout``, ``TaskGroup``, ``wait_for``
work inside it) and registers with asyncio's task registry (so ``asyncio.all_tasks()`` lists it
while it runs). Its stepping follows ``asyncio.Task.__step``/``__wakeup`` rule for rule (the
bad-yield errors, the cancellation bookkeeping, ``KeyboardInterrupt``/``SystemExit`` passing
through). It is *not* an ``isinstance`` of ``asyncio.Task``: code that checks the class (rare;
``asyncio``'s own code does not) sees the difference.

The lifecycle of a pooled task
------------------------------
::

    slot:  free --spawn_slab / claim--> taken --task released / claim released--> free
    task:  FREE --spawn--> PENDING --coroutine ends--> DONE --released--> (sweep) --> FREE
                                                                            \\--> let go

A bounded pool counts *slots*: ``capacity`` tasks may be in use at once. A done task is
*released* when its outcome can no longer be asked for through its :class:`JoinHandle` (the
handle collected it with ``await``, or was detached or dropped): its slot is free at once.
Until then the task holds its result, as tokio's task cell does. The done callbacks of a task
run before its release, so everyone who waited on it sees the outcome.

The task *object* is reused only when nothing outside the runtime refers to it any more (a
sweep checks its reference count; see ``TaskPool``): an object someone still holds (a saved
``current_task()``, the runner's shutdown, a traceback) keeps its outcome and is let go by the
pool, which makes a new one when it needs it. So a task object never changes under its
holder's hands, and a join handle (which holds its task until it has the outcome) never sees a
later task of the same object; the generation number is a second guard.

Errors are never lost: the exception of a task whose handle was dropped or detached, and that
nobody retrieved, goes to the loop's exception handler when the task is released ("exception in
detached task"), from outside the task's context.
"""
from __future__ import annotations

import sys as _sys
from asyncio import CancelledError, InvalidStateError, iscoroutine
from collections import deque
from contextvars import Context as _Context
from contextvars import copy_context as _copy_context
from inspect import isgenerator as _isgenerator
from types import CoroutineType, GenericAlias
from typing import Any

try:
    import cython
except ImportError:  # pragma: no cover
    from nexusloop._core import _cyshim as cython  # type: ignore[no-redef]

from nexusloop import _compat
from nexusloop._core._handles import _new_handle
from nexusloop._core._loopcore import LoopCore

# Task states. FREE: a pooled task between two uses (``done()`` is True, so asyncio's
# all_tasks() does not list it).
_PENDING = 0
_CANCELLED = 1
_FINISHED = 2
_FREE = 3

_enter_task = _compat.enter_task
_leave_task = _compat.leave_task
_register_task = _compat.register_task
_get_running_loop = _compat.get_running_loop_or_none
# Task names ("Task-nx<n>") are made when asked for, from a number given at spawn.
_task_count = 0

_CoroutineType = CoroutineType


def _is_coroutine(obj: Any) -> bool:
    # asyncio.iscoroutine is Python code (a type cache): the common case is decided in C.
    return type(obj) is _CoroutineType or iscoroutine(obj)


def _cancelled_error(message: Any) -> BaseException:
    return CancelledError() if message is None else CancelledError(message)


@cython.cclass
class RuntimeTask:
    """A coroutine run by the nexusloop runtime (``spawn`` / ``spawn_slab``).

    Behaves as an ``asyncio.Task`` (see the module docstring); users get one from
    ``asyncio.current_task()`` inside a spawned coroutine, and hold a :class:`JoinHandle`
    otherwise.
    """

    # Declared for type checkers; compiled, the .pxd makes these C fields.
    _loop: Any
    _owner: TaskOwner
    _st: int
    _generation: int
    _result: Any
    _exception: Any
    _log_traceback: bool
    _cancel_message: Any
    _cancelled_exc: Any
    _asyncio_future_blocking: bool
    _cb_fn: Any
    _cb_ctx: Any
    _callbacks: list[tuple[Any, Any]] | None
    _callbacks_queued: bool
    _coro: Any
    _context: Any
    _name: str | None
    _name_id: int
    _fut_waiter: Any
    _must_cancel: bool
    _num_cancels_requested: int
    _detached: bool
    _released: bool
    _release_tick: int
    _source_traceback: Any
    _log_destroy_pending: bool

    def __init__(self) -> None:
        raise TypeError("RuntimeTask objects are made by nexusloop.spawn() and spawn_slab()")

    # --------------------------------------------------------------- future API

    def get_loop(self) -> Any:
        return self._loop

    def done(self) -> bool:
        return self._st != _PENDING

    def cancelled(self) -> bool:
        return self._st == _CANCELLED

    def result(self) -> Any:
        if self._st == _CANCELLED:
            raise self._make_cancelled_error()
        if self._st != _FINISHED:
            raise InvalidStateError("Result is not ready.")
        self._log_traceback = False
        exc = self._exception
        if exc is not None:
            if not cython.compiled:
                self = None  # type: ignore[assignment]  # noqa: PLW0642  (see _step_run)
            raise exc
        return self._result

    def exception(self) -> Any:
        if self._st == _CANCELLED:
            raise self._make_cancelled_error()
        if self._st != _FINISHED:
            raise InvalidStateError("Exception is not set.")
        self._log_traceback = False
        return self._exception

    def add_done_callback(self, fn: Any, *, context: Any = None) -> None:
        if context is None:
            context = _copy_context()
        if self._st != _PENDING:
            self._loop.call_soon(fn, self, context=context)
        elif self._cb_fn is None and not self._callbacks:
            self._cb_fn = fn
            self._cb_ctx = context
        else:
            if self._callbacks is None:
                self._callbacks = []
            self._callbacks.append((fn, context))

    def remove_done_callback(self, fn: Any) -> int:
        removed = 0
        if self._cb_fn is not None and self._cb_fn == fn:
            self._cb_fn = None
            self._cb_ctx = None
            removed = 1
        if self._callbacks:
            kept = [entry for entry in self._callbacks if entry[0] != fn]
            removed += len(self._callbacks) - len(kept)
            self._callbacks = kept
        return removed

    def set_result(self, result: Any) -> None:
        raise RuntimeError("Task does not support set_result operation")

    def set_exception(self, exception: Any) -> None:
        raise RuntimeError("Task does not support set_exception operation")

    def _make_cancelled_error(self) -> BaseException:
        exc = self._cancelled_exc
        if exc is not None:
            self._cancelled_exc = None
            return exc
        return _cancelled_error(self._cancel_message)

    def __await__(self) -> Any:
        return self

    __iter__ = __await__

    @classmethod
    def __class_getitem__(cls, item: Any) -> Any:
        return GenericAlias(cls, item)

    def __next__(self) -> Any:
        # Stateless: yields itself while pending (the awaiting task waits on it as on a
        # future), then returns the result or raises.
        if self._st == _PENDING:
            self._asyncio_future_blocking = True
            return self
        if self._st == _FREE:
            raise RuntimeError(f"{self!r} was recycled: await its JoinHandle, not the task")
        raise StopIteration(self.result())

    # ----------------------------------------------------------------- task API

    def get_coro(self) -> Any:
        return self._coro

    def get_context(self) -> Any:
        return self._context

    def get_name(self) -> str:
        if self._name is None:
            self._name = f"Task-nx{self._name_id}"
        return self._name  # type: ignore[no-any-return]

    def set_name(self, value: Any) -> None:
        self._name = str(value)

    def get_stack(self, *, limit: Any = None) -> Any:
        return _compat.task_get_stack(self, limit)

    def print_stack(self, *, limit: Any = None, file: Any = None) -> None:
        _compat.task_print_stack(self, limit, file)

    def cancelling(self) -> int:
        return self._num_cancels_requested

    def uncancel(self) -> int:
        if self._num_cancels_requested > 0:
            self._num_cancels_requested -= 1
            if self._num_cancels_requested == 0:
                self._must_cancel = False
        return self._num_cancels_requested

    def cancel(self, msg: Any = None) -> bool:
        self._log_traceback = False
        if self._st != _PENDING:
            return False
        self._num_cancels_requested += 1
        waiter = self._fut_waiter
        if waiter is not None and waiter.cancel(msg=msg):
            # Keep the waiter: it may be a task that ignores the request and must be
            # cancelled again later.
            return True
        # The step is scheduled (or running): it throws CancelledError in.
        self._must_cancel = True
        self._cancel_message = msg
        return True

    @property
    def _state(self) -> str:
        """asyncio's future state names (``PENDING`` ...; ``FREE`` for an idle pooled task)."""
        return ("PENDING", "CANCELLED", "FINISHED", "FREE")[self._st]

    def __del__(self) -> None:
        # asyncio's reports for a task object that is garbage collected (pooled tasks live as
        # long as their pool; unpooled ones are held by the loop's spawner while they run).
        if self._st == _PENDING and self._log_destroy_pending:
            message = "Task was destroyed but it is pending!"
        elif self._st == _FINISHED and self._log_traceback:
            message = "Task exception was never retrieved"
        else:
            return
        context = {"task": self, "message": message}
        if self._st == _FINISHED:
            context["exception"] = self._exception
        self._loop.call_exception_handler(context)

    def __repr__(self) -> str:
        info = [self._state.lower()]
        if self._st == _PENDING and self._num_cancels_requested:
            info[0] = "cancelling"
        info.append(f"name={self.get_name()!r}")
        if self._coro is not None:
            info.append(f"coro={self._coro!r}")
        if self._st == _FINISHED:
            if self._exception is not None:
                info.append(f"exception={self._exception!r}")
            else:
                info.append(f"result={self._result!r}")
        if self._fut_waiter is not None:
            info.append(f"wait_for={self._fut_waiter!r}")
        return f"<{type(self).__name__} {' '.join(info)}>"

    # ---------------------------------------------------------------- stepping

    def _schedule_step(self, exc: Any) -> None:
        args = () if exc is None else (exc,)
        handle = _new_handle(self._loop, self, args, self._context)
        core: LoopCore = self._loop
        core._push(handle)

    def __call__(self, arg: Any = None) -> None:
        # The task is its own callback: the queued step (``arg`` None or the exception to
        # throw in), the wake-up of the future it waits on (``arg`` is that future), and the
        # queued run of its done callbacks (``arg`` None once it is done). No bound-method
        # objects per task; a stale wake-up (a future of an earlier use of a pooled task) is
        # recognised and ignored.
        if arg is None:
            if self._st == _PENDING:
                self._step(None)
            elif self._callbacks_queued:
                self._run_callbacks()
        elif arg is self._fut_waiter:
            self._wakeup(arg)
        elif self._st == _PENDING and isinstance(arg, BaseException):
            self._step(arg)
        if not cython.compiled:
            self = None  # type: ignore[assignment]  # noqa: PLW0642  (see _step_run)

    def _step(self, exc: Any) -> None:
        if self._st != _PENDING:
            raise InvalidStateError(f"_step(): already done: {self!r}, {exc!r}")
        if self._must_cancel:
            if not isinstance(exc, CancelledError):
                exc = self._make_cancelled_error()
            self._must_cancel = False
        self._fut_waiter = None
        loop = self._loop
        _enter_task(loop, self)
        try:
            self._step_run(exc)
        finally:
            _leave_task(loop, self)
            if not cython.compiled:
                self = None  # type: ignore[assignment]  # noqa: PLW0642  (see _step_run)

    def _step_run(self, exc: Any) -> None:
        coro = self._coro
        try:
            if exc is None:
                returned = False
                if cython.compiled:
                    # PyIter_Send: a returning coroutine gives its value without raising
                    # StopIteration (whose traceback costs more than the rest of a step).
                    result = _coro_send(coro, cython.address(returned))  # type: ignore[name-defined]  # noqa: F821
                    if returned:
                        self._coro_returned(result)
                        return
                else:
                    result = coro.send(None)
            else:
                result = coro.throw(exc)
        except StopIteration as stop:
            self._coro_returned(stop.value)
        except CancelledError as cancelled:
            # Kept so that _make_cancelled_error() hands out this very exception.
            self._cancelled_exc = cancelled
            self._cancel_message = None
            self._finish(_CANCELLED, None, None)
        except (KeyboardInterrupt, SystemExit) as fatal:
            self._finish(_FINISHED, None, fatal)
            raise
        except BaseException as error:
            self._finish(_FINISHED, None, error)
        else:
            self._handle_yield(result)
        if not cython.compiled:
            # As asyncio: this frame is in the traceback of an exception the coroutine
            # raised, which the task keeps, and so are its callers (a frame keeps its f_back):
            # in pure Python none of them may refer to the task, or the pool, which recycles
            # a task only when nothing else refers to it, never could.
            self = None  # type: ignore[assignment]  # noqa: PLW0642

    def _coro_returned(self, value: Any) -> None:
        if self._must_cancel:
            # Cancelled right before the coroutine returned.
            self._must_cancel = False
            self._finish(_CANCELLED, None, None)
        else:
            self._finish(_FINISHED, value, None)

    def _handle_yield(self, result: Any) -> None:
        if result is None:
            # A bare yield gives up the loop for one iteration.
            self._schedule_step(None)
            return
        blocking = getattr(result, "_asyncio_future_blocking", None)
        if blocking is None:
            if _isgenerator(result):
                error = RuntimeError(
                    f"yield was used instead of yield from for generator in task {self!r} "
                    f"with {result!r}"
                )
            else:
                error = RuntimeError(f"Task got bad yield: {result!r}")
        elif _compat.future_loop(result) is not self._loop:
            error = RuntimeError(
                f"Task {self!r} got Future {result!r} attached to a different loop"
            )
        elif not blocking:
            error = RuntimeError(
                f"yield was used instead of yield from in task {self!r} with {result!r}"
            )
        elif result is self:
            error = RuntimeError(f"Task cannot await on itself: {self!r}")
        else:
            result._asyncio_future_blocking = False
            result.add_done_callback(self, context=self._context)
            self._fut_waiter = result
            if self._must_cancel and result.cancel(msg=self._cancel_message):
                self._must_cancel = False
            return
        self._schedule_step(error)

    def _wakeup(self, future: Any) -> None:
        if self._st != _PENDING:
            return
        try:
            future.result()
        except BaseException as exc:
            self._step(exc)
        else:
            self._step(None)
        if not cython.compiled:
            self = None  # type: ignore[assignment]  # noqa: PLW0642  (as in _step_run)

    # -------------------------------------------------------------- completion

    def _finish(self, state: int, result: Any, exception: Any) -> None:
        self._st = state
        self._result = result
        self._exception = exception
        if exception is not None:
            self._log_traceback = True
        self._owner._task_done(self)
        if (self._cb_fn is not None or self._callbacks
                or (self._detached and self._log_traceback)):
            # Done callbacks, and the report of a detached task's exception, run from a
            # queued call outside this task's context (since 3.12 the loop runs a custom
            # exception handler inside context['task'].get_context(), which is entered now).
            self._callbacks_queued = True
            handle = _new_handle(self._loop, self, (), self._owner._context)
            core: LoopCore = self._loop
            core._push(handle)
        elif self._detached:
            self._release()

    def _run_callbacks(self) -> None:
        # All done callbacks from one queued call, each in its own context, in the order they
        # were added; an exception in one goes to the exception handler and the rest still run.
        # The task counts as released-able from here on: a waiter woken by a callback that
        # collects the outcome (``await handle``) frees the slot at once.
        fn = self._cb_fn
        ctx = self._cb_ctx
        rest = self._callbacks
        self._cb_fn = None
        self._cb_ctx = None
        self._callbacks = None
        self._callbacks_queued = False
        if fn is not None:
            self._run_callback(fn, ctx)
        if rest:
            for fn, ctx in rest:
                self._run_callback(fn, ctx)
        if self._detached:
            self._release()
        if not cython.compiled:
            # A woken awaiter's exception traceback reaches this frame (f_back): see _step_run.
            self = None  # type: ignore[assignment]  # noqa: PLW0642

    def _run_callback(self, fn: Any, ctx: Any) -> None:
        try:
            if cython.compiled:
                _run_in_context(ctx, fn, (self,))  # type: ignore[name-defined]  # noqa: F821
            else:
                ctx.run(fn, self)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            source = _compat.format_callback_source(fn, (self,), self._loop.get_debug())
            self._loop.call_exception_handler({
                "message": f"Exception in callback {source}",
                "exception": exc,
                "task": self,
            })
        if not cython.compiled:
            self = None  # type: ignore[assignment]  # noqa: PLW0642  (see _run_callbacks)

    def _release(self) -> None:
        """The join handle is done with the (done) task: report an exception nobody retrieved,
        and give a pooled task's slot back (after its done callbacks have run; the task object
        itself is recycled once nothing else refers to it, see ``TaskPool``)."""
        if self._callbacks_queued or self._released:
            return
        self._released = True
        if self._log_traceback:
            self._log_traceback = False
            self._loop.call_exception_handler({
                "message": "Exception in detached task (its JoinHandle was dropped or detached "
                           "and nobody retrieved the exception)",
                "exception": self._exception,
                "task": self,
            })
        self._owner._task_released(self)


if not cython.compiled:
    # asyncio.isfuture() looks for this name on the class: compiled, the .pxd's public field is
    # a class-level descriptor; as pure Python it must be a class attribute.
    RuntimeTask._asyncio_future_blocking = False


def _new_runtime_task(owner: Any, loop: Any) -> RuntimeTask:
    """A task object in the FREE state, bound to ``loop`` and to its owner (a pool, or the
    loop's runtime state for unpooled tasks)."""
    if cython.compiled:
        task = RuntimeTask.__new__(RuntimeTask)
    else:
        task = object.__new__(RuntimeTask)
    task._loop = loop
    task._owner = owner
    task._generation = 0
    task._asyncio_future_blocking = False
    task._cb_fn = None
    task._cb_ctx = None
    task._callbacks = None
    task._callbacks_queued = False
    task._name_id = 0
    task._source_traceback = None
    _reset(task)  # every per-use field, as when a pooled task is given back
    task._log_destroy_pending = True
    return task


def _start(task: RuntimeTask, coro: Any, name: Any, context: Any) -> None:
    """Put a FREE or CLAIMED task to work on ``coro`` and schedule its first step."""
    task._st = _PENDING
    task._generation += 1
    task._coro = coro
    task._context = _copy_context() if context is None else context
    task._name = None if name is None else str(name)
    global _task_count
    _task_count += 1
    task._name_id = _task_count
    task._detached = False
    task._schedule_step(None)


def _reset(task: RuntimeTask) -> None:
    """Drop everything a finished task refers to (it goes back to its pool)."""
    task._st = _FREE
    task._result = None
    task._exception = None
    task._log_traceback = False
    task._cancel_message = None
    task._cancelled_exc = None
    task._coro = None
    task._context = None
    task._name = None
    task._fut_waiter = None
    task._must_cancel = False
    task._num_cancels_requested = 0
    task._detached = False
    task._released = False


def _check_coro(coro: Any) -> None:
    if not _is_coroutine(coro):
        raise TypeError(f"a coroutine was expected, got {coro!r}")


# ------------------------------------------------------------------------ join handles

_OUT_NONE = 0
_OUT_RESULT = 1
_OUT_ERROR = 2


@cython.freelist(1024)
@cython.no_gc_clear  # __dealloc__ needs _task, also when the handle dies in a collected cycle
@cython.cclass
class JoinHandle:
    """The handle of a spawned task: ``await`` it for the task's result.

    * ``await handle`` returns the result or raises the task's exception (``CancelledError``
      when it was cancelled). A handle may be awaited any number of times, as an
      ``asyncio.Task`` may: the outcome is kept in the handle. Cancelling the task that awaits
      a handle cancels the spawned task too, exactly as awaiting an ``asyncio.Task`` does; wrap
      it in ``asyncio.shield`` to wait without that.
    * ``detach()`` (or dropping the last reference to the handle) lets the task run on; its
      result is discarded, and an exception nobody retrieved goes to the loop's exception
      handler.
    * ``abort()`` cancels the task (asyncio cancellation: its ``finally`` blocks run).
    * ``is_finished()`` says whether the task is done.

    Example::

        handle = nexusloop.spawn(fetch(url))
        ...
        body = await handle
    """

    _task: RuntimeTask | None
    _generation: int
    _outcome: int
    _value: Any

    def __init__(self) -> None:
        raise TypeError("JoinHandle objects are made by nexusloop.spawn() and spawn_slab()")

    def _live_task(self) -> Any:
        task = self._task
        if task is not None and task._generation == self._generation:
            return task
        return None

    def _collect(self) -> None:
        """Move the outcome of the (done) task into the handle and release the task."""
        task: RuntimeTask = self._task  # type: ignore[assignment]  # the caller checked
        self._task = None
        if task._st == _CANCELLED:
            self._outcome = _OUT_ERROR
            self._value = task._make_cancelled_error()
        elif task._exception is not None:
            self._outcome = _OUT_ERROR
            self._value = task._exception
            task._log_traceback = False
        else:
            self._outcome = _OUT_RESULT
            self._value = task._result
        task._detached = True
        task._release()

    def _deliver(self) -> Any:
        if self._outcome == _OUT_ERROR:
            raise self._value
        return self._value

    def __await__(self) -> Any:
        # A generator per await: several awaiters (and repeated awaits) are fine, and a
        # generator's return is cheaper than raising StopIteration from __next__ in compiled
        # code. While the task is pending this yields the task itself, which the awaiting task
        # waits on as on a future (so cancelling the awaiter cancels the task, as in asyncio).
        if self._outcome == _OUT_NONE:
            task: RuntimeTask | None = self._live_task()
            if task is None:
                raise RuntimeError("cannot await a detached JoinHandle")
            while task._st == _PENDING:
                task._asyncio_future_blocking = True
                try:
                    yield task
                except BaseException:
                    # The task's own exception thrown back in, or the awaiter's cancellation.
                    if self._task is task and task._st != _PENDING:
                        self._collect()
                    # This frame is in the exception's traceback: it must not keep the task
                    # (which the pool recycles only when nothing else refers to it).
                    task = None
                    raise
            if self._task is task:
                self._collect()
            task = None
        return self._deliver()

    def is_finished(self) -> bool:
        """Whether the task is done (returned, raised or was cancelled)."""
        if self._outcome != _OUT_NONE:
            return True
        task = self._live_task()
        return task is None or task._st != _PENDING

    def abort(self) -> bool:
        """Cancel the task (``Task.cancel()``); False if it is already done or detached."""
        task = self._live_task()
        if task is None:
            return False
        return task.cancel()  # type: ignore[no-any-return]

    def detach(self) -> None:
        """Let the task run on without this handle; its output is discarded."""
        task = self._live_task()
        self._task = None
        if task is None:
            return
        task._detached = True
        if task._st != _PENDING:
            task._release()

    def __dealloc__(self) -> None:
        # Dropping the handle detaches the task. Compiled this is tp_dealloc, not __del__:
        # CPython runs a __del__ once per object (a flag in the GC header), and a handle from
        # the freelist would keep that flag from its previous life. In pure Python it is
        # installed as __del__ below.
        task = self._task
        if task is not None and task._owner is not None:  # (None: cleared by a collection)
            self.detach()

    def __repr__(self) -> str:
        if self._outcome == _OUT_RESULT:
            state = "finished"
        elif self._outcome == _OUT_ERROR:
            state = f"finished exception={self._value!r}"
        else:
            task = self._live_task()
            state = "detached" if task is None else repr(task)
        return f"<JoinHandle {state}>"


def _new_join_handle(task: RuntimeTask) -> JoinHandle:
    if cython.compiled:
        handle = JoinHandle.__new__(JoinHandle)
    else:
        handle = object.__new__(JoinHandle)
    handle._task = task
    handle._generation = task._generation
    handle._outcome = _OUT_NONE
    handle._value = None
    return handle


# --------------------------------------------------------------------------- the pool

@cython.cclass
class TaskOwner:
    """What a task reports to: the pool it came from, or the spawner of unpooled tasks."""

    _loop: Any
    # The context the owner's internal calls run in (done callbacks, pool sweeps): one per
    # loop, never a task's (see RuntimeTask._finish).
    _context: Any

    def _task_done(self, task: RuntimeTask) -> None:
        """The task just finished (before its done callbacks run)."""

    def _task_released(self, task: RuntimeTask) -> None:
        """Nobody can ask for the task's outcome through its handle any more."""


def _referenced_elsewhere(task: RuntimeTask) -> bool:
    """Whether anything refers to a released ``task`` but the pool's set of its tasks and
    the caller's local variable (``TaskPool._sweep``)."""
    if cython.compiled:
        return _refcount(task) > 2  # type: ignore[name-defined,no-any-return]  # noqa: F821
    return _sys.getrefcount(task) > 4  # + this call's argument and getrefcount's own


@cython.cclass
class TaskPool(TaskOwner):
    """The slab: runtime tasks recycled from one spawn to the next, and the slot count.

    ``capacity`` > 0 bounds the tasks in use (the *slots*): a spawn on a full pool raises
    :class:`SlabFullError` (or waits, with ``claim_slab``); ``capacity`` tasks are made up
    front. ``capacity`` == 0: the pool grows on demand and never shrinks.

    Task objects are recycled only when nothing outside the runtime refers to them any more.
    A released task (its handle collected the outcome, or was detached or dropped) goes to
    ``_released``. A sweep - when a spawn finds no free task, and from a queued call once
    ``_SWEEP_AFTER`` released tasks wait - takes those released by callbacks that have returned
    (the running one still refers to what it released), resets the ones nobody else refers to
    (dropping result, exception, coroutine and context) for the next spawn, and lets go of the
    others:
    they stay as they are, done with their outcome, for whoever holds them (the runner's
    shutdown reading ``cancelled()``, a saved ``current_task()``, an exception whose traceback
    keeps a frame that refers to the task), and die as any object does. So a task object
    never changes under its holder's hands. A slot is free as soon as its task is released;
    a spawn that finds no reset task makes one (the pool keeps it: in the steady state a
    spawn allocates nothing).
    """

    _capacity: int
    _in_use: int
    _made: int
    _all: set[RuntimeTask]
    _free: list[RuntimeTask]
    # Released tasks waiting for a sweep, in release order: a ring (no allocation per use),
    # the live entries between the absolute counters head and tail.
    _released: list[Any]
    _rel_head: int
    _rel_tail: int
    _sweep_queued: bool
    _claim_waiters: deque[Any] | None

    def __init__(self, loop: Any, capacity: int, context: Any) -> None:
        if capacity < 0:
            raise ValueError("slab capacity must be >= 0 (0 means growing)")
        self._loop = loop
        self._context = context
        self._capacity = capacity
        self._in_use = 0
        self._made = 0
        self._all = set()
        self._free = []
        self._released = [None] * 16
        self._rel_head = 0
        self._rel_tail = 0
        self._sweep_queued = False
        self._claim_waiters = None
        for _ in range(capacity):
            self._free.append(self._make())

    def _make(self) -> RuntimeTask:
        task = _new_runtime_task(self, self._loop)
        # Registered once for its whole life: asyncio's registry is a WeakSet and lists a
        # task only while it is not done (a FREE task reports done()).
        _register_task(task)
        # Held until recycled no more: a detached task waiting on a future nobody else holds
        # must not be garbage collected while it is pending.
        self._all.add(task)
        self._made += 1
        return task

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def size(self) -> int:
        """Task objects the pool holds (in use, released, free)."""
        return len(self._all)

    @property
    def in_use(self) -> int:
        """Slots taken: tasks spawned and not released yet, and unused claims."""
        return self._in_use

    def _take_slot(self) -> bool:
        if self._capacity and self._in_use >= self._capacity:
            return False
        self._in_use += 1
        return True

    def _return_slot(self) -> None:
        waiters = self._claim_waiters
        while waiters:
            # Hand the slot straight to the first claim still waiting.
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(_new_claim(self))
                return
        self._in_use -= 1

    def _task_for_slot(self) -> RuntimeTask:
        """A FREE task object for a slot just taken."""
        free = self._free
        if not free:
            core: LoopCore = self._loop
            self._sweep(core._rq_head)
            if not free:
                return self._make()
        task: RuntimeTask = free.pop()
        return task

    def _task_released(self, task: RuntimeTask) -> None:
        if self._all is None:
            return  # the loop and its pool are being garbage collected (fields cleared)
        core: LoopCore = self._loop
        # The loop's count of callbacks started: the callback running now has this number.
        task._release_tick = core._rq_head
        released = self._released
        mask = len(released) - 1
        if self._rel_tail - self._rel_head > mask:
            released = self._grow_released()
            mask = len(released) - 1
        released[self._rel_tail & mask] = task
        self._rel_tail += 1
        if self._rel_tail - self._rel_head >= _SWEEP_AFTER and not self._sweep_queued:
            # Spawns sweep as they need tasks; this bounds what waits when nobody spawns.
            self._sweep_queued = True
            core._push(_new_handle(self._loop, self, (), self._context))
        self._return_slot()

    def __call__(self) -> None:
        # The queued sweep: everything released before this callback started.
        self._sweep_queued = False
        self._sweep(cython.cast(LoopCore, self._loop)._rq_head)

    def _sweep(self, before: int) -> None:
        """Recycle (or let go of) the tasks released by callbacks that started before the
        callback numbered ``before``: those have returned, so a reference count above the
        pool's own is someone else's. (A task released by the running callback is still
        referred to by it: `await handle` returns inside the finished task's own queued
        done-callback run.)"""
        released = self._released
        mask = len(released) - 1
        head = self._rel_head
        tail = self._rel_tail
        while head != tail:
            task = released[head & mask]
            if task._release_tick >= before:
                break
            released[head & mask] = None
            head += 1
            if _referenced_elsewhere(task):
                self._all.discard(task)
            else:
                _reset(task)
                self._free.append(task)
        self._rel_head = head

    def _grow_released(self) -> list[Any]:
        old = self._released
        old_mask = len(old) - 1
        new: list[Any] = [None] * (2 * len(old))
        new_mask = len(new) - 1
        for i in range(self._rel_head, self._rel_tail):
            new[i & new_mask] = old[i & old_mask]
        self._released = new
        return new

    def __repr__(self) -> str:
        kind = f"capacity={self._capacity}" if self._capacity else "growing"
        return f"<TaskPool {kind} in_use={self._in_use} size={len(self._all)}>"


# --------------------------------------------------------------------------- claims

@cython.freelist(256)
@cython.no_gc_clear  # __dealloc__ needs _pool
@cython.cclass
class SlabClaim:
    """A reserved slot of the task pool: ``spawn(coro)`` runs a coroutine in it.

    A claim that is released (``release()``, leaving its ``with`` block, or being garbage
    collected) without spawning gives its slot back. Spawning twice raises ``RuntimeError``.

    Example::

        claim = nexusloop.try_claim_slab()
        if claim is None:
            reject(connection)          # admission control: full, refuse before any work
        else:
            claim.spawn(serve(connection))
    """

    _pool: TaskPool | None

    def __init__(self) -> None:
        raise TypeError("SlabClaim objects are made by claim_slab() and try_claim_slab()")

    def spawn(self, coro: Any, *, name: Any = None, context: Any = None) -> JoinHandle:
        """Run ``coro`` in the reserved slot; return its :class:`JoinHandle`."""
        pool: TaskPool | None = self._pool
        if pool is None:
            if _is_coroutine(coro):
                coro.close()
            raise RuntimeError("this slab claim was already used or released")
        _check_coro(coro)
        if pool._loop.is_closed():
            coro.close()
            raise RuntimeError("cannot spawn: the event loop is closed")
        self._pool = None
        task = pool._task_for_slot()
        _start(task, coro, name, context)
        return _new_join_handle(task)

    def release(self) -> None:
        """Give the slot back without spawning (no-op after ``spawn`` or a release)."""
        pool = self._pool
        if pool is not None:
            self._pool = None
            pool._return_slot()

    @property
    def used(self) -> bool:
        return self._pool is None

    def __enter__(self) -> SlabClaim:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    def __dealloc__(self) -> None:
        # A claim collected unused gives its slot back (tp_dealloc compiled, as JoinHandle's;
        # __del__ in pure Python).
        if self._pool is not None:
            self.release()

    def __repr__(self) -> str:
        return f"<SlabClaim {'used' if self._pool is None else 'reserved'}>"


def _new_claim(pool: TaskPool) -> SlabClaim:
    if cython.compiled:
        claim = SlabClaim.__new__(SlabClaim)
    else:
        claim = object.__new__(SlabClaim)
    claim._pool = pool
    return claim


if not cython.compiled:
    # Pure Python: the finalizers are __del__; the class-level defaults serve objects refused
    # by __init__ (their __del__ still runs).
    JoinHandle.__del__ = JoinHandle.__dealloc__  # type: ignore[attr-defined]
    SlabClaim.__del__ = SlabClaim.__dealloc__  # type: ignore[attr-defined]
    JoinHandle._task = None
    SlabClaim._pool = None
    RuntimeTask._st = _FREE


# ------------------------------------------------------------------- unpooled tasks

@cython.cclass
class Spawner(TaskOwner):
    """Per-loop runtime state: the pool (made on first use) and the unpooled running tasks.

    Unpooled (``spawn``) tasks are fresh objects; the spawner holds them until they are done,
    so a detached task cannot be garbage collected while it runs.
    """

    _slab_capacity: int
    _pool: TaskPool | None
    _running: set[RuntimeTask]

    def __init__(self, loop: Any, slab: int) -> None:
        self._loop = loop
        self._context = _Context()
        self._slab_capacity = slab
        self._pool = None
        self._running = set()

    def _get_pool(self) -> TaskPool:
        if self._pool is None:
            self._pool = TaskPool(self._loop, self._slab_capacity, self._context)
        return self._pool  # type: ignore[no-any-return]

    def _task_done(self, task: RuntimeTask) -> None:
        self._running.discard(task)

    def spawn(self, coro: Any, name: Any, context: Any) -> JoinHandle:
        task = _new_runtime_task(self, self._loop)
        _start(task, coro, name, context)
        _register_task(task)
        self._running.add(task)
        return _new_join_handle(task)

    def spawn_slab(self, coro: Any, name: Any, context: Any) -> JoinHandle:
        pool = self._pool
        if pool is None:
            pool = self._get_pool()
        if not pool._take_slot():
            coro.close()
            raise SlabFullError(
                f"the task slab is full ({pool._capacity} tasks in use): await claim_slab() "
                "to wait for a slot, use try_claim_slab() to refuse work early, or make the "
                "slab larger (LoopOptions.slab; 0 grows without bound)"
            )
        task = pool._task_for_slot()
        _start(task, coro, name, context)
        return _new_join_handle(task)


# Released tasks waiting for a sweep keep their outcome and coroutine: at most this many.
_SWEEP_AFTER = 16


class SlabFullError(RuntimeError):
    """``spawn_slab`` on a bounded task slab whose every slot is in use."""


# ------------------------------------------------------------------ the public calls

def _loop_spawner(core: LoopCore) -> Spawner:
    """The loop's runtime state, made on first use with the loop's slab option."""
    spawner = core._spawner
    if spawner is None:
        options = getattr(core, "options", None)
        spawner = Spawner(core, 0 if options is None else options.slab)
        core._spawner = spawner
    return spawner  # type: ignore[no-any-return]


def _spawner(coro: Any, what: str) -> Spawner:
    """The running nexusloop loop's spawner; TypeError/RuntimeError (closing ``coro``)."""
    if not _is_coroutine(coro):
        raise TypeError(f"a coroutine was expected, got {coro!r}")
    loop = _get_running_loop()
    if loop is None or not isinstance(loop, LoopCore):
        coro.close()
        if loop is None:
            raise RuntimeError(
                f"{what}() needs a running nexusloop event loop: call it from a coroutine run "
                "by nexusloop.run(), nexusloop.Runtime().block_on() or "
                "asyncio.Runner(loop_factory=nexusloop.new_event_loop)"
            )
        raise RuntimeError(
            f"{what}() needs a running nexusloop event loop, and this one is "
            f"{type(loop).__module__}.{type(loop).__name__}: run the program on nexusloop "
            "(nexusloop.run(main())), or use asyncio.create_task() on other loops"
        )
    core: LoopCore = loop
    if core._closed:
        coro.close()
        raise RuntimeError(f"{what}(): the event loop is closed")
    spawner = _loop_spawner(core)
    return spawner  # type: ignore[no-any-return]


def spawn(coro: Any, *, name: Any = None, context: Any = None) -> JoinHandle:
    """Run ``coro`` as a new task on the running nexusloop loop; return its :class:`JoinHandle`.

    Like ``asyncio.create_task`` (same ``name`` and ``context`` arguments, a ``TypeError`` for
    a non-coroutine), with a join handle: dropping or detaching it lets the task run on.

    Example::

        handle = nexusloop.spawn(fetch(url))
        body = await handle
    """
    return _spawner(coro, "spawn").spawn(coro, name, context)


def spawn_slab(coro: Any, *, name: Any = None, context: Any = None) -> JoinHandle:
    """Run ``coro`` in a task from the loop's pre-allocated task pool (the slab).

    No task object is allocated: a finished one is reused. On a bounded slab
    (``LoopOptions.slab`` > 0) with every slot in use this raises :class:`SlabFullError`
    (and closes ``coro``): back-pressure. ``await claim_slab()`` waits for a slot instead.

    Example::

        handle = nexusloop.spawn_slab(on_tick(msg))
    """
    return _spawner(coro, "spawn_slab").spawn_slab(coro, name, context)


def _running_pool(what: str) -> TaskPool:
    loop = _get_running_loop()
    if loop is None or not isinstance(loop, LoopCore):
        raise RuntimeError(f"{what}() needs a running nexusloop event loop")
    core: LoopCore = loop
    spawner = _loop_spawner(core)
    return spawner._get_pool()  # type: ignore[no-any-return]


def try_claim_slab() -> SlabClaim | None:
    """Reserve a slot of the task pool now, or return ``None`` when the slab is full.

    Example::

        claim = nexusloop.try_claim_slab()
        if claim is None:
            return refuse(conn)
        claim.spawn(serve(conn))
    """
    pool = _running_pool("try_claim_slab")
    if not pool._take_slot():
        return None
    return _new_claim(pool)


async def claim_slab() -> SlabClaim:
    """Reserve a slot of the task pool, waiting (FIFO) until one is free.

    Example::

        claim = await nexusloop.claim_slab()
        claim.spawn(job())
    """
    pool = _running_pool("claim_slab")
    if pool._take_slot():
        return _new_claim(pool)
    waiter = pool._loop.create_future()
    if pool._claim_waiters is None:
        pool._claim_waiters = deque()
    pool._claim_waiters.append(waiter)
    try:
        return await waiter  # type: ignore[no-any-return]
    except BaseException:
        # Cancelled after a slot was handed over: the claim's release gives it back.
        if waiter.done() and not waiter.cancelled():
            waiter.result().release()
        raise


def runtime_stats() -> dict[str, int]:
    """Counts of the running loop's runtime: pooled tasks made, in use, and unpooled running."""
    pool = _running_pool("runtime_stats")
    loop: LoopCore = pool._loop
    spawner: Spawner = loop._spawner
    return {
        "slab_capacity": pool._capacity,
        "slab_size": len(pool._all),
        "slab_in_use": pool._in_use,
        "slab_made": pool._made,
        "spawned_running": len(spawner._running),
    }


def task_factory(loop: Any, coro: Any, **kwargs: Any) -> RuntimeTask:
    """A task factory (``loop.set_task_factory(task_factory)``) making ``create_task`` run
    coroutines as :class:`RuntimeTask` objects, for measurement and conformance runs only:
    not the default (``docs/runtime.md`` says why: it is not fully compatible)."""
    if not _is_coroutine(coro):
        raise TypeError(f"a coroutine was expected, got {coro!r}")
    core: LoopCore = loop
    spawner = _loop_spawner(core)
    task = _new_runtime_task(spawner, loop)
    _start(task, coro, kwargs.get("name"), kwargs.get("context"))
    _register_task(task)
    return task

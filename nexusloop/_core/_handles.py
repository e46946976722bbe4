"""Callback handles: what ``call_soon`` and ``call_at`` return and what the loop runs.

A handle is the unit of work of the loop: a callable, its positional arguments and the
``contextvars.Context`` to run it in. The loop's ready queue holds handles; the timer wheel holds
timer handles. Both classes follow ``asyncio.Handle`` / ``asyncio.TimerHandle`` in behaviour
(``cancel``, ``cancelled``, ``get_context``, ``when``, ordering, ``repr``), because user code and
asyncio's own modules rely on those details.

Design notes:

* Compiled, both classes are extension types with a freelist, so creating a handle per
  ``call_soon`` does not go to the allocator in the steady state.
* A timer handle carries the timer wheel's bookkeeping itself (its bucket and its position in
  that bucket), so cancelling is O(1): the handle unlinks itself from the bucket it sits in. The
  wheel class derives from :class:`WheelBase` declared here, which breaks the import cycle
  between handles and wheel while keeping the unlink a direct (C-level) call.
* Running a handle enters its context and calls the callback with the stored argument tuple;
  no tuple is built per run. Exceptions other than ``SystemExit``/``KeyboardInterrupt`` go to the
  loop's exception handler, as asyncio does.

Contexts
--------
asyncio copies the caller's ``contextvars.Context`` for every ``call_soon``/``call_later``
without ``context=``: a new GC-tracked object per callback, freed after the run, and the
main source of garbage-collector work when many callbacks are scheduled (each young
collection traverses every copy still queued). A copy is only a new object around the
caller's *variables*, an immutable mapping (a HAMT) that the copy shares. Compiled, a handle
stores that mapping instead (``_vars``, one reference, no allocation) and runs in a single
reusable Context, the *scratch*, given the handle's variables for the duration of the run.
Nothing can tell the difference:

* the callback sees the variables the caller had (the mapping is immutable, and a later
  ``var.set()`` by the caller makes a new one); what the callback sets stays in its own run,
  and is kept as the handle's variables afterwards, as it stays in asyncio's copy;
* no code can reach the context that is running except through ``get_context()``, which
  makes the handle's own Context from its variables, once, and the handle then runs in it
  (so identity and later changes are as asyncio's: the same object every time);
* the scratch is entered only when it is free; a run that finds it entered (another loop's
  thread, a nested run) uses the handle's own Context.

This reads CPython's ``PyContext`` layout (unchanged 3.11-3.14); a check at import falls back
to copying, as asyncio does, if it ever differs. Pure Python copies.
"""
from __future__ import annotations

from typing import Any

from nexusloop import _compat

try:
    import cython
except ImportError:  # pragma: no cover - exercised on machines without Cython
    from nexusloop._core import _cyshim as cython  # type: ignore[no-redef]


class WheelBase:
    """Interface the timer wheel implements for the handles it stores."""

    def _unlink(self, timer: TimerHandle) -> None:
        raise NotImplementedError



# The freelist keeps recently freed handles for reuse: no allocator call per call_soon.
@cython.freelist(4096)
@cython.cclass
class Handle:
    """Object returned by callback registration methods (``asyncio.Handle`` semantics)."""

    def __init__(self, callback: Any, args: Any, loop: Any, context: Any = None) -> None:
        self._ctx: Any = None  # the Context to run in (given, or made from _vars), or None
        self._vars: Any = None  # the caller's context variables (compiled), or None
        _capture(self, context)
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr: str | None = None
        self._source_traceback: Any = None
        self._queued_at = 0.0  # set when queued (loop.stats() ready delay)
        if loop is not None and loop.get_debug():
            self._source_traceback = _compat.extract_stack(_getframe(1))

    def _repr_info(self) -> list[str]:
        info = [self.__class__.__name__]
        if self._cancelled:
            info.append("cancelled")
        if self._callback is not None:
            info.append(_compat.format_callback_source(
                self._callback, self._args, self._loop.get_debug()))
        if self._source_traceback:
            frame = self._source_traceback[len(self._source_traceback) - 1]
            info.append(f"created at {frame[0]}:{frame[1]}")
        return info

    def __repr__(self) -> str:
        if self._repr is not None:
            return self._repr
        info = self._repr_info()
        return "<{}>".format(" ".join(info))

    def get_context(self) -> Any:
        if self._ctx is None:
            return self._materialize()
        return self._ctx

    @property
    def _context(self) -> Any:
        """asyncio's attribute name for the handle's context (read-only here)."""
        return self.get_context()

    def _materialize(self) -> Any:
        # The handle's own Context, made from its variables snapshot (compiled only).
        if self._ctx is None:
            ctx = PyContext_New()  # type: ignore[name-defined]  # noqa: F821
            _swap_vars(ctx, self._vars)  # type: ignore[name-defined]  # noqa: F821
            self._ctx = ctx
            self._vars = None
        return self._ctx

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            if self._loop is not None and self._loop.get_debug():
                # Keep a representation for debugging: callback and arguments are dropped.
                self._repr = repr(self)
            self._callback = None
            self._args = None

    def cancelled(self) -> bool:
        return self._cancelled

    def _run(self) -> None:
        if cython.compiled:
            # No try block on the way (its exception-state bookkeeping is a tenth of a short
            # callback's cost): the C helpers take what the callback raised out of the thread
            # state, and _failed handles it as the except clauses below do.
            if self._vars is not None:
                _run_in_scratch(self)  # type: ignore[name-defined]  # noqa: F821
            else:
                _run_in(self._ctx, self._callback, self._args, cython.address(failure))  # type: ignore[name-defined]  # noqa: F821
                if failure:  # type: ignore[name-defined]  # noqa: F821
                    _failed(self, _steal(failure))  # type: ignore[name-defined]  # noqa: F821
            return
        try:
            self._ctx.run(self._callback, *self._args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report(exc)
        # As asyncio: this frame, kept alive by a reported exception's traceback, must not
        # keep the handle (and the task it steps) alive too.
        self = None  # type: ignore[assignment]  # noqa: PLW0642

    def _report(self, exc: BaseException) -> None:
        cb = _compat.format_callback_source(self._callback, self._args, self._loop.get_debug())
        context = {
            "message": f"Exception in callback {cb}",
            "exception": exc,
            "handle": self,
        }
        if self._source_traceback:
            context["source_traceback"] = self._source_traceback
        self._loop.call_exception_handler(context)



class TimerHandle(Handle):
    """Object returned by ``call_later``/``call_at`` (``asyncio.TimerHandle`` semantics)."""

    def __init__(
        self, when: float, callback: Any, args: Any, loop: Any, context: Any = None
    ) -> None:
        Handle.__init__(self, callback, args, loop, context)
        if self._source_traceback:
            self._source_traceback.pop()
        self._when = when
        self._seq = 0
        self._bucket: list[Any] | None = None
        self._pos = 0
        self._wheel: WheelBase | None = None
        self._scheduled = False

    def _repr_info(self) -> list[str]:
        info = Handle._repr_info(self)
        pos = 2 if self._cancelled else 1
        info.insert(pos, f"when={self._when}")
        return info

    def __hash__(self) -> int:
        return hash(self._when)

    def __lt__(self, other: object) -> bool:
        if isinstance(other, TimerHandle):
            return self._when < other._when
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, TimerHandle):
            return self._when < other._when or self.__eq__(other)
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, TimerHandle):
            return self._when > other._when
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, TimerHandle):
            return self._when > other._when or self.__eq__(other)
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TimerHandle):
            return (
                self._when == other._when
                and self._callback == other._callback
                and self._args == other._args
                and self._cancelled == other._cancelled
            )
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return NotImplemented if equal is NotImplemented else not equal

    def cancel(self) -> None:
        if not self._cancelled:
            wheel = self._wheel
            if wheel is not None:
                wheel._unlink(self)
            Handle.cancel(self)

    def when(self) -> float:
        """Return the scheduled time as a float (in ``loop.time()`` seconds)."""
        return self._when


def _new_handle(loop: Any, callback: Any, args: Any, context: Any) -> Handle:
    """Fast constructor used by the loop (no debug bookkeeping: the loop handles that)."""
    global _pooled
    if cython.compiled:
        # A recycled handle (see _recycle) or a new one: either way every field is in its
        # initial state (None, False, 0) but the four set here.
        if _pooled:
            _pooled -= 1
            handle = cython.cast(Handle, _slot_take(_pool, _pooled))  # type: ignore[name-defined]  # noqa: F821
        else:
            handle = Handle.__new__(Handle)
    else:
        handle = object.__new__(Handle)
        handle._cancelled = False
        handle._repr = None
        handle._source_traceback = None
        handle._queued_at = 0.0
    if cython.compiled and context is None and _snapshots:
        # _capture's common case, inlined: a new or recycled handle's _ctx is None already.
        snapshot = _current_vars()  # type: ignore[name-defined]  # noqa: F821
        if snapshot:  # type: ignore[name-defined]  # noqa: F821
            handle._vars = cython.cast(object, snapshot)  # type: ignore[name-defined]  # noqa: F821
        else:
            _capture(handle, context)
    else:
        _capture(handle, context)
    handle._loop = loop
    handle._callback = callback
    handle._args = args
    return handle


def _recycle(handle: Handle) -> int:
    """Keep a plain handle that has run and that nothing else references (the loop checked
    its reference count) for the next :func:`_new_handle`.

    Nobody can observe the reuse: no reference to the handle exists outside the loop, and
    handles take no weak references. What it saves is the handle's life cycle per callback:
    deallocation, allocation and the garbage collector's untrack/track; and a recycled
    handle, long-lived, is not new work for each young collection as a fresh one is. It
    drops what it refers to at once, as a freed handle would.
    """
    global _pooled
    if _pooled < _POOL_SIZE:
        # Releasing what it refers to can run finalizers, which can schedule or recycle (in
        # this thread or, through the GIL, another loop's): they cannot reach this handle
        # (only the caller references it), but they can fill the pool, so it is looked at
        # again once everything is released.
        handle._callback = None
        handle._args = None
        if handle._ctx is not None:  # a snapshot handle has none
            handle._ctx = None
        handle._vars = None
        handle._loop = None  # the running loop: releasing it frees nothing
        handle._cancelled = False
        if handle._repr is not None:  # debug mode only (strings, stack summaries)
            handle._repr = None
        if handle._source_traceback is not None:
            handle._source_traceback = None
        if _pooled < _POOL_SIZE:
            _slot_put(_pool, _pooled, handle)  # type: ignore[name-defined]  # noqa: F821
            _pooled += 1
    return 0


def _new_timer(when: float, loop: Any, callback: Any, args: Any, context: Any) -> TimerHandle:
    """Fast constructor for timer handles (no debug bookkeeping)."""
    if cython.compiled:
        timer = TimerHandle.__new__(TimerHandle)
    else:
        timer = object.__new__(TimerHandle)
    _capture(timer, context)
    timer._loop = loop
    timer._callback = callback
    timer._args = args
    timer._cancelled = False
    timer._repr = None
    timer._source_traceback = None
    timer._when = when
    timer._seq = 0
    timer._bucket = None
    timer._pos = 0
    timer._wheel = None
    timer._scheduled = False
    return timer


def _capture(handle: Handle, context: Any) -> int:
    """Set where the handle's callback runs: ``context``, else the caller's context (a
    snapshot of its variables when compiled and the layout check passed, else a copy)."""
    if context is None:
        if cython.compiled and _snapshots:
            vars = _current_vars()  # type: ignore[name-defined]  # noqa: F821
            if vars:  # NULL: the thread has no context yet (the copy below makes it)
                handle._vars = cython.cast(object, vars)
                handle._ctx = None
                return 0
        context = _copy_context()
    handle._ctx = context
    handle._vars = None
    return 0


def _run_in_scratch(handle: Handle) -> int:
    """Run a snapshot handle in the scratch Context (compiled only; see "Contexts")."""
    scratch = _scratch
    if _entered(scratch):  # type: ignore[name-defined]  # noqa: F821
        # A run in progress (another loop's thread, a nested run): the handle's own Context.
        _run_in(handle._materialize(), handle._callback, handle._args, cython.address(failure))  # type: ignore[name-defined]  # noqa: F821
    else:
        # The scratch holds an empty context's variables between runs and holds them again
        # when this returns (before anything is released: a finalizer could switch threads).
        # What the callback set stays the handle's variables, as asyncio's copy keeps it.
        after = _run_snapshot(scratch, handle._vars, handle._callback, handle._args,  # type: ignore[name-defined]  # noqa: F821
                              cython.address(failure))  # type: ignore[name-defined]  # noqa: F821
        if after is not handle._vars:
            if handle._ctx is not None:  # get_context() was called during the run
                _swap_vars(handle._ctx, after)  # type: ignore[name-defined]  # noqa: F821
            else:
                handle._vars = after
    if failure:  # type: ignore[name-defined]  # noqa: F821
        _failed(handle, _steal(failure))  # type: ignore[name-defined]  # noqa: F821
    return 0


def _failed(handle: Handle, exc: BaseException) -> int:
    """What a compiled handle's callback raised (taken out of the thread state): raised again
    in a try block, so that the report runs inside ``except`` as asyncio's does
    (``sys.exc_info()`` is the exception there, for a handler that logs it)."""
    try:
        raise exc
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as error:
        handle._report(error)
    return 0


def _layout_holds() -> bool:
    """Whether CPython's PyContext layout is the one _handles.pxd reads (compiled only)."""
    if not cython.compiled:
        return False
    probe_var: Any = ContextVar("nexusloop_probe")
    probe = Context()
    probe.run(probe_var.set, 1)
    vars_ = cython.cast(object, _vars_of(probe))  # type: ignore[name-defined]  # noqa: F821
    copy = probe.copy()
    return (
        type(vars_).__name__ == "hamt"
        and len(vars_) == 1
        and vars_ is cython.cast(object, _vars_of(copy))  # type: ignore[name-defined]  # noqa: F821
        and not _is_entered(probe)
        and probe.run(_is_entered, probe)
    )


def _is_entered(ctx: Any) -> bool:
    return bool(_entered(ctx))  # type: ignore[name-defined]  # noqa: F821


from contextvars import Context, ContextVar  # noqa: E402
from contextvars import copy_context as _copy_context  # noqa: E402
from sys import _getframe  # noqa: E402

_snapshots = _layout_holds()
_POOL_SIZE = 1024
_pool: list[Any] = [None] * _POOL_SIZE
_pooled = 0
_scratch = Context()



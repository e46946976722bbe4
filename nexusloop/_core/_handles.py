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
        if context is None:
            context = _copy_context()
        self._context = context
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
        return self._context

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
        try:
            if cython.compiled:
                _run_in_context(self._context, self._callback, self._args)  # type: ignore[name-defined]  # noqa: F821
            else:
                self._context.run(self._callback, *self._args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report(exc)
        if not cython.compiled:
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
    if cython.compiled:
        handle = Handle.__new__(Handle)
    else:
        handle = object.__new__(Handle)
    if context is None:
        context = _copy_context()
    handle._context = context
    handle._loop = loop
    handle._callback = callback
    handle._args = args
    handle._cancelled = False
    handle._repr = None
    handle._source_traceback = None
    handle._queued_at = 0.0
    return handle


def _new_timer(when: float, loop: Any, callback: Any, args: Any, context: Any) -> TimerHandle:
    """Fast constructor for timer handles (no debug bookkeeping)."""
    if cython.compiled:
        timer = TimerHandle.__new__(TimerHandle)
    else:
        timer = object.__new__(TimerHandle)
    if context is None:
        context = _copy_context()
    timer._context = context
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


from contextvars import copy_context as _copy_context  # noqa: E402
from sys import _getframe  # noqa: E402



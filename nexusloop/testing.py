"""Testing helpers: virtual time on a nexusloop loop.

Under a :class:`VirtualClock` the loop's clock (``loop.time()``, and so every ``sleep``,
``call_later``, ``asyncio.timeout``, ``wait_for``) is virtual: whenever the loop has nothing to
run and would park until its next timer, the clock *jumps* to that timer's deadline instead. A
test of a 30-second timeout finishes in milliseconds, and everything happens in the same order
as in real time (timers fire in deadline order, never early). No other loop does this natively:
``looptime`` patches the selector of stock asyncio, ``trio`` has ``MockClock``.

The rule: when does the clock jump?
===================================

The loop is idle (no callback ready) and would sleep until the next timer deadline:

* **nothing outside the loop is pending** (no fd watched besides the loop's own): the clock
  jumps to the deadline at once;
* **fds are watched** (sockets, pipes, servers): the loop first waits up to
  ``autojump_threshold`` *real* seconds (default 0.02) for I/O; if none comes, the clock jumps. A
  peer that answers within the threshold is seen before the jump, as it would be in real time;
  a slower peer sees time run ahead (as trio's ``MockClock(autojump_threshold=...)``);
* **work is running outside the loop and will report back**: executor jobs
  (``run_in_executor``, ``asyncio.to_thread``, ``getaddrinfo``) and child processes: the clock
  does not jump at all; time flows in real time until they are done, so a ``wait_for`` around
  a thread job never times out early because of the jump;
* **nothing can ever wake the loop** (no timer, no fd, nothing in flight): ``RuntimeError``
  ("the loop would wait forever"), instead of a test that hangs.

Threads the test starts itself and that call ``call_soon_threadsafe`` are invisible to the
loop: give them a timer to wait on, or a threshold long enough.

The clock only moves forward; real time keeps flowing underneath (``loop.time()`` is the
monotonic clock plus the virtual lead). :meth:`VirtualClock.advance` moves it by hand.

Use it from pytest (``nexusloop.pytest_plugin``: the ``virtual_clock`` fixture or
``@pytest.mark.nexusloop(virtual_time=True)``) or directly::

    loop = nexusloop.new_event_loop()
    with VirtualClock(loop):
        loop.run_until_complete(asyncio.sleep(3600))   # returns at once
"""
from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["DEFAULT_AUTOJUMP_THRESHOLD", "VirtualClock"]

#: Real seconds the loop waits for watched fds before a jump (see the module docstring).
DEFAULT_AUTOJUMP_THRESHOLD = 0.02


class VirtualClock:
    """Virtual time on a nexusloop loop (see the module docstring for the rule).

    ``VirtualClock(loop)`` switches it on (also usable as a context manager, which switches it
    off on exit); ``loop=None`` takes the running loop.

    Example::

        loop = nexusloop.new_event_loop()
        clock = VirtualClock(loop)
        t0 = loop.time()
        loop.run_until_complete(asyncio.sleep(30))
        assert loop.time() - t0 >= 30          # 30 virtual seconds, a few real milliseconds
        clock.close()
    """

    __slots__ = ("_loop",)

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        autojump_threshold: float = DEFAULT_AUTOJUMP_THRESHOLD,
    ) -> None:
        if loop is None:
            loop = asyncio.get_running_loop()
        from nexusloop.loop import Loop

        if not isinstance(loop, Loop):
            raise TypeError(
                f"virtual time needs a nexusloop loop, not {type(loop).__module__}."
                f"{type(loop).__qualname__}"
            )
        if loop.is_closed():
            raise RuntimeError("Event loop is closed")
        core: Any = loop
        if core._virtual:
            raise RuntimeError("this loop already runs on a virtual clock")
        self._loop: asyncio.AbstractEventLoop = loop
        self.autojump_threshold = autojump_threshold
        core._virtual = True

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop | None = None) -> VirtualClock:
        """The clock of ``loop`` (default: the running loop), already under virtual time.

        Example::

            async def test_it() -> None:       # on a loop made with virtual time
                VirtualClock.of().advance(5)
        """
        if loop is None:
            loop = asyncio.get_running_loop()
        if not getattr(loop, "_virtual", False):
            raise RuntimeError(f"{loop!r} is not under virtual time")
        clock = cls.__new__(cls)
        clock._loop = loop
        return clock

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop whose clock this is."""
        return self._loop

    @property
    def autojump_threshold(self) -> float:
        """Real seconds to wait for watched fds before a jump."""
        return float(self._core()._autojump)

    @autojump_threshold.setter
    def autojump_threshold(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"autojump_threshold must be a number, not {type(seconds).__name__}")
        if not seconds >= 0:  # also refuses nan
            raise ValueError(f"autojump_threshold must be >= 0, got {seconds!r}")
        self._core()._autojump = float(seconds)

    @property
    def lead(self) -> float:
        """How far the virtual clock is ahead of the real monotonic clock, in seconds."""
        return float(self._core()._clock_offset)

    def time(self) -> float:
        """The loop's current (virtual) time: ``loop.time()``."""
        return self._loop.time()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` now; timers that fall due run at the loop's
        next iteration (``await asyncio.sleep(0)`` lets them)."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"seconds must be a number, not {type(seconds).__name__}")
        if not seconds >= 0:
            raise ValueError(f"the clock only moves forward: advance({seconds!r})")
        self._core()._clock_offset += seconds

    def close(self) -> None:
        """Switch virtual time off. The clock keeps its lead (time never goes back)."""
        self._core()._virtual = False

    def _core(self) -> Any:
        return self._loop

    def __enter__(self) -> VirtualClock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        core = self._core()
        state = "on" if core._virtual else "off"
        return f"<VirtualClock {state} lead={core._clock_offset:.6f}s loop={self._loop!r}>"

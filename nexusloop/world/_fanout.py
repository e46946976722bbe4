"""FanOut and Broadcast: one event, several handlers, passed by reference.

Design
------
:class:`FanOut` is a fixed set, so it is compiled like a pipeline: ``run`` is a generated
function with one direct call per handler (``_h0(world, event); _h1(world, event)``), each
handler's ``run`` bound once at construction. :class:`Broadcast` is the dynamic variant: its
handlers live in a tuple that is *replaced* (copy-on-write) by ``add``/``remove``, so dispatch is
a plain loop over a tuple (no allocation, no lock) and a handler may add or remove
handlers while an event is being dispatched without disturbing that dispatch (the change
applies from the next event).

Every handler receives the same event object, not a copy: a handler that mutates it is seen by
the handlers after it. Handlers run in order; an exception from one stops the dispatch of that
event and propagates (wrap handlers in a pipeline with ``catch`` to isolate them).
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from ._emit import Emitter
from ._errors import BuildError
from ._pipeline_codegen import as_runner
from ._world import World

__all__ = ["Broadcast", "FanOut"]

E = TypeVar("E")

_IDS = itertools.count(1)


class FanOut(Generic[E]):
    """Dispatch each event to a fixed set of handlers, in order, by reference.

    Handlers are objects with ``run(world, event)`` (``into_handler``, callbacks, built
    pipelines and DAGs, other fan-outs).

    Example::

        fan = FanOut(into_handler(write_a, reg), into_handler(write_b, reg))
        fan.run(world, 7)      # write_a(.., 7) then write_b(.., 7)
    """

    __slots__ = ("handlers", "run", "source")

    def __init__(self, *handlers: Any) -> None:
        if not handlers:
            raise BuildError("FanOut needs at least one handler")
        em = Emitter("fanout")
        for i, handler in enumerate(handlers):
            em.put(0, f"{em.const(as_runner(handler, 'FanOut handler'), f'h{i}')}(_world, event)")
        factory = em.finish("_world, event")
        self.run = factory()
        self.handlers = tuple(handlers)
        self.source = factory.source

    def __len__(self) -> int:
        return len(self.handlers)

    def __repr__(self) -> str:
        return f"<FanOut of {len(self.handlers)}>"


class Broadcast(Generic[E]):
    """A dynamic fan-out: handlers can be added and removed at any time.

    Example::

        bus = Broadcast()
        key = bus.add(into_handler(log_trade, reg))
        bus.add(pipeline)                 # anything with run(world, event)
        bus.run(world, trade)             # both, in the order added
        bus.remove(key)
    """

    __slots__ = ("_entries", "_runners", "run")

    def __init__(self, *handlers: Any) -> None:
        self._entries: tuple[tuple[int, Any], ...] = ()
        self._runners: tuple[Any, ...] = ()
        self._install()
        for handler in handlers:
            self.add(handler)

    def _install(self) -> None:
        # ``run`` reads the current tuple through ``self`` once per event: a handler that
        # adds or removes replaces the tuple, leaving the loop in progress untouched. It
        # indexes instead of iterating because a tuple iterator is a heap allocation per event
        # (no free list), which tests/world/test_pipeline_alloc.py would catch.
        this = self

        def run(world: World, event: Any) -> None:
            runners = this._runners
            i = 0
            n = len(runners)
            while i < n:
                runners[i](world, event)
                i += 1

        self.run = run

    def add(self, handler: Any) -> int:
        """Append ``handler``; returns a key for :meth:`remove`."""
        runner = as_runner(handler, "Broadcast handler")
        key = next(_IDS)
        self._entries = (*self._entries, (key, handler))
        self._runners = (*self._runners, runner)
        return key

    def remove(self, key_or_handler: Any) -> None:
        """Remove a handler by the key :meth:`add` returned, or by the handler object itself.

        Raises :class:`KeyError` when it is not present.
        """
        for index, (key, handler) in enumerate(self._entries):
            if key == key_or_handler or handler is key_or_handler:
                self._entries = self._entries[:index] + self._entries[index + 1:]
                self._runners = self._runners[:index] + self._runners[index + 1:]
                return
        raise KeyError(key_or_handler)

    def clear(self) -> None:
        """Remove every handler."""
        self._entries = ()
        self._runners = ()

    @property
    def handlers(self) -> tuple[Any, ...]:
        """The handlers, in dispatch order."""
        return tuple(h for _, h in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.handlers)

    def __repr__(self) -> str:
        return f"<Broadcast of {len(self._entries)}>"

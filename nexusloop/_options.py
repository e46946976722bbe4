"""``LoopOptions``: the one definition of every runtime option of a nexusloop loop.

Every way of making a loop (``nexusloop.Loop``, ``new_event_loop``, ``run``, ``EventLoopPolicy``,
``install``) takes a :class:`LoopOptions`, the same names as keyword arguments, or both (the
keywords then override the object's fields). They all go through
:meth:`LoopOptions.from_kwargs`, so an option is named, typed, defaulted, documented and
validated here and nowhere else:

* the field list is the list of options: an unknown keyword is a ``TypeError`` naming it;
* each field's meaning is its ``metadata["doc"]``; the class docstring is built from it, and a
  test checks that the README's options table says the same thing;
* ``__post_init__`` is the only validation: ``TypeError`` for a wrong type (``bool`` is not an
  ``int`` here, and only ``bool`` is a ``bool``), ``ValueError`` for an out-of-range value;
* :class:`LoopOptionsKwargs` types the keyword form for type checkers (``**kwargs:
  Unpack[LoopOptionsKwargs]``); a test checks that its keys and types are the fields'.

The object is frozen: a loop's options are fixed when it is made (``loop.options``).
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any, TypedDict

__all__ = ["LoopOptions", "LoopOptionsKwargs"]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LoopOptions:
    """Runtime options of a nexusloop loop (frozen; all keyword-only).

    Example::

        opts = nexusloop.LoopOptions(tasks_per_cycle=32, timers_first=True)
        loop = nexusloop.new_event_loop(opts)  # or new_event_loop(tasks_per_cycle=32, ...)
        nexusloop.run(main(), options=opts, busy_poll=True)  # keywords override fields
        assert loop.options.timers_first
    """

    tasks_per_cycle: int = dataclasses.field(
        default=0,
        metadata={
            "doc": "at most this many ready callbacks run per tick before timers and I/O are "
            "looked at again"
        },
    )
    event_interval: int = dataclasses.field(
        default=61,
        metadata={
            "doc": "while callbacks are ready, poll I/O (non-blocking) only every this many "
            "ticks: no syscall per tick, I/O latency bounded"
        },
    )
    busy_poll: bool = dataclasses.field(
        default=False,
        metadata={"doc": "never park in `epoll_wait`: least wake-up latency, burns a core"},
    )
    timers_first: bool = dataclasses.field(
        default=False,
        metadata={
            "doc": "run expired timers at the start of a tick, before callbacks already queued "
            "(asyncio runs them after): with `tasks_per_cycle=32` a 1 ms timer's p99 lateness "
            "under load drops from ~730 µs to ~70 µs (`docs/benchmarks.md`)"
        },
    )
    slab: int = dataclasses.field(
        default=0,
        metadata={
            "doc": "capacity of the task pool of `spawn_slab`: that many tasks made up front, a "
            "spawn on a full pool raises `SlabFullError` (back-pressure); 0 grows on demand"
        },
    )
    signal_handlers: bool = dataclasses.field(
        default=False,
        metadata={
            "doc": "handle SIGINT and SIGTERM on the loop (main thread only): "
            "`nexusloop.shutdown_signal()` resolves instead of `KeyboardInterrupt`"
        },
    )
    gc_control: bool = dataclasses.field(
        default=False,
        metadata={
            "doc": "keep CPython's cyclic GC out of callbacks: young collections between ticks, "
            "full ones in idle slack before the next timer, forced after a bound; the heap "
            "frozen at the first idle moment (`docs/latency.md`)"
        },
    )
    cpu_affinity: Any = dataclasses.field(
        default=None,
        metadata={
            "doc": "CPUs the loop's thread is pinned to while the loop runs (Linux "
            "`sched_setaffinity`; restored when it stops), e.g. `{3}`; None: not pinned"
        },
    )
    timer_slack_ns: int | None = dataclasses.field(
        default=None,
        metadata={
            "doc": "timer slack of the loop's thread while the loop runs, in ns (Linux "
            "`PR_SET_TIMERSLACK`; restored when it stops): how late the kernel may end a timed "
            "park to batch wake-ups (default 50,000); None: left as it is"
        },
    )
    profile: str | None = dataclasses.field(
        default=None,
        metadata={
            "doc": "`\"latency\"`: turns on `timers_first` and `gc_control`, bounds "
            "`tasks_per_cycle` to 32 and (Linux) `timer_slack_ns` to 1,000 unless set "
            "(`docs/latency.md`)"
        },
    )
    world: Any = dataclasses.field(
        default=None,
        metadata={"doc": "a `nexusloop.world.World` carried by the loop (`loop.world`)"},
    )

    def __post_init__(self) -> None:
        for name in ("tasks_per_cycle", "event_interval", "slab"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        for name in ("busy_poll", "timers_first", "signal_handlers", "gc_control"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
        if self.world is not None:
            # Without nexusloop.world imported nothing can be a World: no import needed to say so.
            world_module = sys.modules.get("nexusloop.world._world")
            world_class = getattr(world_module, "World", None)
            if world_class is None or not isinstance(self.world, world_class):
                raise TypeError(
                    "world must be a nexusloop.world.World (from WorldBuilder.build()) or None, "
                    f"not {type(self.world).__name__}"
                )
        if self.tasks_per_cycle < 0:
            raise ValueError("tasks_per_cycle must be >= 0 (0 means unlimited)")
        if self.event_interval < 1:
            raise ValueError("event_interval must be >= 1")
        if self.slab < 0:
            raise ValueError("slab must be >= 0 (0 means a pool that grows on demand)")
        if self.cpu_affinity is not None:
            try:
                cpus = frozenset(self.cpu_affinity)
            except TypeError:
                raise TypeError(
                    "cpu_affinity must be a set of CPU numbers (ints) or None, "
                    f"not {type(self.cpu_affinity).__name__}"
                ) from None
            if not cpus or not all(
                isinstance(cpu, int) and not isinstance(cpu, bool) and cpu >= 0 for cpu in cpus
            ):
                raise ValueError("cpu_affinity must be a non-empty set of CPU numbers >= 0")
            object.__setattr__(self, "cpu_affinity", cpus)
        if self.timer_slack_ns is not None:
            value = self.timer_slack_ns
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"timer_slack_ns must be an int or None, not {type(value).__name__}")
            if value < 1:
                raise ValueError("timer_slack_ns must be >= 1 (nanoseconds)")
            if not sys.platform.startswith("linux"):
                raise ValueError("timer_slack_ns is Linux-only (prctl PR_SET_TIMERSLACK)")
        if self.profile is not None:
            if self.profile != "latency":
                raise ValueError(f"unknown profile {self.profile!r} (the profiles are: 'latency')")
            object.__setattr__(self, "timers_first", True)
            object.__setattr__(self, "gc_control", True)
            if self.tasks_per_cycle == 0:
                object.__setattr__(self, "tasks_per_cycle", 32)
            if self.timer_slack_ns is None and sys.platform.startswith("linux"):
                object.__setattr__(self, "timer_slack_ns", 1_000)

    @classmethod
    def from_kwargs(cls, options: LoopOptions | None = None, **kwargs: Any) -> LoopOptions:
        """The options an entry point was given: ``options`` (or the defaults) with ``kwargs`` applied.

        Raises ``TypeError`` naming any keyword that is not an option, or when ``options`` is
        not a ``LoopOptions``; the values are validated as by the constructor.

        Example::

            LoopOptions.from_kwargs(event_interval=16)
            LoopOptions.from_kwargs(base, busy_poll=True)   # base with one field replaced
        """
        unknown = [name for name in kwargs if name not in _FIELD_NAMES]
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            plural = "s" if len(unknown) > 1 else ""
            raise TypeError(
                f"unknown nexusloop option{plural} {names} "
                f"(the options are: {', '.join(_FIELD_NAMES)})"
            )
        if options is None:
            return cls(**kwargs)
        if not isinstance(options, LoopOptions):
            raise TypeError(f"options must be a nexusloop.LoopOptions, not {type(options).__name__}")
        return dataclasses.replace(options, **kwargs) if kwargs else options


_FIELD_NAMES = tuple(field.name for field in dataclasses.fields(LoopOptions))


def _describe_fields() -> str:
    lines = ["", "", "    Fields:", ""]
    for field in dataclasses.fields(LoopOptions):
        lines.append(f"    ``{field.name}`` (default ``{field.default!r}``)")
        lines.append(f"        {field.metadata['doc']}.")
    return "\n".join(lines) + "\n"


# The field docs above are the only description of the options: help(LoopOptions) shows them.
LoopOptions.__doc__ = (LoopOptions.__doc__ or "").rstrip() + _describe_fields()


class LoopOptionsKwargs(TypedDict, total=False):
    """The fields of :class:`LoopOptions` as keyword arguments, for ``**kwargs: Unpack[...]``."""

    tasks_per_cycle: int
    event_interval: int
    busy_poll: bool
    timers_first: bool
    slab: int
    signal_handlers: bool
    gc_control: bool
    cpu_affinity: Any
    timer_slack_ns: int | None
    profile: str | None
    world: Any

"""Handlers: plain functions turned into dispatchable objects with their resources injected.

Design
------
Every dispatchable thing (a function handler, a callback, a pipeline, a DAG, a fan-out) satisfies
one protocol, :class:`Handler`: ``handler.run(world, event)``. Drivers and heterogeneous
collections (``list[Handler[Quote]]``) rely on nothing else, so anything with that method can be
dispatched, whatever built it.

A handler built here is bound to the World whose registry built it: its resources were resolved
to objects at build time, so ``run`` ignores the ``world`` argument (it is there so that every
handler kind, including ones that do need it, shares one calling convention). ``run`` is a
generated function stored on the instance, not a method: ``h.run(world, event)`` is one plain
Python call into code that stamps the ``ResMut`` resources and calls the user's function.

Coroutine functions are handlers too: ``run`` creates the coroutine with the resources injected
and spawns it on the running loop (``asyncio.get_running_loop().create_task``), returning the
task. ``ResMut`` stamps happen at spawn time, i.e. they record the event that caused the task.

Templates (:class:`HandlerTemplate`, :class:`CallbackTemplate`) resolve the parameters once;
``generate()`` only calls the cached dispatcher factory and wraps the result, which is what
re-registering drivers (I/O move-out-fire, timer rescheduling) want on every event.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from ._emit import Factory
from ._param import Signature, callable_name, dispatcher, read_signature, resolve
from ._world import Registry, World

__all__ = [
    "Callback",
    "CallbackTemplate",
    "FnHandler",
    "Handler",
    "HandlerTemplate",
    "into_callback",
    "into_handler",
]

E_contra = TypeVar("E_contra", contravariant=True)
C = TypeVar("C")


@runtime_checkable
class Handler(Protocol[E_contra]):
    """Anything dispatchable with ``handler.run(world, event)``: the type-erased handler.

    Example::

        handlers: list[Handler[Quote]] = [
            into_handler(update_book, reg),
            into_callback(per_venue, VenueState(), reg),
            Pipeline(...).build(),
        ]
        for h in handlers:
            h.run(world, quote)
    """

    def run(self, world: World, event: E_contra, /) -> Any:
        """Dispatch ``event``; returns what the underlying function returns."""
        ...


class FnHandler(Generic[E_contra]):
    """A function with its World parameters resolved: the result of :func:`into_handler`.

    ``run(world, event)`` is a generated function (see the module notes); ``name`` is the
    function's name, ``fn`` the function itself.
    """

    __slots__ = ("fn", "name", "run")

    run: Callable[[World, E_contra], Any]

    def __init__(self, run: Callable[[World, E_contra], Any], name: str, fn: Callable[..., Any]):
        self.run = run
        self.name = name
        self.fn = fn

    def __repr__(self) -> str:
        return f"<FnHandler {self.name}>"


class Callback(Generic[C, E_contra]):
    """A handler that owns a context: ``fn(ctx, <World parameters>, event)``.

    ``ctx`` is a plain attribute, readable and replaceable from outside between dispatches.

    Example::

        def on_timeout(ctx: Retry, log: ResMut[Log], now: float) -> None:
            ctx.attempts += 1
            log.lines.append(f"retry {ctx.attempts}")

        cb = into_callback(on_timeout, Retry(), world.registry)
        cb.run(world, 1.5)
        cb.ctx.attempts          # 1
    """

    __slots__ = ("ctx", "fn", "name", "run")

    run: Callable[[World, E_contra], Any]

    def __init__(self, ctx: C, name: str, fn: Callable[..., Any]) -> None:
        self.ctx = ctx
        self.name = name
        self.fn = fn

    def __repr__(self) -> str:
        return f"<Callback {self.name} ctx={self.ctx!r}>"


def _factory(
    fn: Callable[..., Any],
    registry: Registry,
    params: Sequence[Any] | None,
    name: str | None,
    *,
    context: bool,
) -> tuple[Factory, str]:
    """Read, check and resolve ``fn``'s parameters: the factory of its dispatchers, its name."""
    what = "callback" if context else "handler"
    sig = read_signature(fn, leading=int(context), trailing=1, params=params, name=name,
                         what=what)
    if sig is None:  # not inspectable (a builtin): call it with the event only
        sig = Signature(callable_name(fn), [], False)
    factory = dispatcher(fn, resolve(sig, registry), ("world", "event"), (), ("event",),
                         context=context)
    return factory, sig.name


def into_handler(
    fn: Callable[..., Any],
    registry: Registry,
    *,
    params: Sequence[Any] | None = None,
    name: str | None = None,
) -> FnHandler[Any]:
    """Build a handler from ``fn(<World parameters>, event)``.

    The World parameters are read from the annotations (or ``params`` for lambdas and other
    functions that cannot be annotated) and resolved against ``registry`` now; a missing
    required resource raises :class:`UnknownResourceError` naming the type and ``fn``.

    Example::

        def tick(count: ResMut[Cell[int]], event: int) -> None:
            count.value += event

        h = into_handler(tick, world.registry)
        h.run(world, 3)

        h2 = into_handler(lambda c, e: c.append(e), world.registry, params=[ResMut[Log]])
    """
    factory, fname = _factory(fn, registry, params, name, context=False)
    return FnHandler(factory(), fname, fn)


def into_callback(
    fn: Callable[..., Any],
    ctx: C,
    registry: Registry,
    *,
    params: Sequence[Any] | None = None,
    name: str | None = None,
) -> Callback[C, Any]:
    """Build a :class:`Callback` from ``fn(ctx, <World parameters>, event)`` owning ``ctx``.

    Example::

        cb = into_callback(on_timeout, Retry(), world.registry)
        cb.run(world, now)
        cb.ctx
    """
    template: CallbackTemplate[C] = CallbackTemplate(fn, registry, params=params, name=name)
    return template.generate(ctx)


class _Template:
    """Resolves a function's parameters once; subclasses stamp dispatchers from the factory."""

    __slots__ = ("_factory", "_shared", "fn", "name")

    _context = False

    def __init__(
        self,
        fn: Callable[..., Any],
        registry: Registry,
        *,
        params: Sequence[Any] | None = None,
        name: str | None = None,
    ) -> None:
        self._factory, self.name = _factory(fn, registry, params, name, context=self._context)
        self.fn = fn
        # A factory without slots (no Local state, no callback object) makes dispatchers that
        # all behave the same, so one is made now and shared; otherwise each needs its own.
        self._shared = None if self._factory.slots else self._factory()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class HandlerTemplate(_Template):
    """Resolve a handler's parameters once; :meth:`generate` stamps out handlers cheaply.

    Each generated handler gets its own ``Local`` state. Use it where handlers are re-created
    per event (I/O re-registration, timer rescheduling).

    Example::

        template = HandlerTemplate(on_readable, world.registry)
        h1 = template.generate()
        h2 = template.generate()
    """

    __slots__ = ()

    def generate(self) -> FnHandler[Any]:
        """A new handler; no annotation reading, no registry lookups."""
        return FnHandler(self._shared or self._factory(), self.name, self.fn)


class CallbackTemplate(_Template, Generic[C]):
    """Resolve a callback's parameters once; :meth:`generate` stamps callbacks for new contexts.

    Example::

        template = CallbackTemplate(on_timeout, world.registry)
        cb = template.generate(Retry(order_id=7))
    """

    __slots__ = ()

    _context = True

    def generate(self, ctx: C) -> Callback[C, Any]:
        """A new callback owning ``ctx``."""
        cb: Callback[C, Any] = Callback(ctx, self.name, self.fn)
        cb.run = self._factory(cb)
        return cb

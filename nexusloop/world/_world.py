"""The World: a typed singleton store, frozen after build.

Design
------
A :class:`WorldBuilder` collects resources (one value per type), plugins and drivers; ``build()``
freezes it into a :class:`World`. Each registered type gets a dense integer :data:`ResourceId`
(0, 1, 2, ...) that stays valid for the World's lifetime. The World keeps two parallel lists,
indexed by that id: the resource objects and their ``changed_at`` sequence stamps. Nothing is
ever inserted, removed or *replaced* after registration, which buys two things:

* a handler resolves its parameters once (type -> id -> object) when it is built, and from then
  on dispatch only touches pre-bound objects and the stamp list: no hashing, no searching;
* a resource object's identity is fixed, so binding it into a handler can never go stale.

The consequence is that a resource must be *mutable in place* to be written. Immutable values
(``int``, ``str``, tuples, frozen dataclasses...) can be registered and read, but writing them
needs a box: :class:`Cell` (``Cell(0)`` is registered as ``Cell[int]``). Asking for write access
to an immutable type is refused when the handler is built, so a counter can never silently lose
its increments. See ``docs/world.md`` for the change-tracking rules.

Sequence numbers are the clock of causality: a driver calls :meth:`World.next_sequence` before
dispatching each event, and every write access stamps the resource with the current sequence,
so ``changed_at`` says *which event* last touched a resource.
"""
from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterator
from typing import Any, Generic, NewType, Protocol, TypeVar, cast, get_args, get_origin

from ._errors import DuplicateResourceError, FrozenWorldError, UnknownResourceError

__all__ = [
    "Cell",
    "Installer",
    "Plugin",
    "Registry",
    "ResourceId",
    "Shutdown",
    "World",
    "WorldBuilder",
]

T = TypeVar("T")
P_co = TypeVar("P_co", covariant=True)

#: Dense index of a resource in its World (0, 1, 2, ... in registration order).
ResourceId = NewType("ResourceId", int)


def type_name(key: object) -> str:
    """Readable name of a resource key for error messages (``Counter``, ``Cell[int]``)."""
    if isinstance(key, type) and get_origin(key) is None:
        return key.__qualname__
    text = repr(key)
    for prefix in ("typing.", "nexusloop.world._world.", "nexusloop.world."):
        text = text.replace(prefix, "")
    return text


_IMMUTABLE_BASES: tuple[type, ...] = (
    int, float, complex, str, bytes, bool, tuple, frozenset, range, type(None), enum.Enum,
)


def is_immutable_type(key: object) -> bool:
    """Whether values of ``key`` cannot be changed in place (so cannot be written via ResMut)."""
    origin = get_origin(key) or key
    if not isinstance(origin, type):
        return False
    if issubclass(origin, _IMMUTABLE_BASES):
        return True
    params = getattr(origin, "__dataclass_params__", None)
    return bool(params is not None and params.frozen)


class Cell(Generic[T]):
    """A mutable box for a value that cannot be changed in place (an ``int`` counter, a ``str``).

    Register ``Cell(0)`` and it is stored under the key ``Cell[int]`` (the type of the value
    inside picks the parameter; pass ``as_type=`` to choose another). Handlers then take
    ``ResMut[Cell[int]]`` and write ``cell.value``.

    Example::

        wb = WorldBuilder()
        wb.register(Cell(0))                      # key: Cell[int]

        def tick(count: ResMut[Cell[int]], event: int) -> None:
            count.value += event
    """

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Cell({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, like list


class Shutdown:
    """The World's shutdown flag, registered in every World as a resource.

    Handlers take ``Res[Shutdown]`` and call :meth:`trigger`; the executor (a poll loop, or a task
    on the event loop) checks :attr:`requested` or awaits :meth:`wait`.

    Example::

        def on_quit(shutdown: Res[Shutdown], event: str) -> None:
            if event == "quit":
                shutdown.trigger()

        while not world.shutdown.requested:
            ...
    """

    __slots__ = ("_callbacks", "_requested")

    def __init__(self) -> None:
        self._requested = False
        self._callbacks: list[Callable[[], object]] = []

    @property
    def requested(self) -> bool:
        """True once :meth:`trigger` was called."""
        return self._requested

    def trigger(self) -> None:
        """Request shutdown (idempotent); runs the registered callbacks once, in order."""
        if self._requested:
            return
        self._requested = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def add_callback(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` when shutdown is triggered (at once if it already was)."""
        if self._requested:
            callback()
        else:
            self._callbacks.append(callback)

    async def wait(self) -> None:
        """Wait, on the running event loop, until shutdown is triggered."""
        if self._requested:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def _wake() -> None:
            if not future.done():
                future.set_result(None)

        self._callbacks.append(_wake)
        await future

    def __repr__(self) -> str:
        return f"Shutdown(requested={self._requested})"


class Plugin(Protocol):
    """A composable unit of registration: ``builder.install_plugin(p)`` calls ``p.build(builder)``.

    Example::

        class MarketPlugin:
            def build(self, builder: WorldBuilder) -> None:
                builder.register(OrderBook())
                builder.ensure(Cell(0), as_type=Cell[int])
    """

    def build(self, builder: WorldBuilder) -> None:
        """Register resources (and install further plugins) into ``builder``."""
        ...


class Installer(Protocol[P_co]):
    """An event source's install step: registers its resources, returns its poller.

    ``builder.install_driver(installer)`` calls ``installer.install(builder)`` and returns the
    result, a concrete poller whose own ``poll(world, ...)`` drives the events.
    """

    def install(self, builder: WorldBuilder) -> P_co:
        """Register resources into ``builder`` and return the driver's poller."""
        ...


class _Attachable(Protocol):
    def attach(self, loop: asyncio.AbstractEventLoop, world: World) -> None: ...


A = TypeVar("A", bound=_Attachable)


class LoopDriverInstaller(Generic[A]):
    """Base of the installers whose driver runs standalone or, with ``loop=``, on that loop.

    A subclass says how to create its resource and poller (:meth:`_create`); installing
    registers the resource and attaches the poller to ``loop`` when one was given.
    """

    def __init__(self, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop

    def _create(self, world: World) -> tuple[object, A]:
        raise NotImplementedError

    def install(self, builder: WorldBuilder) -> A:
        """Register the driver's resource and return its poller."""
        world = builder.registry.world
        resource, poller = self._create(world)
        builder.register(resource)
        if self.loop is not None:
            poller.attach(self.loop, world)
        return poller


def _key_for_value(value: object, as_type: object | None) -> object:
    if as_type is not None:
        return as_type
    if isinstance(value, Cell):
        return Cell[type(value.value)]  # type: ignore[misc]
    orig = getattr(value, "__orig_class__", None)
    if orig is not None:
        return orig
    return type(value)


def default_for(key: Any) -> Any:
    """Construct the default value of a resource key (``Cell[int]`` -> ``Cell(0)``)."""
    origin = get_origin(key)
    if origin is Cell:
        (inner,) = get_args(key)
        return Cell(default_for(inner))
    if origin is not None:
        return origin()
    return key()


class Registry:
    """Maps resource types to dense :data:`ResourceId`\\ s (the build-time half of the World).

    Handlers are built against a registry: ``into_handler(fn, world.registry)``. It is shared by
    the builder and the World it builds, so handlers may be built before or after ``build()``.

    Example::

        rid = world.registry.id_of(Counter)      # ResourceId(1)
        Counter in world.registry                # True
    """

    __slots__ = ("_ids", "_world")

    def __init__(self, world: World) -> None:
        self._ids: dict[object, ResourceId] = {}
        self._world = world

    @property
    def world(self) -> World:
        """The World whose resources this registry indexes."""
        return self._world

    def id_of(self, key: Any) -> ResourceId:
        """The id of ``key``; :class:`UnknownResourceError` naming it when not registered."""
        try:
            return self._ids[key]
        except KeyError:
            raise UnknownResourceError(self._missing_message(key)) from None
        except TypeError:  # unhashable key
            raise UnknownResourceError(
                f"{key!r} is not a resource type (resource keys are classes or generic aliases)"
            ) from None

    def get_id(self, key: Any) -> ResourceId | None:
        """The id of ``key``, or None when it is not registered."""
        try:
            return self._ids.get(key)
        except TypeError:
            return None

    def __contains__(self, key: object) -> bool:
        return self.get_id(key) is not None

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[object]:
        return iter(self._ids)

    def _missing_message(self, key: object, who: str | None = None) -> str:
        name = type_name(key)
        head = f"resource {name} is not registered in the World"
        if who:
            head = f"{who}: {head}"
        origin = get_origin(key) or key
        inner = get_args(key)[0] if get_origin(key) is Cell and get_args(key) else None
        similar = [
            type_name(k) for k in self._ids
            if (get_origin(k) or k) is origin
            or type_name(k) == name
            or (get_origin(k) is Cell and get_args(k) == (key,))  # asked int, have Cell[int]
            or (inner is not None and k == inner)  # asked Cell[int], have int
        ]
        hint = f" (registered with a similar key: {', '.join(similar)})" if similar else ""
        return f"{head}{hint}; register it with WorldBuilder.register(...) before building"

    def _add(self, key: object, value: object) -> ResourceId:
        try:
            hash(key)
        except TypeError:
            raise TypeError(f"resource key {key!r} is not hashable") from None
        if key in self._ids:
            raise DuplicateResourceError(
                f"resource {type_name(key)} is already registered "
                f"(ResourceId {self._ids[key]}); use ensure() to register only if absent"
            )
        world = self._world
        rid = ResourceId(len(world._values))
        world._values.append(value)
        world._changed.append(world._seq)
        self._ids[key] = rid
        return rid

    def __repr__(self) -> str:
        names = ", ".join(type_name(k) for k in self._ids)
        return f"Registry({names})"


class World:
    """A frozen store of singleton resources, one per type; built by :class:`WorldBuilder`.

    The cold-path accessors (:meth:`resource`, :meth:`resource_mut`) look the type up by hash;
    handlers and steps never do: they resolve once when built and index at dispatch.

    Example::

        wb = WorldBuilder()
        wb.register(Cell(0))
        world = wb.build()
        world.next_sequence()                    # 1
        world.resource_mut(Cell[int]).value += 5 # stamps changed_at = 1
        world.is_changed(Cell[int])              # True
    """

    __slots__ = ("__weakref__", "_changed", "_frozen", "_registry", "_seq", "_shutdown", "_values")

    def __init__(self) -> None:
        # Created by WorldBuilder only; users get a World from WorldBuilder.build().
        self._values: list[object] = []
        self._changed: list[int] = []
        self._seq = 0
        self._frozen = False
        self._registry = Registry(self)
        self._shutdown = Shutdown()
        self._registry._add(Shutdown, self._shutdown)

    # -- build-time half -------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """The type -> :data:`ResourceId` map handlers are built against."""
        return self._registry

    @property
    def frozen(self) -> bool:
        """True once the builder's ``build()`` returned this World."""
        return self._frozen

    def id_of(self, key: Any) -> ResourceId:
        """The :data:`ResourceId` of a registered type (raises :class:`UnknownResourceError`)."""
        return self._registry.id_of(key)

    def __contains__(self, key: object) -> bool:
        return key in self._registry

    def __len__(self) -> int:
        return len(self._values)

    # -- cold-path access --------------------------------------------------------------------
    def resource(self, key: type[T]) -> T:
        """The registered object of type ``key`` (read access; no stamp)."""
        return cast(T, self._values[self._registry.id_of(key)])

    def resource_mut(self, key: type[T]) -> T:
        """The registered object of type ``key``, stamping it changed at the current sequence.

        Write access to an immutable type is refused (a :class:`TypeError`): box it in a
        :class:`Cell`.
        """
        rid = self._registry.id_of(key)
        if is_immutable_type(key):
            raise TypeError(
                f"resource {type_name(key)} is immutable and cannot be written in place; "
                f"register Cell(value) and use resource_mut(Cell[{type_name(key)}])"
            )
        self._changed[rid] = self._seq
        return cast(T, self._values[rid])

    def get(self, rid: ResourceId) -> object:
        """The object at ``rid`` (read access by id)."""
        return self._values[rid]

    # -- sequence and change detection -------------------------------------------------------
    @property
    def sequence(self) -> int:
        """The current event sequence number (starts at 0)."""
        return self._seq

    def next_sequence(self) -> int:
        """Advance the sequence counter (call once per event, before dispatch); returns it."""
        self._seq += 1
        return self._seq

    def changed_at(self, key: Any) -> int:
        """The sequence number at which ``key`` was last written (registration counts)."""
        return self._changed[self._registry.id_of(key)]

    def is_changed(self, key: Any) -> bool:
        """Whether ``key`` was written during the current sequence."""
        return self._changed[self._registry.id_of(key)] == self._seq

    def changed_since(self, key: Any, sequence: int) -> bool:
        """Whether ``key`` was written after ``sequence``."""
        return self._changed[self._registry.id_of(key)] > sequence

    def mark_changed(self, key: Any) -> None:
        """Stamp ``key`` as changed at the current sequence (for writes made outside handlers)."""
        self._changed[self._registry.id_of(key)] = self._seq

    # -- shutdown ------------------------------------------------------------------------------
    @property
    def shutdown(self) -> Shutdown:
        """The World's :class:`Shutdown` handle (also available to handlers as ``Res[Shutdown]``)."""
        return self._shutdown

    def is_shutdown(self) -> bool:
        """Whether shutdown was triggered."""
        return self._shutdown._requested

    def __repr__(self) -> str:
        state = "frozen" if self._frozen else "building"
        return f"<World {state} resources={len(self._values)} sequence={self._seq}>"


class WorldBuilder:
    """Collects resources, plugins and drivers, then freezes them into a :class:`World`.

    Example::

        wb = WorldBuilder()
        wb.register(OrderBook())
        wb.register(Cell(0))              # Cell[int]
        wb.register_default(Stats)        # Stats()
        timers = wb.install_driver(TimerInstaller())
        world = wb.build()
    """

    __slots__ = ("_built", "_world")

    def __init__(self) -> None:
        self._world = World()
        self._built = False

    def _check(self, action: str, key: object) -> None:
        if self._built:
            raise FrozenWorldError(
                f"cannot {action} {type_name(key)}: the World was already built "
                "(registration happens before WorldBuilder.build())"
            )

    @property
    def registry(self) -> Registry:
        """The registry of the World being built (handlers may be built against it already)."""
        return self._world._registry

    def register(self, value: object, *, as_type: Any = None) -> ResourceId:
        """Register ``value`` under its type (or ``as_type``); returns its :data:`ResourceId`.

        ``Cell(x)`` is registered as ``Cell[type(x)]``. Registering a type twice raises
        :class:`DuplicateResourceError`; registering after ``build()`` raises
        :class:`FrozenWorldError`.
        """
        key = _key_for_value(value, as_type)
        self._check("register", key)
        return self._world._registry._add(key, value)

    def register_default(self, key: Any) -> ResourceId:
        """Register ``key()`` (``Cell[int]`` -> ``Cell(0)``) under ``key``."""
        self._check("register", key)
        return self._world._registry._add(key, default_for(key))

    def ensure(self, value: object, *, as_type: Any = None) -> ResourceId:
        """Register ``value`` unless its type is already registered; returns the type's id.

        Plugins use this for resources several of them share.
        """
        key = _key_for_value(value, as_type)
        self._check("register", key)
        rid = self._world._registry.get_id(key)
        return rid if rid is not None else self._world._registry._add(key, value)

    def ensure_default(self, key: Any) -> ResourceId:
        """Register ``key()`` unless ``key`` is already registered; returns its id."""
        self._check("register", key)
        rid = self._world._registry.get_id(key)
        return rid if rid is not None else self._world._registry._add(key, default_for(key))

    def contains(self, key: object) -> bool:
        """Whether ``key`` is registered."""
        return key in self._world._registry

    def __contains__(self, key: object) -> bool:
        return key in self._world._registry

    def resource(self, key: type[T]) -> T:
        """A registered resource, for plugins that configure what others registered."""
        return self._world.resource(key)

    def install_plugin(self, plugin: Plugin) -> None:
        """Run ``plugin.build(self)``."""
        if self._built:
            raise FrozenWorldError(
                f"cannot install plugin {type(plugin).__qualname__}: the World was already built"
            )
        plugin.build(self)

    def install_driver(self, installer: Installer[P_co]) -> P_co:
        """Run ``installer.install(self)`` and return the driver's poller."""
        if self._built:
            raise FrozenWorldError(
                f"cannot install driver {type(installer).__qualname__}: "
                "the World was already built"
            )
        return installer.install(self)

    def build(self) -> World:
        """Freeze the builder into its :class:`World` (once)."""
        if self._built:
            raise FrozenWorldError("WorldBuilder.build() was already called")
        self._built = True
        self._world._frozen = True
        return self._world

    def __repr__(self) -> str:
        return f"<WorldBuilder resources={len(self._world._values)} built={self._built}>"


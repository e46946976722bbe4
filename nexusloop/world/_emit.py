"""The World's one code generator: dispatchers written as Python source from structured parts.

Why generate code
-----------------
At dispatch time a handler, a pipeline or a fan-out is "call these user functions with these
objects, and stamp these resources as changed". The cheapest Python that does that is the
function a careful person would write by hand for that one case: the resource objects bound to
names, ``ResMut`` stamps as one list store each, arguments passed positionally, no loop over
step objects, no dict lookup. So every dispatcher the World makes is such a function, written as
source and compiled with ``exec`` (as :mod:`dataclasses` does for ``__init__``)::

    def run(world, event):                      # into_handler(on_order, reg)
        _changed_2[3] = _world_1._seq           # ResMut[Book]
        return _fn_0(_res_3, _res_4, event)     # on_order(book, limits, event)

Three writers use this module: handlers and :func:`~nexusloop.world.compile_step`
(:mod:`._param`), pipelines and DAGs (:mod:`._pipeline_codegen`), fan-outs (:mod:`._fanout`).
Each says *what* to call; only this module decides how a World parameter becomes a name.

Structured bindings
-------------------
Parameter resolution (:func:`._param.resolve`) describes each World parameter as an
:data:`Arg`: a :class:`Bound` value fixed at build time (a resource object, the registry,
``None`` for a missing optional resource), a :class:`LocalState` whose initial value is made
per dispatcher, or :data:`SEQUENCE`, the World's current sequence number. :meth:`Emitter.bind`
turns a resolved step into a :class:`StepCall` (its stamp statements and its call expression);
adding a parameter kind means one new ``Arg`` and one branch in :meth:`Emitter.bind`.

Names: shared constants, per-dispatcher slots, state cells
----------------------------------------------------------
* :meth:`Emitter.const` - an object every dispatcher of this compile shares (a user function, a
  resource): a global of the generated code. CPython 3.11+ caches global lookups inline, so
  such a name costs what a local does.
* :meth:`Emitter.slot` - a value that differs per dispatcher (``Local`` state, a callback
  object, a batch's buffer): a parameter of the factory ``_make``, i.e. a closure variable of
  ``run``. :meth:`Factory.__call__` supplies them, making fresh ``Local`` state each time.
* :meth:`Emitter.state` - mutable per-dispatcher state (``dedup``'s last value, ``scan``'s
  accumulator): a closure cell that ``run`` rebinds with ``nonlocal``.

Tracebacks and caching
----------------------
Each distinct (label, source) is compiled once, under a filename such as
``<nexusloop handler app.on_order #3>`` whose lines are put in :mod:`linecache`, so a traceback
through generated code shows the generated line. The code object is cached: building the
thousandth handler of one function compiles nothing; it runs the cached module code in a fresh
namespace holding that handler's constants. The cache and the linecache entry live as long
as some dispatcher made from that code.
"""
from __future__ import annotations

import itertools
import linecache
import types
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple, TypeAlias

from ._errors import BuildError
from ._world import World, default_for, type_name

__all__: list[str] = []


class Bound(NamedTuple):
    """A World parameter whose value is fixed at build time (a resource, the registry, None)."""

    value: Any


class LocalState(NamedTuple):
    """A ``Local[T]`` parameter: each dispatcher gets its own ``default_for(key)``."""

    key: Any


class _Sequence:
    __slots__ = ()

    def __repr__(self) -> str:
        return "SEQUENCE"


#: The World's current sequence number (a ``Seq`` parameter).
SEQUENCE: Final = _Sequence()

#: How one World parameter is passed: see the module notes.
Arg: TypeAlias = Bound | LocalState | _Sequence


class Resolved(NamedTuple):
    """A function's World parameters resolved against a World: what :meth:`Emitter.bind` reads."""

    name: str                       # for error messages and labels
    is_async: bool
    args: tuple[Arg, ...]           # one per World parameter, in order
    stamps: tuple[int, ...]         # resource ids a dispatch stamps (its ResMut parameters)
    world: World | None             # None only when there is nothing to bind


class StepCall(NamedTuple):
    """How generated code calls one user function: statements first, then the call."""

    fn: str                         # the function's name in the generated code
    args: tuple[str, ...]           # World-parameter argument expressions
    stamps: tuple[str, ...]         # statements to run before the call (ResMut stamps)

    def call(self, lead: Sequence[str] = (), trail: Sequence[str] = ()) -> str:
        """The call expression: ``fn(lead..., <World parameters>, trail...)``."""
        return f"{self.fn}({', '.join((*lead, *self.args, *trail))})"


_EXPLICIT: Final = object()  # a slot whose value the caller of the factory supplies


class Factory:
    """A compiled generator of dispatchers: ``factory(*explicit)`` makes one.

    ``explicit`` fills the slots created with :meth:`Emitter.slot` (in creation order); slots of
    ``Local`` parameters are filled with fresh initial state on every call.
    """

    __slots__ = ("label", "make", "slots", "source")

    def __init__(self, make: Callable[..., Any], source: str, label: str,
                 slots: tuple[Any, ...]) -> None:
        self.make = make
        self.source = source
        self.label = label
        self.slots = slots

    def __call__(self, *explicit: Any) -> Callable[..., Any]:
        if not self.slots:
            run: Callable[..., Any] = self.make()
            return run
        given = iter(explicit)
        values = []
        for key in self.slots:
            if key is _EXPLICIT:
                values.append(next(given))
                continue
            try:
                values.append(default_for(key))
            except Exception as exc:
                raise BuildError(
                    f"{self.label}: Local[{type_name(key)}] needs {type_name(key)}() to create "
                    f"its initial state, which failed: {type(exc).__name__}: {exc}"
                ) from exc
        run = self.make(*values)
        return run


class Emitter:
    """Collects the lines of one generated function and the objects its names stand for."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: list[str] = []
        self._ns: dict[str, Any] = {}
        self._const_ids: dict[int, str] = {}
        self._slots: list[tuple[str, Any]] = []     # (parameter of _make, Local key/_EXPLICIT)
        self._state: list[tuple[str, str]] = []     # (cell name, initial-value constant)
        self._counter = itertools.count()

    # -- names -----------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A new name, unique within this function."""
        return f"_{_ident(hint)}_{next(self._counter)}"

    def const(self, obj: Any, hint: str) -> str:
        """A name for ``obj``, shared by every dispatcher made from this compile."""
        if obj is None:
            return "None"
        name = self._const_ids.get(id(obj))
        if name is None:
            name = self.fresh(hint)
            self._ns[name] = obj
            self._const_ids[id(obj)] = name
        return name

    def slot(self, hint: str) -> str:
        """A name for a value each dispatcher gets from the factory's caller."""
        name = self.fresh(hint)
        self._slots.append((name, _EXPLICIT))
        return name

    def state(self, hint: str, initial: Any) -> str:
        """A per-dispatcher variable ``run`` may rebind, starting at ``initial``."""
        cell = self.fresh(hint)
        self._state.append((cell, self.const(initial, hint + "_init")))
        return cell

    def bind(self, fn: Any, resolved: Resolved | None, hint: str | None = None) -> StepCall:
        """The :class:`StepCall` of ``fn`` with its resolved World parameters."""
        label = hint or getattr(fn, "__name__", None) or type(fn).__name__
        fn_name = self.const(fn, label)
        if resolved is None or resolved.world is None:
            return StepCall(fn_name, (), ())
        world = resolved.world
        w = self.const(world, "world")
        seq = f"{w}._seq"
        stamps: list[str] = []
        if len(resolved.stamps) + sum(a is SEQUENCE for a in resolved.args) > 1:
            cached = self.fresh("seq")   # read the sequence once for all its uses
            stamps.append(f"{cached} = {seq}")
            seq = cached
        if resolved.stamps:
            changed = self.const(world._changed, "changed")
            stamps.extend(f"{changed}[{rid}] = {seq}" for rid in resolved.stamps)
        args: list[str] = []
        for arg in resolved.args:
            if isinstance(arg, Bound):
                args.append(self.const(arg.value, "res"))
            elif isinstance(arg, LocalState):
                name = self.fresh("local")
                self._slots.append((name, arg.key))
                args.append(name)
            else:
                args.append(seq)
        return StepCall(fn_name, tuple(args), tuple(stamps))

    # -- lines -----------------------------------------------------------------------------
    def put(self, indent: int, text: str) -> None:
        """Append a line to ``run``'s body, ``indent`` levels deep."""
        self.lines.append("    " * indent + text)

    def put_stamps(self, indent: int, call: StepCall) -> None:
        """Append the statements that must run before ``call`` (its ``ResMut`` stamps)."""
        for stamp in call.stamps:
            self.put(indent, stamp)

    # -- the function ----------------------------------------------------------------------
    def finish(self, params: str) -> Factory:
        """Compile ``def run(<params>)`` around the lines; return its :class:`Factory`."""
        out = [f"def _make({', '.join(name for name, _ in self._slots)}):"]
        out.extend(f"    {cell} = {initial}" for cell, initial in self._state)
        out.append(f"    def run({params}):")
        if self._state:
            out.append(f"        nonlocal {', '.join(cell for cell, _ in self._state)}")
        out.extend(f"        {line}" for line in self.lines or ["pass"])
        out.append("    return run")
        source = "\n".join(out) + "\n"
        code = _compiled(self.label, source)
        ns = {**self._ns, "_code": code}   # keeps the cache entry while dispatchers live
        exec(code, ns)  # noqa: S102 - our own generated source
        return Factory(ns["_make"], source, self.label,
                       tuple(key for _, key in self._slots))


# (label, source) -> module code, for as long as a dispatcher made from it is alive: the code
# object is kept in the dispatchers' globals (see ``finish``), and its linecache entry goes with
# it.
_CODE: weakref.WeakValueDictionary[tuple[str, str], types.CodeType] = (
    weakref.WeakValueDictionary()
)
_FILE_IDS = itertools.count(1)


def _compiled(label: str, source: str) -> types.CodeType:
    code = _CODE.get((label, source))
    if code is None:
        filename = f"<nexusloop {label} #{next(_FILE_IDS)}>"
        code = compile(source, filename, "exec")
        # Tracebacks through generated code show the generated lines.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        weakref.finalize(code, linecache.cache.pop, filename, None)
        _CODE[(label, source)] = code
    return code


def _ident(text: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    return out.strip("_")[:40] or "f"

"""Handler parameters: declared by annotation, resolved once, fetched by index.

Design
------
A parameter is declared with a type alias over :data:`typing.Annotated` whose metadata is a
:class:`ParamKind` member::

    Res[T]      = Annotated[T, ParamKind.RES]       # read access to the World's T
    ResMut[T]   = Annotated[T, ParamKind.RES_MUT]   # write access: stamps T's changed_at
    Local[T]    = Annotated[T, ParamKind.LOCAL]     # per-dispatcher state, T() initially
    RegistryRef = Annotated[Registry, ParamKind.REGISTRY]  # build handlers while dispatching
    Seq         = Annotated[int, ParamKind.SEQ]     # the World's current sequence number

Type checkers erase ``Annotated`` metadata, so inside the handler body mypy and pyright see the
parameter as plain ``T`` (``Res[T] | None`` as ``T | None``). At runtime the kind tells the
World what to inject.

Resolution happens once, when a handler or step is *built*: the annotations are read
(``typing.get_type_hints(include_extras=True)``, so ``from __future__ import annotations``
works), each resource type is looked up in the registry, and a missing required resource fails
right there, naming the type and the function. Because resources are never replaced after
registration, the resolved *objects* themselves are bound into the dispatcher. An annotation
that cannot be evaluated (a type imported under ``TYPE_CHECKING``) is an error only when its
structure declares a World parameter; the event's annotation may be anything.

:func:`resolve` describes each parameter as a structured argument (a bound object, ``Local``
state, the sequence number) and :mod:`._emit` writes the dispatcher from that: a small Python
function in which ``ResMut`` stamps ``changed_at`` by list index and the call passes the
arguments positionally::

    def run(e0):
        _changed_2[3] = _world_1._seq      # one line per ResMut
        return _fn_0(_res_3, _res_4, e0)

No dict lookup, no signature inspection, no allocation but the call itself. Stamping another
dispatcher from the same :class:`~._emit.Factory` (what templates do) is one function call.

Writes are detected at *access*: taking ``ResMut[T]`` means the handler intends to write, and
``changed_at`` is stamped with the current sequence when the handler is dispatched (Bevy stamps
on ``DerefMut``; Python cannot see in-place mutation, so the declaration is the signal). Write
access to an immutable type (``int``, ``str``, a frozen dataclass...) is refused at build time;
box such values in :class:`~nexusloop.world.Cell`.

The shared entry point :func:`compile_step` (used by pipelines, DAGs and fan-outs) turns a
function into a plain callable taking ``leading + trailing`` positional arguments and calling
the function with the resolved parameters injected between them::

    fn(lead_0, ..., <resources>, trail_0, ...)    # ctx first, resources, event last

``trailing=0`` makes a step with no input. When the function takes no resource parameter and
exactly ``leading + trailing`` positional ones, ``compile_step`` returns it unchanged. A wrong
arity or a parameter that is neither raises :class:`~nexusloop.world.BuildError` naming the
function. This signature is stable.
"""
from __future__ import annotations

import ast
import asyncio
import enum
import inspect
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Final, TypeAlias, TypeVar, Union, get_args, get_origin

from ._emit import SEQUENCE, Arg, Bound, Emitter, Factory, LocalState, Resolved
from ._errors import BuildError, UnknownResourceError
from ._world import Registry, is_immutable_type, type_name

__all__ = [
    "Local",
    "Param",
    "ParamKind",
    "ParamSpec",
    "RegistryRef",
    "Res",
    "ResMut",
    "Seq",
    "compile_step",
    "param_spec",
]

T = TypeVar("T")


class ParamKind(enum.StrEnum):
    """The kind of a World parameter; its member is also the marker inside ``Annotated[...]``.

    One representation: ``Res[T]`` *is* ``Annotated[T, ParamKind.RES]``, and parsing, checking,
    resolving and error messages all read the same member (its value is the spelling users
    write, so ``ParamKind.RES_MUT == "ResMut"``).
    """

    RES = "Res"
    RES_MUT = "ResMut"
    LOCAL = "Local"
    REGISTRY = "RegistryRef"
    SEQ = "Seq"

    def __repr__(self) -> str:
        return f"<world param {self.value}>"


#: Read access to the World's ``T``: ``def h(book: Res[Book], event: Quote)``.
Res: TypeAlias = Annotated[T, ParamKind.RES]
#: Write access to the World's ``T``; dispatch stamps ``changed_at``:
#: ``def h(count: ResMut[Cell[int]], event: int)``.
ResMut: TypeAlias = Annotated[T, ParamKind.RES_MUT]
#: Per-dispatcher state initialised with ``T()``: ``def h(seen: Local[set[str]], e: str)``.
Local: TypeAlias = Annotated[T, ParamKind.LOCAL]
#: The registry, to build handlers while dispatching: ``def h(reg: RegistryRef, e: Conn)``.
RegistryRef: TypeAlias = Annotated[Registry, ParamKind.REGISTRY]
#: The World's current sequence number: ``def h(seq: Seq, event: Fill)``.
Seq: TypeAlias = Annotated[int, ParamKind.SEQ]

_ALIASES: Final = (Res, ResMut, Local, RegistryRef, Seq)
_ALIAS_NAMES: Final = frozenset(kind.value for kind in ParamKind)


class Param(typing.NamedTuple):
    """A parsed parameter declaration: its kind, its type key and whether it is optional.

    Example::

        param_spec(Res[Book] | None)       # Param(ParamKind.RES, Book, True)
    """

    kind: ParamKind
    key: Any
    optional: bool

    def describe(self) -> str:
        """The declaration as the user wrote it (``ResMut[Counter] | None``)."""
        if self.kind in (ParamKind.REGISTRY, ParamKind.SEQ):
            return self.kind.value
        text = f"{self.kind.value}[{type_name(self.key)}]"
        return f"{text} | None" if self.optional else text


#: The former name of :class:`Param` (it shadowed :class:`typing.ParamSpec`); kept as an alias.
ParamSpec = Param


def param_spec(annotation: Any) -> Param | None:
    """Parse an annotation into a :class:`Param`, or None when it is not a World parameter.

    Example::

        param_spec(ResMut[Counter])          # Param(ParamKind.RES_MUT, Counter, False)
        param_spec(Res[Counter] | None)      # Param(ParamKind.RES, Counter, True)
        param_spec(int)                      # None
    """
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        for m in meta:
            if isinstance(m, ParamKind):
                return Param(m, inner, False)
        return None
    if origin is Union or origin is types.UnionType:
        args = get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            inner_spec = param_spec(rest[0])
            if inner_spec is not None:
                if inner_spec.kind not in (ParamKind.RES, ParamKind.RES_MUT):
                    raise BuildError(
                        f"{inner_spec.describe()} | None: only Res and ResMut have optional forms"
                    )
                return inner_spec._replace(optional=True)
        for a in rest:
            if param_spec(a) is not None:
                raise BuildError(
                    f"{annotation!r}: a World parameter can only be combined with None"
                )
    return None


# -- reading a function's parameters -----------------------------------------------------------

def callable_name(fn: object) -> str:
    """A readable name for error messages: ``module.qualname`` where known."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        name = type(fn).__qualname__
    module = getattr(fn, "__module__", None)
    if module and module not in ("builtins", "__main__"):
        return f"{module}.{name}"
    return str(name)


def _closure_namespace(fn: Any) -> dict[str, Any]:
    ns: dict[str, Any] = {}
    code = getattr(fn, "__code__", None)
    closure = getattr(fn, "__closure__", None)
    if code is not None and closure:
        for var, cell in zip(code.co_freevars, closure, strict=True):
            try:
                ns[var] = cell.cell_contents
            except ValueError:  # empty cell
                pass
    return ns


def _annotation_target(fn: Any) -> Any:
    if inspect.isfunction(fn) or inspect.ismethod(fn):
        return fn
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - the method, for its annotations
    if inspect.isfunction(call):
        return call
    return fn


def _resolve_annotations(fn: Any, name: str) -> dict[str, Any]:
    """Parameter name -> resolved annotation (only parameters that have one)."""
    target = _annotation_target(fn)
    raw: dict[str, Any] = dict(getattr(inspect.unwrap(target), "__annotations__", None) or {})
    if not raw:
        return {}
    localns = _closure_namespace(inspect.unwrap(target))
    try:
        return typing.get_type_hints(target, localns=localns, include_extras=True)
    except Exception:  # noqa: BLE001, S110 - fall back to resolving one by one below
        pass
    # Some annotation does not resolve (e.g. one imported under TYPE_CHECKING): resolve one by
    # one, so that only an unresolvable *World parameter* is an error.
    module = sys.modules.get(getattr(target, "__module__", "") or "")
    globalns = dict(getattr(module, "__dict__", {}))
    globalns.update(getattr(inspect.unwrap(target), "__globals__", {}))
    resolved: dict[str, Any] = {}
    namespace = {**globalns, **localns}
    for pname, ann in raw.items():
        if isinstance(ann, str):
            try:
                ann = eval(ann, globalns, localns)  # annotations are code, like get_type_hints
            except Exception as exc:  # noqa: BLE001 - any failure: report it per parameter
                ann = _Unresolved(ann, exc, namespace)
        resolved[pname] = ann
    return resolved


class _Unresolved:
    """An annotation whose text could not be evaluated, with the namespace it was tried in."""

    __slots__ = ("error", "namespace", "text")

    def __init__(self, text: str, error: Exception, namespace: dict[str, Any]) -> None:
        self.text = text
        self.error = error
        self.namespace = namespace

    def __repr__(self) -> str:
        return self.text


def _declares_param(ann: _Unresolved) -> bool:
    """Whether an annotation that failed to evaluate declares a World parameter.

    Decided by the annotation's structure, not by substrings: it declares one when its outermost
    expression (or a member of ``X | None`` / ``Optional[X]`` / ``Union[...]``) is one of the
    parameter aliases, bare (``RegistryRef``) or subscripted (``Res[Quote]``). The head is
    looked up in the function's namespace, so ``nw.Res[...]`` and ``Res`` imported under another
    name count, while ``Sequence[Quote]``, ``SequenceNumber`` or ``PriceRes[Quote]`` (the event
    type, typically imported under ``TYPE_CHECKING``) do not. A head that cannot be looked up
    either counts only when it is spelled exactly like a parameter alias.
    """
    try:
        node = ast.parse(ann.text, mode="eval").body
    except SyntaxError:
        return False
    return any(_is_param_head(member, ann.namespace) for member in _union_members(node, ann))


def _union_members(node: ast.expr, ann: _Unresolved) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*_union_members(node.left, ann), *_union_members(node.right, ann)]
    if isinstance(node, ast.Subscript):
        head = _lookup(node.value, ann.namespace)
        if head is typing.Optional or head is typing.Union:
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return [m for item in items for m in _union_members(item, ann)]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
        try:
            return _union_members(ast.parse(node.value, mode="eval").body, ann)
        except SyntaxError:
            return []
    return [node]


_NOT_FOUND: Final = object()


def _lookup(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The object a ``name`` or ``module.name`` expression denotes, or ``_NOT_FOUND``."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id, _NOT_FOUND)
    if isinstance(node, ast.Attribute):
        base = _lookup(node.value, namespace)
        return _NOT_FOUND if base is _NOT_FOUND else getattr(base, node.attr, _NOT_FOUND)
    return _NOT_FOUND


def _is_param_head(node: ast.expr, namespace: dict[str, Any]) -> bool:
    head = node.value if isinstance(node, ast.Subscript) else node
    found = _lookup(head, namespace)
    if found is _NOT_FOUND:
        spelled = head.id if isinstance(head, ast.Name) else getattr(head, "attr", None)
        return spelled in _ALIAS_NAMES
    return any(found is alias for alias in _ALIASES)


class Signature(typing.NamedTuple):
    """The parameters of a function, split into leading, World parameters and trailing."""

    name: str
    specs: list[Param]
    is_async: bool


def read_signature(
    fn: Callable[..., Any],
    *,
    leading: int,
    trailing: int,
    params: Sequence[Any] | None,
    name: str | None,
    what: str = "step",
) -> Signature | None:
    """Split ``fn``'s parameters; None when ``fn``'s signature cannot be inspected."""
    if not callable(fn):
        raise BuildError(f"{what} {fn!r} is not callable")
    fname = name or callable_name(fn)
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(type(fn), "__call__", None)  # noqa: B004 - async __call__ of a callable object
    )
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        if params:
            raise BuildError(
                f"{what} {fname}: its signature cannot be inspected, so it cannot take "
                "World parameters"
            ) from None
        return None
    positional: list[inspect.Parameter] = []
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional.append(p)
        elif p.kind is p.VAR_POSITIONAL:
            raise BuildError(
                f"{what} {fname}: *{p.name} is not supported; declare each parameter"
            )
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            raise BuildError(
                f"{what} {fname}: keyword-only parameter {p.name!r} has no default and would "
                "never be passed"
            )
    outer = leading + trailing
    if params is not None:
        specs: list[Param] = []
        for i, decl in enumerate(params):
            spec = decl if isinstance(decl, Param) else param_spec(decl)
            if spec is None:
                raise BuildError(
                    f"{what} {fname}: params[{i}] = {decl!r} is not a World parameter "
                    "(Res[T], ResMut[T], Local[T], Res[T] | None, RegistryRef, Seq)"
                )
            specs.append(spec)
        expected = outer + len(specs)
        if not _arity_fits(positional, expected):
            raise BuildError(
                f"{what} {fname} takes {len(positional)} positional parameter(s) but "
                f"{expected} are passed ({_layout(leading, len(specs), trailing)})"
            )
        _check_specs(specs, fname, what)
        return Signature(fname, specs, is_async)

    hints = _resolve_annotations(fn, fname)

    def spec_of(p: inspect.Parameter) -> Param | None:
        ann = hints.get(p.name, p.annotation)
        if isinstance(ann, _Unresolved):
            if _declares_param(ann):
                raise BuildError(
                    f"{what} {fname}: cannot resolve the annotation {ann.text!r} of parameter "
                    f"{p.name!r} ({type(ann.error).__name__}: {ann.error}); define the types "
                    "it names at module level, or pass params=[...]"
                )
            return None
        if ann is inspect.Parameter.empty:
            return None
        try:
            return param_spec(ann)
        except BuildError as exc:
            raise BuildError(f"{what} {fname}, parameter {p.name!r}: {exc}") from None

    # The World parameters are the ones between the `leading` and the `trailing` positions.
    n_middle = len(positional) - outer
    if n_middle < 0:
        raise BuildError(
            f"{what} {fname} takes {len(positional)} positional parameter(s) but needs "
            f"{_layout_needed(leading, trailing)}"
        )
    specs = []
    for i, p in enumerate(positional):
        spec = spec_of(p)
        if i < leading or i >= leading + n_middle:
            if spec is not None:
                role = "context" if i < leading else "event"
                raise BuildError(
                    f"{what} {fname}: parameter {p.name!r} is declared {spec.describe()}, but "
                    f"that position is the {role} ({_layout(leading, n_middle, trailing)}); "
                    "World parameters go between the context and the event"
                )
            continue
        if spec is None:
            if p.annotation is inspect.Parameter.empty and p.name not in hints:
                hint = (
                    "lambdas cannot be annotated: pass params=[...]"
                    if getattr(fn, "__name__", "") == "<lambda>"
                    else "annotate it as Res[T], ResMut[T], Local[T], ... or pass params=[...]"
                )
                raise BuildError(
                    f"{what} {fname}: parameter {p.name!r} has no annotation, so it is neither "
                    f"a World parameter nor the event ({hint}); expected "
                    f"{_layout(leading, n_middle, trailing)}"
                )
            ann = hints.get(p.name, p.annotation)
            raise BuildError(
                f"{what} {fname}: parameter {p.name!r} ({type_name(ann)}) is not a World "
                f"parameter (Res[T], ResMut[T], Local[T], RegistryRef, Seq) and not the event; "
                f"expected {_layout(leading, n_middle, trailing)}"
            )
        specs.append(spec)
    _check_specs(specs, fname, what)
    return Signature(fname, specs, is_async)


def _arity_fits(positional: list[inspect.Parameter], n: int) -> bool:
    required = sum(1 for p in positional if p.default is p.empty)
    return required <= n <= len(positional)


def _layout(leading: int, middle: int, trailing: int) -> str:
    parts = []
    if leading:
        parts.append(f"{leading} context")
    parts.append(f"{middle} World parameter(s)")
    parts.append(f"{trailing} event/input" if trailing else "no event")
    return ", ".join(parts)


def _layout_needed(leading: int, trailing: int) -> str:
    parts = []
    if leading:
        parts.append(f"{leading} context argument(s) first")
    parts.append(
        f"{trailing} event/input argument(s) last" if trailing else "no event argument"
    )
    return " and ".join(parts)


def _check_specs(specs: list[Param], fname: str, what: str) -> None:
    for spec in specs:
        if spec.kind is ParamKind.RES_MUT and is_immutable_type(spec.key):
            raise BuildError(
                f"{what} {fname}: {spec.describe()} asks to write {type_name(spec.key)}, which "
                f"is immutable, so a write could never reach the World; register "
                f"Cell(value) and declare ResMut[Cell[{type_name(spec.key)}]]"
            )
        if spec.kind in (ParamKind.RES, ParamKind.RES_MUT, ParamKind.LOCAL) and isinstance(
            spec.key, TypeVar
        ):
            raise BuildError(
                f"{what} {fname}: {spec.kind.value}[{spec.key}] names a type variable, not a type"
            )


# -- resolution and dispatchers ----------------------------------------------------------------

def resolve(sig: Signature, registry: Registry) -> Resolved:
    """Look every World parameter of ``sig`` up in ``registry`` (the build-time half).

    The result describes each parameter as a structured :data:`~._emit.Arg` for the emitter.
    """
    world = registry.world
    args: list[Arg] = []
    stamps: list[int] = []
    for spec in sig.specs:
        kind = spec.kind
        if kind is ParamKind.SEQ:
            args.append(SEQUENCE)
        elif kind is ParamKind.REGISTRY:
            args.append(Bound(registry))
        elif kind is ParamKind.LOCAL:
            args.append(LocalState(spec.key))
        else:
            rid = registry.get_id(spec.key)
            if rid is None:
                if not spec.optional:
                    raise UnknownResourceError(
                        registry._missing_message(spec.key, f"{sig.name} needs {spec.describe()}")
                    )
                args.append(Bound(None))
                continue
            if kind is ParamKind.RES_MUT and rid not in stamps:
                stamps.append(rid)
            args.append(Bound(world._values[rid]))
    return Resolved(sig.name, sig.is_async, tuple(args), tuple(stamps), world)


def dispatcher(
    fn: Callable[..., Any],
    resolved: Resolved,
    params: Sequence[str],
    lead: Sequence[str],
    trail: Sequence[str],
    *,
    context: bool = False,
) -> Factory:
    """The factory of ``fn``'s dispatchers: ``run(*params)`` calls ``fn(*lead, <World>, *trail)``.

    ``params`` names ``run``'s parameters; ``lead`` and ``trail`` are the expressions passed
    around the World parameters (handlers: ``run(world, event)`` passes only ``event``). With
    ``context`` the first argument is ``<slot>.ctx``, the slot being the callback object the
    factory's caller supplies. A coroutine function is spawned on the running loop, and ``run``
    returns the task.
    """
    em = Emitter(f"{'callback' if context else 'handler'} {resolved.name}")
    call = em.bind(fn, resolved, hint="fn")
    if context:
        lead = [f"{em.slot('cb')}.ctx", *lead]
    em.put_stamps(0, call)
    expr = call.call(lead, trail)
    if resolved.is_async:
        expr = f"{em.const(asyncio.get_running_loop, 'running_loop')}().create_task({expr})"
    em.put(0, f"return {expr}")
    return em.finish(", ".join(params))


def compile_step(
    fn: Callable[..., Any],
    registry: Registry,
    *,
    leading: int = 0,
    trailing: int = 1,
    params: Sequence[Any] | None = None,
    name: str | None = None,
) -> Callable[..., Any]:
    """Turn ``fn`` into a plain callable of ``leading + trailing`` positional arguments.

    The callable calls ``fn(lead..., <World parameters>, trail...)``, the World parameters
    resolved against ``registry`` now and injected at each call (``ResMut`` stamping
    ``changed_at``, ``Local`` state owned by the returned callable). ``params`` declares the
    World parameters explicitly (for lambdas); ``name`` is used in error messages.

    Example::

        def apply(book: ResMut[Book], quote: Quote) -> Book:
            book.update(quote)
            return book

        step = compile_step(apply, world.registry)   # step(quote)
        step(Quote(...))

    Raises :class:`BuildError` (a TypeError) when ``fn``'s parameters do not fit and
    :class:`UnknownResourceError` when a required resource is not registered.
    """
    if leading < 0 or trailing < 0:
        raise ValueError("leading and trailing must be >= 0")
    sig = read_signature(fn, leading=leading, trailing=trailing, params=params, name=name)
    if sig is None or (not sig.specs and params is None):
        return fn
    lead = [f"a{i}" for i in range(leading)]
    trail = [f"e{i}" for i in range(trailing)]
    return dispatcher(fn, resolve(sig, registry), [*lead, *trail], lead, trail)()

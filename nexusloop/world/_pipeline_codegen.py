"""Code generation for pipelines and DAGs: one specialised Python function per built chain.

Why generate code
-----------------
A pipeline is a chain of small functions with a little control flow between them (skip when
there is no value, stop on a failed guard, catch an exception). The obvious implementation, a
loop over a list of step objects each with a ``run`` method, pays per step for the loop, an
attribute lookup, a bound-method call and a check of the step's kind: in CPython 3.11 that
made a 3-step chain ~1.7x slower than ``c(b(a(x)))``. Closures nested one per combinator are
no better (one extra Python frame per step).

So ``build()`` writes the source of one function that is exactly what a careful person would
write by hand for that chain, compiles it with ``exec`` (as :mod:`dataclasses` does for
``__init__``) and stores it as the built object's ``run``::

    Pipeline.start(reg, Order).then(validate).filter(is_large).map(price).dispatch(book)

becomes::

    def run(_world, v):
        v = validate(v)
        if not is_large(v): return None
        return book_run(_world, price(_p0, v))

Consecutive calls fold into one expression (no store/load between them), step functions and the
resource objects they take are constants of the function's own globals namespace (the
``LOAD_GLOBAL`` specialisation makes them as cheap as locals), and a step's World parameters
are *inlined*: instead of calling the wrapper :func:`compile_step` would return (one extra frame
per step), the generated code passes the resolved resource objects itself and stamps
``changed_at`` for ``ResMut`` parameters exactly as the handler dispatcher does. Mutable per
pipeline state (``dedup``'s last value, ``scan``'s accumulator) lives in closure cells.

Absence and errors
------------------
"No value" is ``None``. Whether the current value *can* be absent is a static property of the
chain position (what the builder's ``OptionPipeline`` type records): it starts after
``filter``, ``and_then``, ``dedup`` and ``catch`` and ends at ``then``/``unwrap_or``. The
generator tracks it, and:

* a conditional combinator (``map``, ``filter``, ``inspect``...) on a possibly-absent value is
  wrapped in ``if v is not None:``;
* when nothing later in the chain can observe absence (no ``then``, ``tap`` or ``unwrap_or``
  follows), absence ends the event at once (``return None``, or ``continue`` in a batch)
  instead of nesting: a conditional step is preceded by ``if v is None: return None``;
* inside a DAG arm absence never ends the event (the other arms and the merge still run); the
  arm's value is ``None``.

Errors are exceptions. ``catch(handler)`` wraps the steps since the previous ``catch`` (or the
start) in one ``try``; the handler sees the exception and the value becomes absent.
"""
from __future__ import annotations

import inspect
import itertools
import linecache
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._errors import BuildError
from ._param import callable_name, read_signature, resolve
from ._world import Registry, default_for

__all__: list[str] = []

# Op kinds.
THEN = "then"
MAP = "map"
AND_THEN = "and_then"
FILTER = "filter"
GUARD = "guard"
TAP = "tap"
INSPECT = "inspect"
UNWRAP_OR = "unwrap_or"
UNWRAP_OR_ELSE = "unwrap_or_else"
CATCH = "catch"
ROUTE = "route"
DEDUP = "dedup"
SCAN = "scan"
DISPATCH = "dispatch"
FORK = "fork"

#: Run only when the value is present.
_CONDITIONAL = frozenset({MAP, AND_THEN, FILTER, GUARD, INSPECT, DEDUP, SCAN, ROUTE, FORK,
                          DISPATCH})
#: See an absent value (so absence must reach them as ``None``).
_CONSUMERS = frozenset({THEN, TAP, UNWRAP_OR, UNWRAP_OR_ELSE})


@dataclass(frozen=True, slots=True)
class Op:
    """One combinator in a chain: what the builder records, what the generator reads."""

    kind: str
    fn: Any = None                  # step, predicate, handler or catch handler
    arg: Any = None                 # default, initial accumulator, exception types, dedup key
    params: Sequence[Any] | None = None
    name: str | None = None
    leading: int = 0
    trailing: int = 1
    arms: tuple[tuple[Op, ...], ...] = ()


class StepCall:
    """How generated code calls one user function, World parameters inlined."""

    __slots__ = ("exprs", "fn_name", "stamps")

    def __init__(self, fn_name: str, exprs: Sequence[str], stamps: Sequence[str]) -> None:
        self.fn_name = fn_name
        self.exprs = tuple(exprs)      # World-parameter argument expressions
        self.stamps = tuple(stamps)    # statements run before the call (ResMut stamps)

    def call(self, lead: Sequence[str], trail: Sequence[str]) -> str:
        return f"{self.fn_name}({', '.join((*lead, *self.exprs, *trail))})"


def check_step(
    fn: Callable[..., Any],
    registry: Registry | None,
    *,
    leading: int,
    trailing: int,
    params: Sequence[Any] | None,
    name: str | None,
    what: str,
) -> None:
    """Validate ``fn`` as a step now (arity, annotations, registered resources).

    Called when a combinator is added, so a bad step fails at the line that added it.
    """
    _resolve_step(fn, registry, leading, trailing, params, name, what)


def _resolve_step(
    fn: Callable[..., Any],
    registry: Registry | None,
    leading: int,
    trailing: int,
    params: Sequence[Any] | None,
    name: str | None,
    what: str,
) -> Any:
    if params is None and _fits_unannotated(fn, leading + trailing):
        return None
    sig = read_signature(fn, leading=leading, trailing=trailing, params=params, name=name,
                         what=what)
    if sig is None:
        return None
    if sig.is_async:
        raise BuildError(
            f"{what} {sig.name} is a coroutine function; pipeline steps run synchronously "
            "(dispatch to an async handler built with into_handler instead)"
        )
    if not sig.specs:
        return None
    if registry is None:
        names = ", ".join(s.describe() for s in sig.specs)
        raise BuildError(
            f"{what} {sig.name} takes World parameters ({names}) but the pipeline was "
            "started without a registry: use Pipeline.start(world.registry, ...)"
        )
    return resolve(sig, registry)


def _fits_unannotated(fn: Any, n: int) -> bool:
    """A callable without annotations that accepts exactly ``n`` positional arguments.

    Covers builtins and methods with optional parameters (``str.strip``, ``int``,
    ``round``) that take no World parameter but have more positional slots than ``n``.
    """
    if inspect.iscoroutinefunction(fn):
        return False
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    required = total = 0
    for p in sig.parameters.values():
        if p.annotation is not p.empty:
            return False
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            total += 1
            required += p.default is p.empty
        elif p.kind is p.VAR_POSITIONAL:
            total = max(total, n)
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            return False
    return required <= n <= total


class _Ctx(NamedTuple):
    stop: str          # the statement that ends this event ("return None" / "continue")
    can_exit: bool     # may absence end the event? (not inside a DAG arm)


class Emitter:
    """Writes the source of one generated function and collects the constants it uses."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {}
        self._const_ids: dict[int, str] = {}
        self.state: list[tuple[str, str]] = []    # (cell name, initial-value constant)
        self.pending: dict[str, str] = {}         # var -> expression not yet stored
        self._counter = itertools.count()

    # -- names -----------------------------------------------------------------------------
    def const(self, obj: Any, hint: str) -> str:
        """A global name bound to ``obj`` in the generated function's namespace."""
        key = id(obj)
        name = self._const_ids.get(key)
        if name is None:
            name = f"_{_ident(hint)}_{next(self._counter)}"
            self.ns[name] = obj
            self._const_ids[key] = name
        return name

    def fresh(self, hint: str) -> str:
        return f"_{_ident(hint)}_{next(self._counter)}"

    def new_state(self, hint: str, initial: Any) -> str:
        cell = self.fresh(hint)
        self.state.append((cell, self.const(initial, hint + "_init")))
        return cell

    def step(self, op: Op, registry: Registry | None, what: str) -> StepCall:
        """Resolve ``op.fn`` against ``registry`` (fresh ``Local`` state) for inlining."""
        fn = op.fn
        resolved = _resolve_step(fn, registry, op.leading, op.trailing, op.params, op.name,
                                 what)
        label = getattr(fn, "__name__", None) or type(fn).__name__
        fn_name = self.const(fn, label)
        if resolved is None:
            return StepCall(fn_name, (), ())
        world = registry.world  # type: ignore[union-attr]  # resolved implies a registry
        w = self.const(world, "world")
        chg = self.const(world._changed, "changed")
        locals_ = dict(resolved.locals_)
        exprs = []
        for expr in resolved.exprs:
            if expr == "_SEQ_":
                exprs.append(f"{w}._seq")
            elif expr.startswith("_p"):
                index = int(expr[2:])
                if index in locals_:
                    value = default_for(locals_[index])
                    exprs.append(self.const(value, "local"))
                else:
                    exprs.append(self.const(resolved.bound[index], "res"))
            else:
                exprs.append(expr)
        stamps = [f"{chg}[{rid}] = {w}._seq" for rid in resolved.stamps]
        return StepCall(fn_name, exprs, stamps)

    # -- lines -----------------------------------------------------------------------------
    def put(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def cur(self, var: str) -> str:
        return self.pending.get(var, var)

    def flush(self, var: str, indent: int) -> None:
        expr = self.pending.pop(var, None)
        if expr is not None and expr != var:
            self.put(indent, f"{var} = {expr}")

    def set_pending(self, var: str, call: StepCall, indent: int, lead: Sequence[str] = (),
                    extra_trail: Sequence[str] = ()) -> None:
        """``var = call(var)``, folded into the pending expression when possible."""
        if call.stamps:
            # Stamps are statements: the pending calls must run before them.
            self.flush(var, indent)
            for stamp in call.stamps:
                self.put(indent, stamp)
        self.pending[var] = call.call(lead, (*extra_trail, self.cur(var)))

    # -- chains ----------------------------------------------------------------------------
    def chain(self, ops: Sequence[Op], var: str, indent: int, absent: bool, ctx: _Ctx,
              outer_consumes: bool, registry: Registry | None) -> bool:
        """Emit ``ops`` acting on ``var``; returns whether ``var`` may be absent afterwards."""
        later = []
        seen = outer_consumes
        for op in reversed(ops):
            later.append(seen)
            seen = seen or op.kind in _CONSUMERS
        later.reverse()

        start = 0
        for i, op in enumerate(ops):
            if op.kind != CATCH:
                continue
            self.flush(var, indent)
            self.put(indent, "try:")
            mark = len(self.lines)
            self._ops(ops, range(start, i), later, var, indent + 1, absent, ctx, registry)
            self.flush(var, indent + 1)
            if len(self.lines) == mark:
                self.put(indent + 1, "pass")
            handler = self.step(op, registry, "catch handler")
            self.put(indent, f"except {self.const(op.arg, 'exc_types')} as _exc:")
            for stamp in handler.stamps:
                self.put(indent + 1, stamp)
            self.put(indent + 1, handler.call((), ("_exc",)))
            self._absence(var, indent + 1, later[i], ctx)
            absent = True
            start = i + 1
        return self._ops(ops, range(start, len(ops)), later, var, indent, absent, ctx, registry)

    def _ops(self, ops: Sequence[Op], indices: range, later: list[bool], var: str, indent: int,
             absent: bool, ctx: _Ctx, registry: Registry | None) -> bool:
        for i in indices:
            absent = self._op(ops[i], later[i], var, indent, absent, ctx, registry)
        return absent

    def _absence(self, var: str, indent: int, consumed: bool, ctx: _Ctx) -> None:
        """Emit what happens when the value becomes absent."""
        if consumed or not ctx.can_exit:
            self.put(indent, f"{var} = None")
        else:
            self.put(indent, ctx.stop)

    def _op(self, op: Op, consumed: bool, var: str, indent: int, absent: bool, ctx: _Ctx,
            registry: Registry | None) -> bool:
        """Emit one op; returns the static "may be absent" flag after it.

        The flag is a property of the chain position (the builder's OptionPipeline type), not
        of the code path: even after ``if v is None: return None`` a later step may return
        None, which an optional chain must treat as "no value" again.
        """
        kind = op.kind
        wrapped = False
        if kind in _CONDITIONAL and absent:
            self.flush(var, indent)
            if not consumed and ctx.can_exit:
                # Nothing later can see absence: end the event here instead of nesting.
                self.put(indent, f"if {var} is None: {ctx.stop}")
            else:
                self.put(indent, f"if {var} is not None:")
                indent += 1
                wrapped = True
        arms_absent = self._emit(op, consumed, var, indent, ctx, registry)
        if wrapped:
            self.flush(var, indent)
        if kind in (THEN, UNWRAP_OR, UNWRAP_OR_ELSE):
            return False
        if kind in (AND_THEN, FILTER, DEDUP):
            return True
        return absent or arms_absent

    def _emit(self, op: Op, consumed: bool, var: str, indent: int, ctx: _Ctx,
              registry: Registry | None) -> bool:
        """Emit one op for a present value (or for any value, if it is unconditional).

        Returns True only for a route whose arms may end without a value.
        """
        kind = op.kind
        if kind in (THEN, MAP):
            self.set_pending(var, self.step(op, registry, "step"), indent)
        elif kind == DISPATCH:
            runner = self.const(as_runner(op.fn, "dispatch target"), "dispatch")
            self.pending[var] = f"{runner}(_world, {self.cur(var)})"
        elif kind == AND_THEN:
            self.set_pending(var, self.step(op, registry, "step"), indent)
        elif kind in (FILTER, GUARD):
            pred = self.step(op, registry, "predicate")
            self.flush(var, indent)
            for stamp in pred.stamps:
                self.put(indent, stamp)
            self.put(indent, f"if not {pred.call((), (var,))}:")
            if kind == GUARD:
                self.put(indent + 1, ctx.stop)
            else:
                self._absence(var, indent + 1, consumed, ctx)
        elif kind in (TAP, INSPECT):
            side = self.step(op, registry, "step")
            self.flush(var, indent)
            for stamp in side.stamps:
                self.put(indent, stamp)
            self.put(indent, side.call((), (var,)))
        elif kind in (UNWRAP_OR, UNWRAP_OR_ELSE):
            self.flush(var, indent)
            self.put(indent, f"if {var} is None:")
            if kind == UNWRAP_OR:
                self.put(indent + 1, f"{var} = {self.const(op.arg, 'default')}")
            else:
                make = self.step(op, registry, "step")
                for stamp in make.stamps:
                    self.put(indent + 1, stamp)
                self.put(indent + 1, f"{var} = {make.call((), ())}")
        elif kind == DEDUP:
            last = self.new_state("last", _UNSET)
            self.flush(var, indent)
            key = var
            if op.arg is not None:
                key = self.fresh("key")
                self.put(indent, f"{key} = {self.const(op.arg, 'dedup_key')}({var})")
            self.put(indent, f"if {key} == {last}:")
            self._absence(var, indent + 1, consumed, ctx)
            self.put(indent, "else:")
            self.put(indent + 1, f"{last} = {key}")
        elif kind == SCAN:
            acc = self.new_state("acc", op.arg)
            call = self.step(op, registry, "scan step")
            self.flush(var, indent)
            for stamp in call.stamps:
                self.put(indent, stamp)
            self.put(indent, f"{var} = {acc} = {call.call((acc,), (var,))}")
        elif kind == ROUTE:
            pred = self.step(op, registry, "route predicate")
            self.flush(var, indent)
            for stamp in pred.stamps:
                self.put(indent, stamp)
            self.put(indent, f"if {pred.call((), (var,))}:")
            results = []
            for branch, arm in enumerate(op.arms):
                if branch:
                    self.put(indent, "else:")
                mark = len(self.lines)
                results.append(self.chain(arm, var, indent + 1, False, ctx, consumed, registry))
                self.flush(var, indent + 1)
                if len(self.lines) == mark:
                    self.put(indent + 1, "pass")
            return any(results)
        elif kind == FORK:
            self.flush(var, indent)
            arm_ctx = _Ctx(ctx.stop, False)
            arm_vars = []
            for arm in op.arms:
                arm_var = self.fresh("arm")
                self.pending[arm_var] = var
                self.chain(arm, arm_var, indent, False, arm_ctx, True, registry)
                # Arms run in order, each completely before the next one starts.
                self.flush(arm_var, indent)
                arm_vars.append(arm_var)
            if op.fn is not None:      # merge (else join: the fork's value goes on)
                merge = self.step(op, registry, "merge step")
                for stamp in merge.stamps:
                    self.put(indent, stamp)
                self.pending[var] = merge.call((), arm_vars)
        else:  # pragma: no cover
            raise AssertionError(f"unknown op {kind!r}")
        return False

    # -- the function ----------------------------------------------------------------------
    def finish(self, params: str, prologue: Sequence[str] = (),
               epilogue: Sequence[str] = ()) -> tuple[Callable[..., Any], str]:
        """Wrap the emitted lines in a factory, compile it, return (function, source)."""
        out = ["def _make(*_args):"]
        for cell, initial in self.state:
            out.append(f"    {cell} = {initial}")
        out.extend(f"    {line}" for line in prologue)
        out.append(f"    def run({params}):")
        if self.state:
            out.append(f"        nonlocal {', '.join(c for c, _ in self.state)}")
        out.extend(f"        {line}" for line in self.lines)
        out.extend(f"        {line}" for line in epilogue)
        out.append("    return run")
        source = "\n".join(out) + "\n"
        filename = f"<nexusloop {self.label} #{next(_BUILD_IDS)}>"
        code = compile(source, filename, "exec")
        # Tracebacks through generated code show the generated lines.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(code, self.ns)  # noqa: S102 - our own generated source
        make = self.ns["_make"]
        # The functions made by ``make`` keep this namespace (their globals) and so ``make``
        # alive; when the last of them is gone, drop the source from linecache too.
        weakref.finalize(make, linecache.cache.pop, filename, None)
        return make, source


_BUILD_IDS = itertools.count(1)


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


def _ident(text: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    return out.strip("_")[:40] or "f"


def step_label(fn: Any) -> str:
    """The name used for ``fn`` in error messages."""
    return callable_name(fn)


def as_runner(handler: Any, what: str) -> Callable[..., Any]:
    """The ``run(world, event)`` callable of a handler (or a plain ``f(world, event)``)."""
    run = getattr(handler, "run", None)
    if callable(run):
        return run  # type: ignore[no-any-return]
    if callable(handler):
        return handler  # type: ignore[no-any-return]
    raise BuildError(f"{what} {handler!r} is not a handler (it has no run(world, event))")

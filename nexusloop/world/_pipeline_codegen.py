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
write by hand for that chain and stores it as the built object's ``run``. The
:class:`ChainWriter` here knows the chain logic; the names, the World-parameter bindings, the
compiling and the traceback support come from the World's one code generator,
:class:`~._emit.Emitter`::

    Pipeline.start(reg, Order).then(validate).filter(is_large).map(price).dispatch(book)

becomes::

    def run(_world, v):
        v = validate(v)
        if not is_large(v): return None
        return book_run(_world, price(_res_3, v))

Consecutive calls fold into one expression (no store/load between them), step functions and the
resource objects they take are constants of the function's own globals namespace (the
``LOAD_GLOBAL`` specialisation makes them as cheap as locals), and a step's World parameters
are *inlined*: instead of calling the wrapper :func:`compile_step` would return (one extra frame
per step), the generated code passes the resolved resource objects itself and stamps
``changed_at`` for ``ResMut`` parameters with the same :meth:`~._emit.Emitter.bind` as a
handler's dispatcher. Mutable per pipeline state (``dedup``'s last value, ``scan``'s
accumulator) lives in closure cells (:meth:`~._emit.Emitter.state`).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._emit import Emitter, Resolved, StepCall
from ._errors import BuildError
from ._param import read_signature, resolve
from ._world import Registry

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


def resolve_step(
    fn: Callable[..., Any],
    registry: Registry | None,
    *,
    leading: int = 0,
    trailing: int = 1,
    params: Sequence[Any] | None = None,
    name: str | None = None,
    what: str = "step",
) -> Resolved | None:
    """Check ``fn`` as a step (arity, annotations, registered resources) and resolve it.

    Combinators call it when they are added, so a bad step fails at the line that added it;
    ``build()`` calls it again for fresh ``Local`` state. None: a plain function to call as is.
    """
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


class ChainWriter(Emitter):
    """Writes one pipeline or DAG: the chain logic on top of the shared :class:`Emitter`.

    Consecutive calls fold into one expression: ``pending`` maps a variable to the expression
    that has not been stored in it yet (``v`` -> ``c(b(v))``); statements flush it first.
    """

    def __init__(self, label: str, registry: Registry | None) -> None:
        super().__init__(label)
        self.registry = registry
        self.pending: dict[str, str] = {}         # var -> expression not yet stored

    def step(self, op: Op, what: str) -> StepCall:
        """Resolve ``op.fn`` (fresh ``Local`` state per build) and bind it for inlining."""
        resolved = resolve_step(op.fn, self.registry, leading=op.leading, trailing=op.trailing,
                                params=op.params, name=op.name, what=what)
        return self.bind(op.fn, resolved)

    def statement_step(self, op: Op, what: str, var: str, indent: int) -> StepCall:
        """A step called in a statement of its own: ``var`` is stored and the stamps run first."""
        call = self.step(op, what)
        self.flush(var, indent)
        self.put_stamps(indent, call)
        return call

    # -- lines -----------------------------------------------------------------------------
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
            self.put_stamps(indent, call)
        self.pending[var] = call.call(lead, (*extra_trail, self.cur(var)))

    # -- chains ----------------------------------------------------------------------------
    def chain(self, ops: Sequence[Op], var: str, indent: int, absent: bool, ctx: _Ctx,
              outer_consumes: bool) -> bool:
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
            self._ops(ops, range(start, i), later, var, indent + 1, absent, ctx)
            self.flush(var, indent + 1)
            if len(self.lines) == mark:
                self.put(indent + 1, "pass")
            handler = self.step(op, "catch handler")
            self.put(indent, f"except {self.const(op.arg, 'exc_types')} as _exc:")
            self.put_stamps(indent + 1, handler)
            self.put(indent + 1, handler.call((), ("_exc",)))
            self._absence(var, indent + 1, later[i], ctx)
            absent = True
            start = i + 1
        return self._ops(ops, range(start, len(ops)), later, var, indent, absent, ctx)

    def _ops(self, ops: Sequence[Op], indices: range, later: list[bool], var: str, indent: int,
             absent: bool, ctx: _Ctx) -> bool:
        for i in indices:
            absent = self._op(ops[i], later[i], var, indent, absent, ctx)
        return absent

    def _absence(self, var: str, indent: int, consumed: bool, ctx: _Ctx) -> None:
        """Emit what happens when the value becomes absent."""
        if consumed or not ctx.can_exit:
            self.put(indent, f"{var} = None")
        else:
            self.put(indent, ctx.stop)

    def _op(self, op: Op, consumed: bool, var: str, indent: int, absent: bool, ctx: _Ctx) -> bool:
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
        arms_absent = self._emit(op, consumed, var, indent, ctx)
        if wrapped:
            self.flush(var, indent)
        if kind in (THEN, UNWRAP_OR, UNWRAP_OR_ELSE):
            return False
        if kind in (AND_THEN, FILTER, DEDUP):
            return True
        return absent or arms_absent

    def _emit(self, op: Op, consumed: bool, var: str, indent: int, ctx: _Ctx) -> bool:
        """Emit one op for a present value (or for any value, if it is unconditional).

        Returns True only for a route whose arms may end without a value.
        """
        kind = op.kind
        if kind in (THEN, MAP):
            self.set_pending(var, self.step(op, "step"), indent)
        elif kind == DISPATCH:
            runner = self.const(as_runner(op.fn, "dispatch target"), "dispatch")
            self.pending[var] = f"{runner}(_world, {self.cur(var)})"
        elif kind == AND_THEN:
            self.set_pending(var, self.step(op, "step"), indent)
        elif kind in (FILTER, GUARD):
            pred = self.statement_step(op, "predicate", var, indent)
            self.put(indent, f"if not {pred.call((), (var,))}:")
            if kind == GUARD:
                self.put(indent + 1, ctx.stop)
            else:
                self._absence(var, indent + 1, consumed, ctx)
        elif kind in (TAP, INSPECT):
            side = self.statement_step(op, "step", var, indent)
            self.put(indent, side.call((), (var,)))
        elif kind in (UNWRAP_OR, UNWRAP_OR_ELSE):
            self.flush(var, indent)
            self.put(indent, f"if {var} is None:")
            if kind == UNWRAP_OR:
                self.put(indent + 1, f"{var} = {self.const(op.arg, 'default')}")
            else:
                make = self.step(op, "step")
                self.put_stamps(indent + 1, make)
                self.put(indent + 1, f"{var} = {make.call((), ())}")
        elif kind == DEDUP:
            last = self.state("last", _UNSET)
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
            acc = self.state("acc", op.arg)
            call = self.statement_step(op, "scan step", var, indent)
            self.put(indent, f"{var} = {acc} = {call.call((acc,), (var,))}")
        elif kind == ROUTE:
            pred = self.statement_step(op, "route predicate", var, indent)
            self.put(indent, f"if {pred.call((), (var,))}:")
            results = []
            for branch, arm in enumerate(op.arms):
                if branch:
                    self.put(indent, "else:")
                mark = len(self.lines)
                results.append(self.chain(arm, var, indent + 1, False, ctx, consumed))
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
                self.chain(arm, arm_var, indent, False, arm_ctx, True)
                # Arms run in order, each completely before the next one starts.
                self.flush(arm_var, indent)
                arm_vars.append(arm_var)
            if op.fn is not None:      # merge (else join: the fork's value goes on)
                merge = self.step(op, "merge step")
                self.put_stamps(indent, merge)
                self.pending[var] = merge.call((), arm_vars)
        else:  # pragma: no cover
            raise AssertionError(f"unknown op {kind!r}")
        return False


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


def as_runner(handler: Any, what: str) -> Callable[..., Any]:
    """The ``run(world, event)`` callable of a handler (or a plain ``f(world, event)``)."""
    run = getattr(handler, "run", None)
    if callable(run):
        return run  # type: ignore[no-any-return]
    if callable(handler):
        return handler  # type: ignore[no-any-return]
    raise BuildError(f"{what} {handler!r} is not a handler (it has no run(world, event))")

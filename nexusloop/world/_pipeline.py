"""Pipelines: typed step chains compiled into one function.

Design
------
A :class:`Pipeline` is an immutable builder: every combinator returns a new builder with one
more operation, so a common prefix can be shared and extended twice. Each step is checked when
it is added (arity, annotations, registered resources), so a bad step fails on the line that
added it, with the function's name in the message. ``build()`` hands the operations to the code
generator (:mod:`._pipeline_codegen`, whose essay explains why) and returns a
:class:`BuiltPipeline` whose ``run(world, event)`` is that generated function: a handler like
any other (:class:`~nexusloop.world.Handler`).

Conventions, chosen to read like ordinary Python:

* **A step is a plain function** ``step(<World parameters>, value) -> result``; World
  parameters are declared by annotation (``Res[T]``, ``ResMut[T]``, ``Local[T]``...) or with
  ``params=[...]`` for lambdas, exactly as for :func:`~nexusloop.world.into_handler`.
* **"No value" is None.** ``filter``, ``and_then``, ``dedup`` and ``catch`` may leave the chain
  without a value; the builder then has the type :class:`OptionPipeline`, whose ``map``,
  ``filter``, ``inspect``, ``dispatch``... run only when there is a value, and whose
  ``unwrap_or`` / ``then`` see the absence. When nothing later can see it, absence simply ends
  the event (``run`` returns None).
* **Errors are exceptions.** Any step may raise; ``catch(handler)`` handles what the steps
  since the previous ``catch`` raised (the handler receives the exception) and leaves the chain
  without a value. Without a ``catch`` the exception propagates out of ``run``, as from any
  function.
* **guard stops the event.** ``guard(pred)`` is a guard clause: when ``pred`` is false nothing
  after it runs, not even ``unwrap_or``.

A :class:`BatchPipeline` (``build_batch(capacity)``) runs the same chain inline in a ``for``
loop over its ``input`` list: no call per item for the pipeline itself, no intermediate lists,
errors handled per item.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from ._errors import BuildError
from ._pipeline_codegen import (
    AND_THEN,
    CATCH,
    DEDUP,
    DISPATCH,
    FILTER,
    FORK,
    GUARD,
    INSPECT,
    MAP,
    ROUTE,
    SCAN,
    TAP,
    THEN,
    UNWRAP_OR,
    UNWRAP_OR_ELSE,
    ChainWriter,
    Op,
    _Ctx,
    as_runner,
    resolve_step,
)
from ._world import Registry, World

__all__ = [
    "BatchPipeline",
    "BuiltPipeline",
    "Fork",
    "OptionPipeline",
    "Pipeline",
]

In = TypeVar("In")
Out = TypeVar("Out")


class _Head(NamedTuple):
    """What every chain extended from one start shares: one object, passed on unchanged."""

    registry: Registry | None
    name: str | None
    built: type[BuiltPipeline[Any, Any]]   # what build() returns (Dag for a Dag.start chain)


def _registry_of(source: Registry | World | None) -> Registry | None:
    if source is None or isinstance(source, Registry):
        return source
    if isinstance(source, World):
        return source.registry
    raise TypeError(f"expected a Registry or a World, got {source!r}")


class Pipeline(Generic[In, Out]):
    """A chain of steps from an ``In`` event to an ``Out`` value; ``build()`` compiles it.

    Example::

        def validate(limits: Res[Limits], order: Order) -> Order:
            if order.qty > limits.max_qty:
                raise ValueError("too large")
            return order

        def reject(log: ResMut[Log], error: Exception) -> None:
            log.lines.append(str(error))

        pipeline = (
            Pipeline.start(world.registry, Order)
            .then(validate)            # may raise
            .catch(reject)             # errors end here; the chain may now have no value
            .map(to_receipt)           # runs for valid orders only
            .dispatch(store_handler)
            .build()
        )
        pipeline.run(world, order)
    """

    __slots__ = ("_head", "_ops")

    def __init__(self, registry: Registry | World | None = None, *,
                 name: str | None = None) -> None:
        self._head = _Head(_registry_of(registry), name, BuiltPipeline)
        self._ops: tuple[Op, ...] = ()

    @classmethod
    def _extended(cls, head: _Head, ops: tuple[Op, ...]) -> Any:
        chain = cls.__new__(cls)
        chain._head = head
        chain._ops = ops
        return chain

    @classmethod
    def start(
        cls,
        registry: Registry | World | None = None,
        event_type: type[Any] | None = None,
        *,
        name: str | None = None,
    ) -> Pipeline[Any, Any]:
        """An empty chain whose steps are resolved against ``registry``.

        ``event_type`` only informs the type checker (``Pipeline.start(reg, Order)`` is a
        ``Pipeline[Order, Order]``). A registry is needed only by steps with World parameters.

        Example::

            p = Pipeline.start(world.registry, int).then(lambda x: x * 2).build()
            p.run(world, 21)        # 42
        """
        return Pipeline(registry, name=name)

    # -- plumbing ----------------------------------------------------------------------------
    def _with(self, cls: type[Pipeline[Any, Any]], op: Op) -> Any:
        return cls._extended(self._head, (*self._ops, op))

    def _step(self, kind: str, fn: Any, params: Sequence[Any] | None, name: str | None,
              *, leading: int = 0, trailing: int = 1, what: str = "step", arg: Any = None,
              arms: tuple[tuple[Op, ...], ...] = ()) -> Op:
        resolve_step(fn, self._head.registry, leading=leading, trailing=trailing, params=params,
                     name=name, what=what)
        return Op(kind, fn, arg, params, name, leading, trailing, arms)

    def _label(self) -> str:
        return self._head.name or self._head.built.kind

    @property
    def _option(self) -> bool:
        return isinstance(self, OptionPipeline)

    def _same(self) -> type[Pipeline[Any, Any]]:
        return OptionPipeline if self._option else Pipeline

    # -- combinators ---------------------------------------------------------------------------
    def then(self, step: Callable[..., Any], *, params: Sequence[Any] | None = None,
             name: str | None = None) -> Any:
        """Pass the current value to ``step``; its result is the new value.

        On an :class:`OptionPipeline` the step also runs without a value and receives None.

        Example: ``Pipeline.start(reg, str).then(str.strip).then(len)``
        """
        return self._with(Pipeline, self._step(THEN, step, params, name))

    def map(self, step: Callable[..., Any], *, params: Sequence[Any] | None = None,
            name: str | None = None) -> Any:
        """Transform the value, only when there is one (the same as ``then`` otherwise).

        Example: ``.filter(is_buy).map(lambda o: o.qty)``
        """
        return self._with(self._same(), self._step(MAP, step, params, name))

    def and_then(self, step: Callable[..., Any], *, params: Sequence[Any] | None = None,
                 name: str | None = None) -> Any:
        """Apply a step that may return None ("no value"), only when there is a value.

        Example: ``.and_then(lambda text: int(text) if text.isdigit() else None)``
        """
        return self._with(OptionPipeline, self._step(AND_THEN, step, params, name))

    def filter(self, predicate: Callable[..., Any], *, params: Sequence[Any] | None = None,
               name: str | None = None) -> Any:
        """Keep the value only when ``predicate(value)`` is true; otherwise no value.

        Example: ``.filter(lambda q: q.size > 0).unwrap_or(EMPTY)``
        """
        return self._with(OptionPipeline,
                          self._step(FILTER, predicate, params, name, what="predicate"))

    def guard(self, predicate: Callable[..., Any], *, params: Sequence[Any] | None = None,
              name: str | None = None) -> Any:
        """Stop the event here unless ``predicate(value)`` is true (a guard clause).

        Unlike ``filter`` nothing after a failed guard runs (``run`` returns None).

        Example: ``.guard(lambda t: t.venue == "XNAS").then(record)``
        """
        return self._with(self._same(),
                          self._step(GUARD, predicate, params, name, what="predicate"))

    def tap(self, step: Callable[..., Any], *, params: Sequence[Any] | None = None,
            name: str | None = None) -> Any:
        """Call ``step(value)`` for its side effect; the value passes through unchanged.

        On an :class:`OptionPipeline` it also runs without a value (and receives None).

        Example: ``.tap(print)``
        """
        return self._with(self._same(), self._step(TAP, step, params, name))

    def inspect(self, step: Callable[..., Any], *, params: Sequence[Any] | None = None,
                name: str | None = None) -> Any:
        """Like ``tap``, but only when there is a value.

        Example: ``.filter(is_large).inspect(log_large)``
        """
        return self._with(self._same(), self._step(INSPECT, step, params, name))

    def catch(self, handler: Callable[..., Any],
              exceptions: type[BaseException] | tuple[type[BaseException], ...] = Exception,
              *, params: Sequence[Any] | None = None, name: str | None = None) -> Any:
        """Handle ``exceptions`` raised by the steps since the previous ``catch``.

        ``handler(<World parameters>, exc)`` is called with the exception; the chain is then
        left without a value. Other exceptions propagate.

        Example: ``.then(parse).catch(count_bad, ValueError).dispatch(book)``
        """
        if not _is_exception_spec(exceptions):
            raise BuildError(f"catch: {exceptions!r} is not an exception type or a tuple of them")
        op = self._step(CATCH, handler, params, name, what="catch handler", arg=exceptions)
        return self._with(OptionPipeline, op)

    def dedup(self, key: Callable[[Any], Any] | None = None) -> Any:
        """Drop a value equal (``==``) to the previous one; ``key`` selects what is compared.

        State is per built pipeline. Example: ``.dedup(key=lambda q: (q.bid, q.ask))``
        """
        if key is not None and not callable(key):
            raise BuildError(f"dedup: key {key!r} is not callable")
        return self._with(OptionPipeline, Op(DEDUP, None, key))

    def scan(self, initial: Any, step: Callable[..., Any], *,
             params: Sequence[Any] | None = None, name: str | None = None) -> Any:
        """Running accumulation: ``acc = step(acc, <World parameters>, value)``; emits ``acc``.

        ``initial`` is the first accumulator of each built pipeline (used as is, not copied).

        Example: ``.scan(0, lambda total, qty: total + qty)`` emits running totals.
        """
        op = self._step(SCAN, step, params, name, leading=1, what="scan step", arg=initial)
        return self._with(self._same(), op)

    def route(self, predicate: Callable[..., Any], if_true: Pipeline[Any, Any],
              if_false: Pipeline[Any, Any], *, params: Sequence[Any] | None = None,
              name: str | None = None) -> Any:
        """Send the value down ``if_true`` or ``if_false`` (unbuilt chains) by ``predicate``.

        The chain continues with the output of the arm taken.

        Example::

            .route(lambda o: o.side == "buy",
                   Pipeline.start(reg).then(apply_bid),
                   Pipeline.start(reg).then(apply_ask))
        """
        arms = []
        for label, arm in (("if_true", if_true), ("if_false", if_false)):
            if not isinstance(arm, Pipeline):
                raise BuildError(
                    f"route: {label} must be an unbuilt Pipeline (Pipeline.start(...)...), "
                    f"got {arm!r}"
                )
            arms.append(arm._ops)
        op = self._step(ROUTE, predicate, params, name, what="route predicate",
                        arms=tuple(arms))
        option = self._option or if_true._option or if_false._option
        return self._with(OptionPipeline if option else Pipeline, op)

    def dispatch(self, handler: Any) -> Any:
        """Pass the value to a handler's ``run(world, value)`` (only when there is a value).

        Example: ``.dispatch(into_handler(update_book, world.registry))``
        """
        as_runner(handler, "dispatch target")
        return self._with(self._same(), Op(DISPATCH, handler))

    def fork(self) -> Fork[In, Out]:
        """Start fanning the value out to arms that each read it (by reference).

        Example: ``.fork().arm(lambda a: a.then(f)).arm(lambda b: b.then(g)).merge(h)``
        """
        return Fork(self, ())

    # -- build ---------------------------------------------------------------------------------
    def build(self) -> BuiltPipeline[In, Out]:
        """Compile the chain into a handler: ``built.run(world, event)``.

        Each build gets its own ``Local``, ``dedup`` and ``scan`` state.
        """
        label = self._label()
        em = ChainWriter(label, self._head.registry)
        em.chain(self._ops, "v", 0, False, _Ctx("return None", True), False)
        em.put(0, f"return {em.cur('v')}")
        factory = em.finish("_world, v")
        built: BuiltPipeline[In, Out] = self._head.built(factory(), label, factory.source)
        return built

    def build_batch(self, capacity: int) -> BatchPipeline[In]:
        """Compile the chain into a :class:`BatchPipeline` with room for ``capacity`` items.

        Example::

            batch = Pipeline.start(reg, Order).then(validate).catch(reject).build_batch(1024)
            batch.input.extend(orders)
            batch.run(world)         # processes and drains the input, item by item
        """
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        label = self._label()
        em = ChainWriter(f"{label} batch", self._head.registry)
        buf = em.slot("buf")
        em.put(0, f"_it = iter({buf})")
        em.put(0, "try:")
        em.put(1, "for v in _it:")
        body_mark = len(em.lines)
        em.chain(self._ops, "v", 2, False, _Ctx("continue", True), False)
        tail = em.pending.pop("v", None)
        if tail is not None and tail != "v":
            em.put(2, tail)
        if len(em.lines) == body_mark:
            em.put(2, "pass")
        em.put(0, "except BaseException:")
        em.put(1, "# Keep what was not processed yet; the item that raised is consumed.")
        em.put(1, "_rest = list(_it)")
        em.put(1, f"{buf}.clear()")
        em.put(1, f"{buf}.extend(_rest)")
        em.put(1, "raise")
        em.put(0, f"{buf}.clear()")
        factory = em.finish("_world")
        buffer: list[In] = []
        return BatchPipeline(factory(buffer), buffer, capacity, label, factory.source)

    def __repr__(self) -> str:
        steps = " -> ".join(_describe(op) for op in self._ops) or "(empty)"
        return f"<{type(self).__name__} {steps}>"


class OptionPipeline(Pipeline[In, Out]):
    """A :class:`Pipeline` whose current value may be absent (None): after ``filter`` & co.

    ``map``, ``and_then``, ``filter``, ``guard``, ``inspect``, ``scan``, ``route``,
    ``dispatch`` and ``fork`` run only when there is a value; ``then`` and ``tap`` see the
    absence as None; ``unwrap_or`` / ``unwrap_or_else`` supply a value.

    Example::

        Pipeline.start(reg, str).filter(str.isdigit).map(int).unwrap_or(0)
    """

    __slots__ = ()

    def unwrap_or(self, default: Any) -> Any:
        """The value, or ``default`` when there is none.

        Example: ``.filter(lambda x: x > 0).unwrap_or(0)``
        """
        return self._with(Pipeline, Op(UNWRAP_OR, None, default))

    def unwrap_or_else(self, make: Callable[..., Any], *,
                       params: Sequence[Any] | None = None, name: str | None = None) -> Any:
        """The value, or ``make(<World parameters>)`` when there is none.

        Example: ``.and_then(lookup).unwrap_or_else(Order.empty)``
        """
        return self._with(Pipeline, self._step(UNWRAP_OR_ELSE, make, params, name, trailing=0))


class Fork(Generic[In, Out]):
    """The arms of a fork under construction; finish with :meth:`merge` or :meth:`join`.

    Each arm is built from a fresh chain that receives the fork's value (the same object, not a
    copy); arms run one after the other, in the order they were added.

    Example::

        (Dag.start(reg, int).root(double)
            .fork()
            .arm(lambda a: a.then(add_one))
            .arm(lambda b: b.then(triple))
            .merge(lambda x, y: x + y)
            .build())
    """

    __slots__ = ("_arms", "_parent")

    def __init__(self, parent: Pipeline[In, Out], arms: tuple[tuple[Op, ...], ...]) -> None:
        self._parent = parent
        self._arms = arms

    def arm(self, build: Callable[[Pipeline[Out, Out]], Pipeline[Out, Any]]
            | Pipeline[Out, Any]) -> Fork[In, Out]:
        """Add an arm: a function given a fresh chain that returns it extended, or a chain."""
        parent = self._parent
        if isinstance(build, Pipeline):
            chain = build
        elif callable(build):
            chain = build(Pipeline._extended(parent._head, ()))
            if not isinstance(chain, Pipeline):
                raise BuildError(f"arm: {build!r} returned {chain!r}, not a Pipeline chain")
        else:
            raise BuildError(f"arm: {build!r} is neither a chain nor a function building one")
        return Fork(parent, (*self._arms, chain._ops))

    def merge(self, step: Callable[..., Any], *, params: Sequence[Any] | None = None,
              name: str | None = None) -> Any:
        """Combine the arms' outputs: ``step(<World parameters>, out_1, ..., out_n)``.

        An arm left without a value passes None.
        """
        parent = self._parent
        if len(self._arms) < 1:
            raise BuildError("merge: a fork needs at least one arm")
        op = parent._step(FORK, step, params, name, trailing=len(self._arms),
                          what="merge step", arms=self._arms)
        return parent._with(parent._same(), op)

    def join(self) -> Any:
        """End the fork without merging: the chain goes on with the fork's own value."""
        parent = self._parent
        if len(self._arms) < 1:
            raise BuildError("join: a fork needs at least one arm")
        return parent._with(parent._same(), Op(FORK, None, arms=self._arms))


class BuiltPipeline(Generic[In, Out]):
    """A compiled pipeline: a handler whose ``run(world, event)`` is one generated function.

    ``run`` returns the chain's final value, or None when the event ended without one.
    ``source`` holds the generated code (handy to see what a chain compiles to).

    Example::

        p = Pipeline.start(reg, int).filter(lambda x: x > 0).map(str).build()
        p.run(world, 5)      # '5'
        p.run(world, -5)     # None
        print(p.source)
    """

    __slots__ = ("name", "run", "source")

    #: The generated code's default label (in its filename, so in tracebacks).
    kind: ClassVar[str] = "pipeline"

    run: Callable[[World, In], Out | None]

    def __init__(self, run: Callable[[World, In], Out | None], name: str, source: str) -> None:
        self.run = run
        self.name = name
        self.source = source

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class BatchPipeline(Generic[In]):
    """A compiled pipeline over a buffer: fill ``input``, then ``run(world)`` drains it.

    Each item goes through the whole chain before the next one starts; a ``catch`` handles
    errors per item and the batch goes on. An exception no ``catch`` handles propagates out of
    ``run``; the item that raised is consumed and the items after it stay in ``input``.

    ``input`` is a plain list (fill it with ``append``/``extend``; don't rebind it). Python
    lists cannot reserve capacity, so ``capacity`` is the intended upper bound the driver should
    respect, not a pre-allocation; per run, the chain itself allocates nothing.

    Example::

        batch = Pipeline.start(reg, Quote).filter(valid).dispatch(book).build_batch(256)
        batch.input.extend(quotes)
        batch.run(world)
        assert not batch.input
    """

    __slots__ = ("capacity", "input", "name", "run", "source")

    run: Callable[[World], None]

    def __init__(self, run: Callable[[World], None], buffer: list[In], capacity: int,
                 name: str, source: str) -> None:
        self.run = run
        self.input = buffer
        self.capacity = capacity
        self.name = name
        self.source = source

    def __len__(self) -> int:
        return len(self.input)

    def __repr__(self) -> str:
        return f"<BatchPipeline {self.name} {len(self.input)}/{self.capacity}>"


def _is_exception_spec(spec: object) -> bool:
    if isinstance(spec, type):
        return issubclass(spec, BaseException)
    return isinstance(spec, tuple) and bool(spec) and all(_is_exception_spec(s) for s in spec)


def _describe(op: Op) -> str:
    if op.fn is None:
        return op.kind
    label = getattr(op.fn, "__name__", None) or type(op.fn).__name__
    return f"{op.kind}({label})"

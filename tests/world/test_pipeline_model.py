"""Generated pipelines agree with a small reference interpreter, on random chains.

The interpreter below is the documented semantics, written as plainly as possible: a value and
a static "may be absent" flag, conditional combinators skipped when an optional chain holds
None, ``guard`` ending the event, ``catch`` covering the steps since the previous ``catch``,
fork arms that each see the fork's value and hand None to the merge when they have no value.
Hypothesis builds random chains (routes and forks nested inside), runs event sequences
through the compiled pipeline, its batch form and the interpreter, and compares the results
and every side effect in order.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nexusloop.world import Pipeline, WorldBuilder
from nexusloop.world._pipeline_codegen import Op

LOG: list[Any] = []
_UNSET = object()


def _num(x: Any) -> int:
    return 0 if x is None else x


STEPS: dict[str, Callable[[Any], Any]] = {
    "inc": lambda x: _num(x) + 1,
    "dbl": lambda x: _num(x) * 2,
    "neg": lambda x: -_num(x),
    "mod": lambda x: _num(x) % 7,
}


def _fail_if_big(x: Any) -> Any:
    if _num(x) > 20:
        raise ValueError(x)
    return x


def _fail_if_odd(x: Any) -> Any:
    if _num(x) % 2:
        raise KeyError(x)
    return x


RAISING = {"big": _fail_if_big, "odd": _fail_if_odd}
PREDS: dict[str, Callable[[Any], bool]] = {
    "even": lambda x: _num(x) % 2 == 0,
    "pos": lambda x: _num(x) > 0,
    "small": lambda x: abs(_num(x)) < 10,
}
OPTIONAL: dict[str, Callable[[Any], Any]] = {
    "half": lambda x: _num(x) // 2 if _num(x) % 2 == 0 else None,
    "nonzero": lambda x: x if _num(x) else None,
}


class Recorder:
    def __init__(self, tag: str) -> None:
        self.tag = tag

    def run(self, world: Any, value: Any) -> None:
        LOG.append((self.tag, value))


def tap_fn(tag: str) -> Callable[[Any], None]:
    return lambda x: LOG.append((tag, x))


def catch_fn(tag: str) -> Callable[[BaseException], None]:
    return lambda e: LOG.append((tag, type(e).__name__))


def merge_fn(n: int) -> Callable[..., Any]:
    ns: dict[str, Any] = {"_num": _num}
    args = ", ".join(f"a{i}" for i in range(n))
    exec(f"def merge({args}):\n    return sum(_num(a) for a in ({args},)) + 100\n", ns)  # noqa: S102
    return ns["merge"]  # type: ignore[no-any-return]


# -- random chains ------------------------------------------------------------------------------

def chain_strategy(depth: int) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    simple = st.one_of(
        st.tuples(st.just("then"), st.sampled_from(sorted({**STEPS, **RAISING}))),
        st.tuples(st.just("map"), st.sampled_from(sorted({**STEPS, **RAISING}))),
        st.tuples(st.just("and_then"), st.sampled_from(sorted(OPTIONAL))),
        st.tuples(st.just("filter"), st.sampled_from(sorted(PREDS))),
        st.tuples(st.just("guard"), st.sampled_from(sorted(PREDS))),
        st.tuples(st.just("tap"), st.integers(0, 9)),
        st.tuples(st.just("inspect"), st.integers(0, 9)),
        st.tuples(st.just("unwrap_or"), st.integers(-3, 3)),
        st.tuples(st.just("catch"), st.sampled_from(["Exception", "ValueError"])),
        st.tuples(st.just("dedup")),
        st.tuples(st.just("scan")),
        st.tuples(st.just("dispatch"), st.integers(0, 9)),
    )
    if depth <= 0:
        return st.lists(simple, max_size=7)
    inner = chain_strategy(depth - 1)
    nested = st.one_of(
        st.tuples(st.just("route"), st.sampled_from(sorted(PREDS)), inner, inner),
        st.tuples(st.just("fork"), st.lists(inner, min_size=1, max_size=3), st.booleans()),
    )
    return st.lists(st.one_of(simple, simple, simple, nested), max_size=7)


def build_chain(spec: list[tuple[Any, ...]], p: Any, reg: Any) -> Any:
    for item in spec:
        kind = item[0]
        if kind in ("then", "map"):
            fn = {**STEPS, **RAISING}[item[1]]
            p = getattr(p, kind)(fn)
        elif kind == "and_then":
            p = p.and_then(OPTIONAL[item[1]])
        elif kind in ("filter", "guard"):
            p = getattr(p, kind)(PREDS[item[1]])
        elif kind in ("tap", "inspect"):
            p = getattr(p, kind)(tap_fn(f"{kind}{item[1]}"))
        elif kind == "unwrap_or":
            p = p.unwrap_or(item[1]) if hasattr(p, "unwrap_or") else p
        elif kind == "catch":
            exc = Exception if item[1] == "Exception" else ValueError
            p = p.catch(catch_fn(f"catch-{item[1]}"), exc)
        elif kind == "dedup":
            p = p.dedup()
        elif kind == "scan":
            p = p.scan(0, lambda acc, x: acc + _num(x))
        elif kind == "dispatch":
            p = p.dispatch(Recorder(f"dispatch{item[1]}"))
        elif kind == "route":
            arm_true = build_chain(item[2], Pipeline.start(reg), reg)
            arm_false = build_chain(item[3], Pipeline.start(reg), reg)
            p = p.route(PREDS[item[1]], arm_true, arm_false)
        elif kind == "fork":
            fork = p.fork()
            for arm_spec in item[1]:
                fork = fork.arm(lambda a, s=arm_spec: build_chain(s, a, reg))
            p = fork.merge(merge_fn(len(item[1]))) if item[2] else fork.join()
    return p


# -- the reference interpreter ------------------------------------------------------------------

class Stop(BaseException):
    """A failed guard: the event ends (never caught by ``catch``)."""


CONDITIONAL = {"map", "and_then", "filter", "guard", "inspect", "dedup", "scan", "route",
               "fork", "dispatch"}


class Reference:
    def __init__(self, ops: tuple[Op, ...]) -> None:
        self.ops = ops
        self.state: dict[int, Any] = {}

    def run(self, v: Any) -> Any:
        try:
            v, _ = self.chain(self.ops, v, False)
        except Stop:
            return None
        return v

    def chain(self, ops: tuple[Op, ...], v: Any, absent: bool) -> tuple[Any, bool]:
        catches = [i for i, op in enumerate(ops) if op.kind == "catch"]
        start = 0
        for i in catches:
            try:
                v, absent = self.segment(ops[start:i], v, absent)
            except ops[i].arg as exc:
                ops[i].fn(exc)
                v, absent = None, True
            else:
                absent = True
            start = i + 1
        return self.segment(ops[start:], v, absent)

    def segment(self, ops: tuple[Op, ...], v: Any, absent: bool) -> tuple[Any, bool]:
        for op in ops:
            v, absent = self.op(op, v, absent)
        return v, absent

    def op(self, op: Op, v: Any, absent: bool) -> tuple[Any, bool]:
        kind = op.kind
        if kind in CONDITIONAL and absent and v is None:
            # skipped; the static "may be absent" flag is unchanged by these ops
            return v, True
        if kind == "then":
            return op.fn(v), False
        if kind == "map":
            return op.fn(v), absent
        if kind == "and_then":
            return op.fn(v), True
        if kind == "filter":
            return (v if op.fn(v) else None), True
        if kind == "guard":
            if not op.fn(v):
                raise Stop
            return v, absent
        if kind in ("tap", "inspect"):
            op.fn(v)
            return v, absent
        if kind == "unwrap_or":
            return (op.arg if absent and v is None else v), False
        if kind == "dedup":
            last = self.state.get(id(op), _UNSET)
            if v == last:
                return None, True
            self.state[id(op)] = v
            return v, True
        if kind == "scan":
            acc = op.fn(self.state.get(id(op), op.arg), v)
            self.state[id(op)] = acc
            return acc, absent
        if kind == "dispatch":
            return op.fn.run(None, v), absent
        if kind == "route":
            arm = op.arms[0] if op.fn(v) else op.arms[1]
            out, arm_absent = self.chain(arm, v, False)
            return out, absent or arm_absent or self.static_absent(op.arms)
        if kind == "fork":
            outs = [self.chain(arm, v, False)[0] for arm in op.arms]
            if op.fn is None:
                return v, absent
            return op.fn(*outs), absent
        raise AssertionError(kind)

    def static_absent(self, arms: tuple[tuple[Op, ...], ...]) -> bool:
        return any(self.ends_absent(arm) for arm in arms)

    def ends_absent(self, ops: tuple[Op, ...]) -> bool:
        absent = False
        for op in ops:
            if op.kind in ("then", "unwrap_or"):
                absent = False
            elif op.kind in ("and_then", "filter", "dedup", "catch"):
                absent = True
            elif op.kind == "route":
                absent = absent or self.static_absent(op.arms)
        return absent


def outcome(fn: Callable[[], Any]) -> tuple[Any, list[Any]]:
    LOG.clear()
    try:
        result: Any = ("value", fn())
    except Exception as exc:  # noqa: BLE001 - the outcome under comparison
        result = ("raised", type(exc).__name__)
    return result, list(LOG)


WB = WorldBuilder()
WORLD = WB.build()


@settings(max_examples=300, deadline=None)
@given(spec=chain_strategy(2), events=st.lists(st.integers(-30, 30), max_size=8))
def test_compiled_pipeline_matches_reference(spec: list[tuple[Any, ...]],
                                             events: list[int]) -> None:
    chain = build_chain(spec, Pipeline.start(WORLD.registry, int), WORLD.registry)
    built = chain.build()
    ref = Reference(chain._ops)
    for event in events:
        got = outcome(lambda e=event: built.run(WORLD, e))
        expected = outcome(lambda e=event: ref.run(e))
        assert got == expected, built.source


@settings(max_examples=150, deadline=None)
@given(spec=chain_strategy(2), events=st.lists(st.integers(-30, 30), max_size=10))
def test_batch_matches_reference(spec: list[tuple[Any, ...]], events: list[int]) -> None:
    chain = build_chain(spec, Pipeline.start(WORLD.registry, int), WORLD.registry)
    batch = chain.build_batch(16)
    ref = Reference(chain._ops)

    def run_reference() -> None:
        for event in events:
            ref.run(event)

    expected = outcome(run_reference)
    batch.input.extend(events)
    got = outcome(lambda: batch.run(WORLD))
    assert got[1] == expected[1], batch.source
    assert got[0][0] == expected[0][0]
    if got[0][0] == "value":
        assert batch.input == []

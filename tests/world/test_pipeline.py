"""Pipelines: each combinator's behaviour, World parameters in steps, batches, bad input."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from nexusloop.world import (
    BatchPipeline,
    BuildError,
    BuiltPipeline,
    Cell,
    Handler,
    Local,
    OptionPipeline,
    Pipeline,
    Res,
    ResMut,
    Seq,
    UnknownResourceError,
    World,
    WorldBuilder,
    into_handler,
)

from .conftest import Log


@dataclass
class Config:
    factor: int = 10



class Missing:
    pass


@pytest.fixture
def world() -> World:
    wb = WorldBuilder()
    wb.register(Config())
    wb.register(Log())
    wb.register(Cell(0))
    return wb.build()


def run_all(p: BuiltPipeline[Any, Any], world: World, events: list[Any]) -> list[Any]:
    return [p.run(world, e) for e in events]


# -- plain chains --------------------------------------------------------------------------------

def test_then_chains_in_order(world: World) -> None:
    p = Pipeline.start(world.registry, str).then(str.strip).then(len).then(lambda n: n * 2)
    assert p.build().run(world, "  abc ") == 6


def test_empty_pipeline_is_identity(world: World) -> None:
    assert Pipeline.start(world.registry).build().run(world, 5) == 5


def test_built_pipeline_is_a_handler(world: World) -> None:
    built = Pipeline.start(world.registry, int).then(abs).build()
    assert isinstance(built, Handler)
    assert "def run" in built.source


def test_map_on_plain_chain_is_then(world: World) -> None:
    p = Pipeline.start(world.registry, int).map(lambda x: x + 1).build()
    assert p.run(world, 1) == 2


def test_plain_chain_passes_none_as_a_value(world: World) -> None:
    seen: list[Any] = []
    p = Pipeline.start(world.registry).then(lambda x: None).map(lambda x: seen.append(x) or 1)
    assert p.build().run(world, 1) == 1
    assert seen == [None]


def test_builders_are_immutable_and_prefixes_shareable(world: World) -> None:
    base = Pipeline.start(world.registry, int).then(lambda x: x + 1)
    double = base.then(lambda x: x * 2).build()
    square = base.then(lambda x: x * x).build()
    assert (double.run(world, 2), square.run(world, 2)) == (6, 9)
    assert base.build().run(world, 2) == 3


# -- steps with World parameters ----------------------------------------------------------------

def scale(cfg: Res[Config], x: int) -> int:
    return x * cfg.factor


def record(log: ResMut[Log], x: int) -> int:
    log.lines.append(x)
    return x


def test_steps_receive_resources(world: World) -> None:
    p = Pipeline.start(world.registry, int).then(scale).then(record).build()
    assert p.run(world, 3) == 30
    assert world.resource(Log).lines == [30]


def test_resmut_step_stamps_changed_at_and_res_does_not(world: World) -> None:
    p = Pipeline.start(world.registry, int).then(scale).then(record).build()
    world.next_sequence()
    world.next_sequence()
    p.run(world, 1)
    assert world.changed_at(Log) == world.sequence
    assert world.changed_at(Config) == 0


def test_resmut_stamp_skipped_when_step_does_not_run(world: World) -> None:
    p = Pipeline.start(world.registry, int).filter(lambda x: x > 0).map(record).build()
    world.next_sequence()
    p.run(world, -1)
    assert world.changed_at(Log) == 0
    p.run(world, 1)
    assert world.changed_at(Log) == 1


def counter(count: Local[Cell[int]], x: int) -> int:
    count.value += 1
    return count.value


def test_local_state_is_per_build(world: World) -> None:
    builder = Pipeline.start(world.registry, int).then(counter)
    a, b = builder.build(), builder.build()
    assert [a.run(world, 0), a.run(world, 0), b.run(world, 0)] == [1, 2, 1]


def test_seq_parameter(world: World) -> None:
    def stamp(seq: Seq, x: int) -> tuple[int, int]:
        return seq, x

    p = Pipeline.start(world.registry, int).then(stamp).build()
    world.next_sequence()
    assert p.run(world, 7) == (1, 7)


def test_lambda_with_params_spec(world: World) -> None:
    p = Pipeline.start(world.registry, int).then(lambda cfg, x: x + cfg.factor,
                                                 params=[Res[Config]])
    assert p.build().run(world, 1) == 11


def test_world_accepted_in_place_of_registry(world: World) -> None:
    assert Pipeline.start(world, int).then(scale).build().run(world, 2) == 20


# -- Option: filter / and_then / unwrap_or / inspect / tap ---------------------------------------

def test_filter_drops_and_returns_none(world: World) -> None:
    p = Pipeline.start(world.registry, int).filter(lambda x: x % 2 == 0).map(lambda x: x * 10)
    assert isinstance(p, OptionPipeline)
    assert run_all(p.build(), world, [1, 2, 3, 4]) == [None, 20, None, 40]


def test_unwrap_or_supplies_default(world: World) -> None:
    p = Pipeline.start(world.registry, int).filter(lambda x: x > 0).unwrap_or(0).then(str)
    assert run_all(p.build(), world, [5, -5]) == ["5", "0"]


def test_unwrap_or_else_with_resource(world: World) -> None:
    def default(cfg: Res[Config]) -> int:
        return cfg.factor

    p = Pipeline.start(world.registry, int).filter(lambda x: x > 0).unwrap_or_else(default)
    assert run_all(p.build(), world, [5, -5]) == [5, 10]


def test_and_then_none_means_no_value(world: World) -> None:
    def parse(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    seen: list[int] = []
    p = Pipeline.start(world.registry, str).and_then(parse).inspect(seen.append).map(abs)
    assert run_all(p.build(), world, ["12", "x", "3"]) == [12, None, 3]
    assert seen == [12, 3]


def test_map_on_option_chain_skips_absent_values(world: World) -> None:
    calls: list[int] = []
    p = (Pipeline.start(world.registry, int).filter(lambda x: x > 0)
         .map(lambda x: calls.append(x) or x).unwrap_or(-1))
    assert run_all(p.build(), world, [1, -1]) == [1, -1]
    assert calls == [1]


def test_then_and_tap_see_absence_inspect_does_not(world: World) -> None:
    tapped: list[Any] = []
    inspected: list[Any] = []
    p = (Pipeline.start(world.registry, int).filter(lambda x: x > 0)
         .tap(tapped.append).inspect(inspected.append).then(lambda x: x is None))
    assert run_all(p.build(), world, [1, -1]) == [False, True]
    assert tapped == [1, None]
    assert inspected == [1]


def test_guard_stops_the_event_even_before_unwrap_or(world: World) -> None:
    p = (Pipeline.start(world.registry, int).guard(lambda x: x != 13)
         .filter(lambda x: x > 0).unwrap_or(0))
    assert run_all(p.build(), world, [5, -5, 13]) == [5, 0, None]


def test_guard_keeps_plain_state(world: World) -> None:
    p = Pipeline.start(world.registry, int).guard(lambda x: x > 0)
    assert not isinstance(p, OptionPipeline)


def test_predicate_with_resource(world: World) -> None:
    def big(cfg: Res[Config], x: int) -> bool:
        return x >= cfg.factor

    p = Pipeline.start(world.registry, int).filter(big)
    assert run_all(p.build(), world, [9, 10]) == [None, 10]


# -- catch ----------------------------------------------------------------------------------------

def parse_int(text: str) -> int:
    return int(text)


def test_catch_handles_errors_and_leaves_no_value(world: World) -> None:
    errors: list[BaseException] = []
    p = Pipeline.start(world.registry, str).then(parse_int).catch(errors.append).map(abs)
    assert run_all(p.build(), world, ["-4", "x"]) == [4, None]
    assert [type(e) for e in errors] == [ValueError]


def test_catch_handler_with_resources(world: World) -> None:
    def reject(log: ResMut[Log], exc: Exception) -> None:
        log.lines.append(type(exc).__name__)

    p = Pipeline.start(world.registry, str).then(parse_int).catch(reject).unwrap_or(0)
    assert run_all(p.build(), world, ["x", "2"]) == [0, 2]
    assert world.resource(Log).lines == ["ValueError"]


def test_catch_only_named_exceptions(world: World) -> None:
    p = (Pipeline.start(world.registry, Any).then(lambda x: 1 // x)
         .catch(lambda e: None, ZeroDivisionError).build())
    assert p.run(world, 0) is None
    with pytest.raises(TypeError):
        p.run(world, "a")


def test_uncaught_exception_propagates(world: World) -> None:
    p = Pipeline.start(world.registry, str).then(parse_int).build()
    with pytest.raises(ValueError):
        p.run(world, "x")


def test_catch_covers_only_steps_since_previous_catch(world: World) -> None:
    first: list[Any] = []
    second: list[Any] = []

    def fail_on(value: int) -> Any:
        def step(x: int) -> int:
            if x == value:
                raise ValueError(value)
            return x
        return step

    p = (Pipeline.start(world.registry, int)
         .then(fail_on(1)).catch(first.append)
         .then(lambda x: 2 if x is None else x)   # absence -> 2, so the next step fails
         .then(fail_on(2)).catch(second.append).build())
    p.run(world, 1)
    assert [e.args for e in first] == [(1,)]
    assert [e.args for e in second] == [(2,)]


def test_exception_in_catch_handler_propagates(world: World) -> None:
    def handler(exc: Exception) -> None:
        raise RuntimeError("handler failed") from exc

    p = Pipeline.start(world.registry, str).then(parse_int).catch(handler).build()
    with pytest.raises(RuntimeError):
        p.run(world, "x")


def test_guard_inside_catch_region_is_not_an_error(world: World) -> None:
    errors: list[Any] = []
    p = (Pipeline.start(world.registry, int).guard(lambda x: x > 0).then(lambda x: 10 // x)
         .catch(errors.append).unwrap_or(-1).build())
    assert run_all(p, world, [0, 5]) == [None, 2]
    assert errors == []


# -- dedup / scan ---------------------------------------------------------------------------------

def test_dedup_drops_consecutive_duplicates(world: World) -> None:
    seen: list[int] = []
    p = Pipeline.start(world.registry, int).dedup().inspect(seen.append).build()
    run_all(p, world, [1, 1, 2, 2, 1, 3, 3])
    assert seen == [1, 2, 1, 3]


def test_dedup_key(world: World) -> None:
    p = Pipeline.start(world.registry, tuple).dedup(key=lambda q: q[0]).build()
    assert run_all(p, world, [(1, "a"), (1, "b"), (2, "c")]) == [(1, "a"), None, (2, "c")]


def test_dedup_state_is_per_build(world: World) -> None:
    builder = Pipeline.start(world.registry, int).dedup()
    a, b = builder.build(), builder.build()
    assert a.run(world, 1) == 1
    assert b.run(world, 1) == 1
    assert a.run(world, 1) is None


def test_scan_accumulates(world: World) -> None:
    p = Pipeline.start(world.registry, int).scan(0, lambda acc, x: acc + x).build()
    assert run_all(p, world, [1, 2, 3]) == [1, 3, 6]


def test_scan_with_resource_and_after_filter(world: World) -> None:
    def add(acc: int, cfg: Res[Config], x: int) -> int:
        return acc + x * cfg.factor

    p = (Pipeline.start(world.registry, int).filter(lambda x: x > 0).scan(100, add)
         .unwrap_or(-1).build())
    assert run_all(p, world, [1, -1, 2]) == [110, -1, 130]


# -- route / dispatch ----------------------------------------------------------------------------

def test_route_sends_to_one_arm_and_continues(world: World) -> None:
    reg = world.registry
    p = (Pipeline.start(reg, int)
         .route(lambda x: x >= 0,
                Pipeline.start(reg).then(lambda x: f"+{x}"),
                Pipeline.start(reg).then(lambda x: f"{x}"))
         .then(lambda s: s + "!")
         .build())
    assert run_all(p, world, [3, -3]) == ["+3!", "-3!"]


def test_route_arm_with_filter_makes_option_chain(world: World) -> None:
    reg = world.registry
    p = (Pipeline.start(reg, int)
         .route(lambda x: x > 0,
                Pipeline.start(reg).filter(lambda x: x % 2 == 0),
                Pipeline.start(reg))
         .unwrap_or("dropped"))
    assert run_all(p.build(), world, [2, 3, -3]) == [2, "dropped", -3]


def test_route_with_empty_arms(world: World) -> None:
    reg = world.registry
    p = Pipeline.start(reg).route(bool, Pipeline.start(reg), Pipeline.start(reg)).build()
    assert run_all(p, world, [0, 1]) == [0, 1]


def test_nested_route(world: World) -> None:
    reg = world.registry
    sign = Pipeline.start(reg).route(
        lambda x: x > 0,
        Pipeline.start(reg).then(lambda x: "pos"),
        Pipeline.start(reg).route(lambda x: x == 0,
                                  Pipeline.start(reg).then(lambda x: "zero"),
                                  Pipeline.start(reg).then(lambda x: "neg")),
    ).build()
    assert run_all(sign, world, [1, 0, -1]) == ["pos", "zero", "neg"]


def test_dispatch_to_handler(world: World) -> None:
    def apply(count: ResMut[Cell[int]], x: int) -> None:
        count.value += x

    handler = into_handler(apply, world.registry)
    p = Pipeline.start(world.registry, int).filter(lambda x: x > 0).dispatch(handler).build()
    run_all(p, world, [1, -5, 2])
    assert world.resource(Cell[int]).value == 3


def test_dispatch_to_built_pipeline(world: World) -> None:
    inner = Pipeline.start(world.registry, int).then(record).build()
    outer = Pipeline.start(world.registry, int).then(lambda x: x + 1).dispatch(inner).build()
    outer.run(world, 1)
    assert world.resource(Log).lines == [2]


# -- batch ----------------------------------------------------------------------------------------

def test_batch_processes_and_drains(world: World) -> None:
    batch = Pipeline.start(world.registry, int).then(scale).then(record).build_batch(8)
    assert isinstance(batch, BatchPipeline)
    batch.input.extend([1, 2, 3])
    batch.run(world)
    assert world.resource(Log).lines == [10, 20, 30]
    assert batch.input == []
    batch.run(world)  # empty: nothing happens
    assert world.resource(Log).lines == [10, 20, 30]


def test_batch_errors_are_per_item(world: World) -> None:
    errors: list[Any] = []
    batch = (Pipeline.start(world.registry, str).then(parse_int).catch(errors.append)
             .map(lambda x: x * 2).then(lambda x: x).build_batch(8))
    out: list[Any] = []
    batch2 = (Pipeline.start(world.registry, str).then(parse_int).catch(errors.append)
              .map(lambda x: x * 2).inspect(out.append).build_batch(8))
    batch.input.extend(["1", "x", "3"])
    batch.run(world)
    batch2.input.extend(["1", "x", "3", "y", "5"])
    batch2.run(world)
    assert out == [2, 6, 10]
    assert len(errors) == 3


def test_batch_filter_and_guard_skip_items(world: World) -> None:
    out: list[int] = []
    batch = (Pipeline.start(world.registry, int).guard(lambda x: x != 0)
             .filter(lambda x: x > 0).inspect(out.append).build_batch(8))
    batch.input.extend([1, 0, -1, 2])
    batch.run(world)
    assert out == [1, 2]


def test_batch_uncaught_error_keeps_the_rest(world: World) -> None:
    out: list[int] = []
    batch = Pipeline.start(world.registry, str).then(parse_int).inspect(out.append)
    built = batch.build_batch(8)
    built.input.extend(["1", "x", "3", "4"])
    with pytest.raises(ValueError):
        built.run(world)
    assert out == [1]
    assert built.input == ["3", "4"]
    built.run(world)
    assert out == [1, 3, 4]
    assert built.input == []


def test_batch_state_and_locals_persist_across_runs(world: World) -> None:
    out: list[int] = []
    batch = Pipeline.start(world.registry, int).dedup().map(counter).inspect(out.append)
    built = batch.build_batch(4)
    built.input.extend([5, 5, 6])
    built.run(world)
    built.input.extend([6, 7])
    built.run(world)
    assert out == [1, 2, 3]


def test_batch_same_results_as_single_runs(world: World) -> None:
    events = list(range(-5, 15))
    chain = (Pipeline.start(world.registry, int).filter(lambda x: x % 3 != 0)
             .scan(0, lambda a, x: a + x).dedup())
    single = chain.build()
    expected = [r for r in (single.run(world, e) for e in events) if r is not None]
    got: list[int] = []
    batch = chain.inspect(got.append).build_batch(32)
    batch.input.extend(events)
    batch.run(world)
    assert got == expected


def test_batch_capacity_must_be_positive(world: World) -> None:
    with pytest.raises(ValueError):
        Pipeline.start(world.registry).build_batch(0)


# -- bad input: failures at build time, naming the culprit ---------------------------------------

def takes_two(a: int, b: int) -> int:
    return a + b


def takes_none() -> int:
    return 1


def test_wrong_arity_fails_when_added_naming_the_function(world: World) -> None:
    p = Pipeline.start(world.registry, int)
    with pytest.raises(BuildError, match="takes_two"):
        p.then(takes_two)
    with pytest.raises(BuildError, match="takes_none"):
        p.map(takes_none)
    with pytest.raises(TypeError, match="takes_two"):  # BuildError is a TypeError
        p.filter(takes_two)


def test_wrong_arity_in_scan_merge_catch_unwrap(world: World) -> None:
    p = Pipeline.start(world.registry, int)
    with pytest.raises(BuildError, match="takes_none"):
        p.scan(0, takes_none)
    with pytest.raises(BuildError, match="takes_two"):
        p.catch(takes_two)
    with pytest.raises(BuildError, match="takes_two"):
        p.filter(bool).unwrap_or_else(takes_two)
    with pytest.raises(BuildError, match="takes_none"):
        p.fork().arm(lambda a: a).arm(lambda b: b).merge(takes_none)


def test_missing_resource_fails_when_added(world: World) -> None:
    def needs(m: Res[Missing], x: int) -> int:
        return x

    with pytest.raises(UnknownResourceError, match="Missing"):
        Pipeline.start(world.registry, int).then(needs)


def test_unannotated_extra_parameter(world: World) -> None:
    with pytest.raises(BuildError, match="lambda"):
        Pipeline.start(world.registry).then(lambda cfg, x: x)


def test_resource_step_without_registry() -> None:
    with pytest.raises(BuildError, match="registry"):
        Pipeline.start().then(scale)


def test_plain_steps_need_no_registry(world: World) -> None:
    assert Pipeline.start().then(lambda x: x + 1).build().run(world, 1) == 2


def test_async_step_rejected(world: World) -> None:
    async def step(x: int) -> int:
        return x

    with pytest.raises(BuildError, match="coroutine"):
        Pipeline.start(world.registry).then(step)


def test_bad_arguments(world: World) -> None:
    p = Pipeline.start(world.registry)
    with pytest.raises(BuildError, match="not callable"):
        p.then(42)  # type: ignore[call-overload]
    with pytest.raises(BuildError, match="exception"):
        p.catch(print, 42)  # type: ignore[arg-type]
    with pytest.raises(BuildError, match="not a handler"):
        p.dispatch(42)
    with pytest.raises(BuildError, match="unbuilt Pipeline"):
        p.route(bool, p.build(), p)  # type: ignore[arg-type]
    with pytest.raises(BuildError, match="not callable"):
        p.dedup(key=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Pipeline.start("registry")  # type: ignore[arg-type]


def test_traceback_shows_generated_source(world: World) -> None:
    import traceback

    p = Pipeline.start(world.registry, str).then(parse_int).build()
    try:
        p.run(world, "x")
    except ValueError:
        text = traceback.format_exc()
    assert "_parse_int_" in text  # the generated line is shown


def test_repr(world: World) -> None:
    p = Pipeline.start(world.registry, int).then(scale).filter(bool)
    assert "then(scale)" in repr(p) and "OptionPipeline" in repr(p)
    batch = p.build_batch(4)
    assert "0/4" in repr(batch) and len(batch) == 0


def test_generated_source_leaves_linecache_with_the_pipeline(world: World) -> None:
    import gc
    import linecache

    def step_only_this_test_uses(x: int) -> int:
        return -x

    # Generated code is shared by every live dispatcher with the same source: collect what
    # earlier tests left to the garbage collector, and use a step no other test has.
    gc.collect()
    before = set(linecache.cache)
    p = Pipeline.start(world.registry, int).then(step_only_this_test_uses).build()
    added = set(linecache.cache) - before
    assert len(added) == 1
    del p
    gc.collect()
    assert not (added & set(linecache.cache))

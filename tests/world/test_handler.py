"""Handlers, callbacks, templates, coroutine handlers and type-erased storage."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from nexusloop.world import (
    BuildError,
    Callback,
    CallbackTemplate,
    Cell,
    FnHandler,
    Handler,
    HandlerTemplate,
    Local,
    RegistryRef,
    Res,
    ResMut,
    Seq,
    UnknownResourceError,
    World,
    WorldBuilder,
    into_callback,
    into_handler,
)

from .conftest import Log, make_world


@dataclass
class Retry:
    attempts: int = 0


class Missing:
    pass



def tick(counter: ResMut[Cell[int]], event: int) -> None:
    counter.value += event


def test_seed_quick_start_int_counter() -> None:
    # The seed's quick start: a u64 counter incremented by a handler. In Python the int is boxed.
    wb = WorldBuilder()
    wb.register(Cell(0))
    world = wb.build()
    handler = into_handler(tick, world.registry)
    world.next_sequence()
    handler.run(world, 10)
    assert world.resource(Cell[int]).value == 10
    assert world.changed_at(Cell[int]) == 1
    world.next_sequence()
    handler.run(world, 5)
    assert world.resource(Cell[int]).value == 15 and world.changed_at(Cell[int]) == 2


def test_handler_returns_the_function_result_and_has_a_name() -> None:
    world = make_world()

    def read(log: Res[Log], e: str) -> int:
        return len(log.lines) + len(e)

    h = into_handler(read, world.registry)
    assert isinstance(h, FnHandler) and isinstance(h, Handler)
    assert h.run(world, "abc") == 3
    assert "read" in h.name and h.fn is read and "read" in repr(h)


def test_handlers_from_closures_and_lambdas() -> None:
    world = make_world()
    prefix = "p:"

    def closure(log: ResMut[Log], e: str) -> None:
        log.lines.append(prefix + e)

    into_handler(closure, world.registry).run(world, "a")
    into_handler(lambda log, e: log.lines.append(e), world.registry, params=[ResMut[Log]]).run(
        world, "b"
    )
    assert world.resource(Log).lines == ["p:a", "b"]


def test_lambda_with_no_world_params() -> None:
    world = make_world()
    h = into_handler(lambda e: e * 2, world.registry)
    assert h.run(world, 4) == 8


def test_local_is_independent_between_two_handlers_of_one_function() -> None:
    world = make_world()

    def count_events(n: Local[Cell[int]], e: object) -> int:
        n.value += 1
        return n.value

    a = into_handler(count_events, world.registry)
    b = into_handler(count_events, world.registry)
    assert a.run(world, None) == 1
    assert b.run(world, None) == 1
    assert a.run(world, None) == 2


def test_missing_resource_error_names_type_and_handler() -> None:
    world = make_world()

    def needs(m: Res[Missing], e: int) -> None: ...

    with pytest.raises(UnknownResourceError, match=r"needs.*Missing"):
        into_handler(needs, world.registry)
    with pytest.raises(UnknownResourceError, match=r"needs.*Missing"):
        HandlerTemplate(needs, world.registry)


def test_handler_without_resource_or_event_is_a_build_error() -> None:
    world = make_world()

    def nothing() -> None: ...

    def only_plain(a: int, b: str) -> None: ...

    with pytest.raises(BuildError, match=r"handler .*nothing takes 0"):
        into_handler(nothing, world.registry)
    with pytest.raises(BuildError, match=r"only_plain.*'a'"):
        into_handler(only_plain, world.registry)


def test_callback_owns_a_context_reachable_from_outside() -> None:
    world = make_world()

    def on_timeout(ctx: Retry, log: ResMut[Log], now: float) -> int:
        ctx.attempts += 1
        log.lines.append(f"retry {ctx.attempts} at {now}")
        return ctx.attempts

    cb = into_callback(on_timeout, Retry(), world.registry)
    assert isinstance(cb, Callback) and isinstance(cb, Handler)
    world.next_sequence()
    assert cb.run(world, 1.0) == 1
    assert cb.ctx.attempts == 1
    cb.ctx = Retry(10)  # replace the context from outside
    assert cb.run(world, 2.0) == 11
    assert world.resource(Log).lines == ["retry 1 at 1.0", "retry 11 at 2.0"]
    assert world.changed_at(Log) == 1


def test_callback_with_lambda_params_and_errors() -> None:
    world = make_world()
    cb = into_callback(
        lambda ctx, log, e: log.lines.append(f"{ctx}{e}"), "id-", world.registry,
        params=[ResMut[Log]],
    )
    cb.run(world, 7)
    assert world.resource(Log).lines == ["id-7"]

    def no_ctx(e: int) -> None: ...

    with pytest.raises(BuildError, match=r"callback .*no_ctx"):
        into_callback(no_ctx, None, world.registry)


def test_handler_template_generates_independent_handlers() -> None:
    world = make_world()

    def count(n: Local[Cell[int]], total: ResMut[Cell[int]], e: int) -> int:
        n.value += 1
        total.value += e
        return n.value

    template = HandlerTemplate(count, world.registry)
    h1 = template.generate()
    h2 = template.generate()
    assert h1.run is not h2.run
    world.next_sequence()
    assert h1.run(world, 1) == 1 and h1.run(world, 1) == 2
    assert h2.run(world, 5) == 1
    assert world.resource(Cell[int]).value == 7 and world.changed_at(Cell[int]) == 1
    assert "count" in repr(template)


def test_callback_template_generates_per_context() -> None:
    world = make_world()

    def on_fire(ctx: Retry, log: ResMut[Log], e: str) -> None:
        ctx.attempts += 1
        log.lines.append(f"{e}{ctx.attempts}")

    template: CallbackTemplate[Retry] = CallbackTemplate(on_fire, world.registry)
    a = template.generate(Retry())
    b = template.generate(Retry(5))
    a.run(world, "a")
    b.run(world, "b")
    a.run(world, "a")
    assert (a.ctx.attempts, b.ctx.attempts) == (2, 6)
    assert world.resource(Log).lines == ["a1", "b6", "a2"]


def test_registry_ref_builds_handlers_during_dispatch() -> None:
    world = make_world()
    built: list[FnHandler[int]] = []

    def factory(reg: RegistryRef, e: int) -> None:
        built.append(into_handler(tick, reg))

    into_handler(factory, world.registry).run(world, 0)
    built[0].run(world, 3)
    assert world.resource(Cell[int]).value == 3


def test_seq_param_sees_the_current_sequence() -> None:
    world = make_world()

    def stamp(seq: Seq, e: None) -> int:
        return seq

    h = into_handler(stamp, world.registry)
    assert h.run(world, None) == 0
    world.next_sequence()
    assert h.run(world, None) == 1


def test_type_erased_heterogeneous_collection() -> None:
    world = make_world()

    def a(log: ResMut[Log], e: str) -> None:
        log.lines.append("a" + e)

    def b(ctx: list[str], log: ResMut[Log], e: str) -> None:
        ctx.append(e)
        log.lines.append("b" + e)

    class Custom:
        def run(self, world: World, event: str) -> None:
            world.resource(Log).lines.append("c" + event)

    handlers: list[Handler[str]] = [
        into_handler(a, world.registry),
        into_callback(b, [], world.registry),
        HandlerTemplate(a, world.registry).generate(),
        Custom(),
    ]
    for h in handlers:
        h.run(world, "!")
    assert world.resource(Log).lines == ["a!", "b!", "a!", "c!"]


def test_coroutine_handler_spawns_a_task_with_resources_injected() -> None:
    world = make_world()

    async def slow(log: ResMut[Log], seq: Seq, e: str) -> str:
        await asyncio.sleep(0)
        log.lines.append(f"{seq}:{e}")
        return e.upper()

    h = into_handler(slow, world.registry)

    async def main() -> str:
        world.next_sequence()
        task = h.run(world, "x")
        assert isinstance(task, asyncio.Task)
        assert world.changed_at(Log) == 1  # stamped at spawn: the causing event
        return await task

    assert asyncio.run(main()) == "X"
    assert world.resource(Log).lines == ["1:x"]


def test_coroutine_callback_and_template() -> None:
    world = make_world()

    async def on(ctx: list[int], counter: ResMut[Cell[int]], e: int) -> None:
        await asyncio.sleep(0)
        ctx.append(e)
        counter.value += e

    async def main() -> None:
        cb = into_callback(on, [], world.registry)
        t = CallbackTemplate(on, world.registry).generate([])
        await asyncio.gather(cb.run(world, 1), t.run(world, 2))
        assert cb.ctx == [1] and t.ctx == [2]

    asyncio.run(main())
    assert world.resource(Cell[int]).value == 3


def test_coroutine_handler_without_running_loop_raises_and_leaks_no_coroutine() -> None:
    world = make_world()

    async def h(e: int) -> None: ...

    handler = into_handler(h, world.registry)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine was never awaited" would be an error
        with pytest.raises(RuntimeError, match="no running event loop"):
            handler.run(world, 1)


# -- generated code: tracebacks, per-dispatcher state ------------------------------------------

def _explode(log: ResMut[Log], e: str) -> None:
    raise ValueError(e)


def test_traceback_through_a_handler_shows_the_generated_line() -> None:
    import traceback

    h = into_handler(_explode, make_world().registry)
    with pytest.raises(ValueError) as info:
        h.run(make_world(), "boom")
    text = "".join(traceback.format_exception(info.value))
    assert "<nexusloop handler " in text and "_explode #" in text   # the generated file name
    assert "return _fn_0(_res_" in text                              # and its source line
    assert "raise ValueError(e)" in text


def test_fanout_traceback_shows_the_generated_line() -> None:
    import traceback

    from nexusloop.world import FanOut

    w = make_world()
    fan = FanOut(into_handler(_explode, w.registry))
    with pytest.raises(ValueError) as info:
        fan.run(w, "boom")
    text = "".join(traceback.format_exception(info.value))
    assert "<nexusloop fanout #" in text and "(_world, event)" in text


class Unmakeable:
    def __init__(self, required: int) -> None:
        self.required = required


def test_local_state_that_cannot_be_created_is_a_build_error() -> None:
    def counting(state: Local[Unmakeable], e: int) -> None: ...

    with pytest.raises(BuildError, match=r"counting.*Local\[.*Unmakeable\].*Unmakeable\(\)"):
        into_handler(counting, make_world().registry)

"""Parameters and compile_step: resolution at build time, injection at dispatch."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Optional, TypeVar

import pytest

import nexusloop.world as world_api
from nexusloop.world import (
    BuildError,
    Cell,
    Local,
    Registry,
    RegistryRef,
    Res,
    ResMut,
    Seq,
    UnknownResourceError,
    WorldBuilder,
    compile_step,
    param_spec,
)
from nexusloop.world import Res as Readable

from .conftest import Log, make_world

T = TypeVar("T")



@dataclass
class Prices:
    last: float = 0.0


class NotRegistered:
    pass



def test_param_spec_parses_every_form() -> None:
    assert param_spec(Res[Log]) == ("Res", Log, False)
    assert param_spec(ResMut[Log]) == ("ResMut", Log, False)
    assert param_spec(Res[Log] | None) == ("Res", Log, True)
    assert param_spec(Optional[ResMut[Log]]) == ("ResMut", Log, True)  # noqa: UP045
    assert param_spec(Local[list[int]]) == ("Local", list[int], False)
    assert param_spec(RegistryRef).kind == "RegistryRef"  # type: ignore[union-attr]
    assert param_spec(Seq).kind == "Seq"  # type: ignore[union-attr]
    assert param_spec(int) is None and param_spec(Log | None) is None
    with pytest.raises(BuildError, match="optional"):
        param_spec(Local[int] | None)
    with pytest.raises(BuildError, match="None"):
        param_spec(Res[Log] | int)


def test_step_injects_resources_between_leading_and_trailing() -> None:
    world = make_world(Prices())
    seen: list[tuple[object, ...]] = []

    def step(ctx: str, log: ResMut[Log], prices: Res[Prices], a: int, b: int) -> int:
        seen.append((ctx, log, prices, a, b))
        return a + b

    fn = compile_step(step, world.registry, leading=1, trailing=2)
    assert fn("c", 1, 2) == 3
    assert seen == [("c", world.resource(Log), world.resource(Prices), 1, 2)]


def test_step_with_no_input() -> None:
    world = make_world(Prices())

    def produce(count: ResMut[Cell[int]]) -> int:
        count.value += 1
        return count.value

    fn = compile_step(produce, world.registry, trailing=0)
    assert fn() == 1 and fn() == 2
    assert world.resource(Cell[int]).value == 2


def test_plain_function_is_returned_unchanged() -> None:
    world = make_world(Prices())

    def double(x: int) -> int:
        return 2 * x

    assert compile_step(double, world.registry) is double
    assert compile_step(len, world.registry) is len  # builtins are not inspectable: passed through
    assert compile_step(lambda x: x, world.registry)(4) == 4


def test_resmut_stamps_changed_at_with_current_sequence() -> None:
    world = make_world(Prices())

    def bump(count: ResMut[Cell[int]], log: Res[Log], n: int) -> None:
        count.value += n

    fn = compile_step(bump, world.registry)
    world.next_sequence()
    world.next_sequence()
    assert not world.is_changed(Cell[int])
    fn(5)
    assert world.resource(Cell[int]).value == 5
    assert world.changed_at(Cell[int]) == 2 and world.is_changed(Cell[int])
    assert world.changed_at(Log) == 0  # Res does not stamp
    world.next_sequence()
    assert not world.is_changed(Cell[int])


def test_int_counter_cannot_be_written_through_resmut_of_int() -> None:
    wb = WorldBuilder()
    wb.register(0)
    world = wb.build()

    def tick(count: ResMut[int], event: int) -> None: ...

    with pytest.raises(BuildError, match=r"tick.*int.*immutable.*Cell\[int\]"):
        compile_step(tick, world.registry)

    def read(count: Res[int], event: int) -> int:
        return count + event

    assert compile_step(read, world.registry)(1) == 1


def test_several_resmut_and_seq_share_one_sequence_read() -> None:
    world = make_world(Prices())

    def write(log: ResMut[Log], prices: ResMut[Prices], seq: Seq, e: float) -> int:
        prices.last = e
        log.lines.append(f"{seq}:{e}")
        return seq

    fn = compile_step(write, world.registry)
    world.next_sequence()
    assert fn(1.5) == 1
    world.next_sequence()
    assert fn(2.5) == 2
    assert world.resource(Log).lines == ["1:1.5", "2:2.5"]
    assert world.changed_at(Log) == world.changed_at(Prices) == 2


def test_local_is_per_compiled_instance() -> None:
    world = make_world(Prices())

    def count(n: Local[Cell[int]], seen: Local[list[str]], e: str) -> int:
        n.value += 1
        seen.append(e)
        return n.value

    a = compile_step(count, world.registry)
    b = compile_step(count, world.registry)
    assert a("x") == 1 and a("y") == 2
    assert b("z") == 1


def test_optional_resources_resolve_to_none_when_absent() -> None:
    world = make_world(Prices())

    def step(log: Res[Log] | None, missing: ResMut[NotRegistered] | None, e: int) -> tuple:
        return (log, missing, e)

    fn = compile_step(step, world.registry)
    assert fn(1) == (world.resource(Log), None, 1)


def test_missing_required_resource_names_type_and_function() -> None:
    world = make_world(Prices())

    def needs_it(x: Res[NotRegistered], e: int) -> None: ...

    with pytest.raises(UnknownResourceError, match=r"needs_it.*NotRegistered"):
        compile_step(needs_it, world.registry)


def test_registry_ref_injects_the_registry() -> None:
    world = make_world(Prices())

    def build_more(reg: RegistryRef, e: int) -> Registry:
        return reg

    assert compile_step(build_more, world.registry)(0) is world.registry


def test_string_annotations_and_local_classes_resolve() -> None:
    # This module uses `from __future__ import annotations`: every annotation is a string.
    @dataclass
    class Scoped:
        hits: int = 0

    wb = WorldBuilder()
    wb.register(Scoped())
    world = wb.build()

    def hit(s: ResMut[Scoped], e: int) -> int:
        assert isinstance(s, Scoped)  # the body uses Scoped: a closure variable, resolvable
        s.hits += e
        return s.hits

    assert compile_step(hit, world.registry)(3) == 3

    def annotation_only(s: ResMut[Scoped], e: int) -> None:  # Scoped not in the closure
        pass

    with pytest.raises(BuildError, match=r"annotation_only.*Scoped.*module level"):
        compile_step(annotation_only, world.registry)


def test_unresolvable_param_annotation_is_a_build_error() -> None:
    world = make_world(Prices())

    def broken(x: Res[DoesNotExist], e: int) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(BuildError, match=r"broken.*DoesNotExist"):
        compile_step(broken, world.registry)


def test_unresolvable_event_annotation_is_tolerated() -> None:
    world = make_world(Prices())

    def ok(log: Res[Log], e: OnlyForTypeCheckers) -> int:  # type: ignore[name-defined]  # noqa: F821
        return 1

    assert compile_step(ok, world.registry)(None) == 1


def test_lambda_with_explicit_params() -> None:
    world = make_world(Prices())
    fn = compile_step(
        lambda log, count, e: (log.lines.append(e), count.value),
        world.registry,
        params=[ResMut[Log], Res[Cell[int]]],
    )
    fn("hello")
    assert world.resource(Log).lines == ["hello"]


def test_lambda_without_params_is_a_build_error() -> None:
    world = make_world(Prices())
    with pytest.raises(BuildError, match=r"lambda.*'c'.*params="):
        compile_step(lambda c, e: None, world.registry)


def test_explicit_params_must_be_world_params_and_fit() -> None:
    world = make_world(Prices())
    with pytest.raises(BuildError, match=r"params\[0\]"):
        compile_step(lambda c, e: None, world.registry, params=[int])
    with pytest.raises(BuildError, match="takes 2 positional"):
        compile_step(lambda c, e: None, world.registry, params=[Res[Log], Res[Prices]])


def test_wrong_arity_names_the_function() -> None:
    world = make_world(Prices())

    def no_params() -> None: ...

    def two_events(a: int, b: int) -> None: ...

    with pytest.raises(BuildError, match="no_params takes 0"):
        compile_step(no_params, world.registry)
    with pytest.raises(TypeError, match="no_params"):  # BuildError is a TypeError
        compile_step(no_params, world.registry, leading=1)
    with pytest.raises(BuildError, match=r"two_events.*'a'.*not a World parameter"):
        compile_step(two_events, world.registry)


def test_name_override_is_used_in_errors() -> None:
    world = make_world(Prices())

    def f() -> None: ...

    with pytest.raises(BuildError, match="my_step"):
        compile_step(f, world.registry, name="my_step")


def test_resource_param_in_event_or_context_position_is_an_error() -> None:
    world = make_world(Prices())

    def event_is_resource(e: Res[Log]) -> None: ...

    def ctx_is_resource(ctx: ResMut[Log], e: int) -> None: ...

    with pytest.raises(BuildError, match=r"event_is_resource.*'e'.*Res\[Log\].*event"):
        compile_step(event_is_resource, world.registry)
    with pytest.raises(BuildError, match=r"ctx_is_resource.*'ctx'.*context"):
        compile_step(ctx_is_resource, world.registry, leading=1)


def test_unannotated_middle_parameter_is_an_error() -> None:
    world = make_world(Prices())

    def f(x, e):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(BuildError, match=r"f.*'x'.*no annotation"):
        compile_step(f, world.registry)


def test_varargs_and_required_kwonly_are_refused() -> None:
    world = make_world(Prices())

    def star(*args: int) -> None: ...

    def kw(e: int, *, flag: bool) -> None: ...

    def kw_default(log: Res[Log], e: int, *, flag: bool = True) -> bool:
        return flag

    with pytest.raises(BuildError, match=r"star.*\*args"):
        compile_step(star, world.registry)
    with pytest.raises(BuildError, match=r"kw.*'flag'"):
        compile_step(kw, world.registry)
    assert compile_step(kw_default, world.registry)(1) is True


def test_callable_objects_and_bound_methods() -> None:
    world = make_world(Prices())

    class Obj:
        def __init__(self) -> None:
            self.n = 0

        def method(self, log: ResMut[Log], e: str) -> None:
            log.lines.append(e)

        def __call__(self, prices: Res[Prices], e: int) -> float:
            return prices.last + e

    obj = Obj()
    compile_step(obj.method, world.registry)("m")
    assert world.resource(Log).lines == ["m"]
    assert compile_step(obj, world.registry)(2) == 2.0


def test_not_callable() -> None:
    world = make_world(Prices())
    with pytest.raises(BuildError, match="not callable"):
        compile_step(42, world.registry)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        compile_step(len, world.registry, trailing=-1)


def test_handlers_built_before_build_see_later_state() -> None:
    wb = WorldBuilder()
    wb.register(Log())

    def add(log: ResMut[Log], e: str) -> None:
        log.lines.append(e)

    fn = compile_step(add, wb.registry)
    world = wb.build()
    world.next_sequence()
    fn("after")
    assert world.resource(Log).lines == ["after"] and world.changed_at(Log) == 1


def test_local_without_default_constructor_is_a_build_error() -> None:
    world = make_world(Prices())

    class NeedsArgs:
        def __init__(self, x: int) -> None:
            self.x = x

    def h(state: Local[NeedsArgs], e: int) -> None:
        assert isinstance(state, NeedsArgs)

    with pytest.raises(BuildError, match=r"h: Local\[.*NeedsArgs\] needs"):
        compile_step(h, world.registry)


# -- unresolvable annotations that are not World parameters -----------------------------------
# Users import event types under TYPE_CHECKING, so at runtime the annotation text cannot be
# evaluated. Only the *structure* of the text says whether it declares a World parameter: the
# outermost name (or a member of `X | None`) must be Res, ResMut, Local, RegistryRef or Seq.

if TYPE_CHECKING:
    class Quote: ...

    class PriceRes(Generic[T]): ...

    class ThreadLocal(Generic[T]): ...

    SequenceNumber = int
    Resource = int
    RegistryRefs = list[int]


def _event_sequence(log: ResMut[Log], e: Sequence[Quote]) -> int:
    return 1


def _event_mapping(log: ResMut[Log], e: Mapping[str, Quote]) -> int:
    return 1


def _event_sequence_number(log: ResMut[Log], e: SequenceNumber) -> int:
    return 1


def _event_res_suffix(log: ResMut[Log], e: PriceRes[Quote]) -> int:
    return 1


def _event_local_suffix(log: ResMut[Log], e: ThreadLocal[Quote]) -> int:
    return 1


def _event_resource(log: ResMut[Log], e: Resource | None) -> int:
    return 1


def _event_registry_refs(log: ResMut[Log], e: RegistryRefs) -> int:
    return 1


def _event_quote(log: ResMut[Log], e: Quote) -> int:
    return 1


@pytest.mark.parametrize("fn", [
    _event_quote, _event_sequence, _event_mapping, _event_sequence_number, _event_res_suffix,
    _event_local_suffix, _event_resource, _event_registry_refs,
], ids=lambda f: f.__name__)
def test_unresolvable_event_annotations_are_not_world_parameters(fn: Any) -> None:
    step = compile_step(fn, make_world(Prices()).registry)
    assert step(object()) == 1


def _param_res(q: Res[Quote], e: int) -> None: ...
def _param_resmut_optional(q: ResMut[Quote] | None, e: int) -> None: ...
def _param_local_optional(q: Optional[Local[Quote]], e: int) -> None: ...  # noqa: UP045
def _param_qualified(q: world_api.Res[Quote], e: int) -> None: ...
def _param_renamed(q: Readable[Quote], e: int) -> None: ...


@pytest.mark.parametrize("fn", [
    _param_res, _param_resmut_optional, _param_local_optional, _param_qualified, _param_renamed,
], ids=lambda f: f.__name__)
def test_unresolvable_world_parameter_is_still_a_build_error(fn: Any) -> None:
    with pytest.raises(BuildError, match=rf"{fn.__name__}.*cannot resolve.*Quote"):
        compile_step(fn, make_world(Prices()).registry)

"""Checked by mypy in test_typing.py: must produce no errors.

Handlers see the *resource type itself* for Res[T] / ResMut[T] / Local[T] parameters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import assert_type

from nexusloop.world import (
    Callback,
    Cell,
    FnHandler,
    Handler,
    HandlerTemplate,
    Local,
    Registry,
    RegistryRef,
    Res,
    ResMut,
    Seq,
    World,
    WorldBuilder,
    compile_step,
    into_callback,
    into_handler,
)


@dataclass
class Book:
    best_bid: float = 0.0


def on_quote(
    book: ResMut[Book],
    count: ResMut[Cell[int]],
    maybe: Res[Book] | None,
    seen: Local[set[str]],
    reg: RegistryRef,
    seq: Seq,
    event: float,
) -> None:
    assert_type(book, Book)
    assert_type(count, Cell[int])
    assert_type(maybe, Book | None)
    assert_type(seen, set[str])
    assert_type(reg, Registry)
    assert_type(seq, int)
    book.best_bid = event
    count.value += 1
    seen.add("x")


def on_timer(ctx: list[int], book: Res[Book], now: float) -> None:
    ctx.append(int(now + book.best_bid))


def main() -> None:
    wb = WorldBuilder()
    wb.register(Book())
    wb.register(Cell(0))
    world: World = wb.build()
    h = into_handler(on_quote, world.registry)
    assert isinstance(h, FnHandler)
    h.run(world, 1.0)
    cb: Callback[list[int], float] = into_callback(on_timer, [], world.registry)
    assert_type(cb.ctx, list[int])
    handlers: list[Handler[float]] = [h, cb, HandlerTemplate(on_quote, world.registry).generate()]
    for handler in handlers:
        handler.run(world, 2.0)
    book = world.resource(Book)
    assert_type(book, Book)
    counter = world.resource_mut(Cell[int])
    counter.value += 1
    step = compile_step(on_timer, world.registry, leading=1)
    step([], 1.0)

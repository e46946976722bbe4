"""World basics: resources, handlers, callbacks, timers and change detection, on the event loop.

The World is carried by a nexusloop loop (``nexusloop.run(..., world=world)``): a feed task puts
orders on a queue, a dispatch task runs the handlers for each one, and a heartbeat handler fires
from the loop's own timer wheel (a loop-backed timer driver) until it triggers shutdown.

Run: python examples/world_basics.py
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import nexusloop
from nexusloop.world import (
    Cell,
    Local,
    Periodic,
    Res,
    ResMut,
    Seq,
    Shutdown,
    TimerInstaller,
    TimerPoller,
    TimerQueue,
    World,
    WorldBuilder,
    into_callback,
    into_handler,
    world,
)


@dataclass
class Config:
    max_qty: int = 100


@dataclass
class Fills:
    log: list[str] = field(default_factory=list)


@dataclass
class Order:
    id: int
    qty: int


class RiskPlugin:
    """A plugin: registers what the risk checks need."""

    def build(self, builder: WorldBuilder) -> None:
        builder.ensure(Config())
        builder.register(Cell(0))  # Cell[int]: accepted-order counter


def accept(count: ResMut[Cell[int]], cfg: Res[Config], seq: Seq, order: Order) -> bool:
    """A handler: World parameters first, the event last."""
    if order.qty > cfg.max_qty:
        return False
    count.value += 1
    return True


def seen_per_handler(n: Local[Cell[int]], _: Order) -> int:
    """Local state belongs to one handler instance."""
    n.value += 1
    return n.value


@dataclass
class Venue:
    name: str
    fills: int = 0


def on_fill(venue: Venue, fills: ResMut[Fills], order: Order) -> None:
    """A callback: owned context first, World parameters, event last."""
    venue.fills += 1
    fills.log.append(f"{venue.name} filled order {order.id}")


def heartbeat(fills: ResMut[Fills], shutdown: Res[Shutdown], beats: Local[Cell[int]],
              now: float) -> None:
    """A timer handler: ``now`` is the loop's time (``loop.time()``) when it fires."""
    beats.value += 1
    fills.log.append(f"heartbeat {beats.value}")
    if beats.value == 3:
        shutdown.trigger()


async def feed(orders: asyncio.Queue[Order | None]) -> None:
    """Stands in for a network feed: orders arrive one by one."""
    for order in (Order(1, 10), Order(2, 500), Order(3, 20)):
        await orders.put(order)
        await asyncio.sleep(0.001)
    await orders.put(None)


async def dispatch(orders: asyncio.Queue[Order | None]) -> None:
    """The executor of the order handlers: one sequence number and one handler run per event."""
    w = world()  # the World of the running loop
    check = into_handler(accept, w.registry)
    fill = into_callback(on_fill, Venue("XNAS"), w.registry)
    while (order := await orders.get()) is not None:
        w.next_sequence()
        ok = check.run(w, order)
        if ok:
            fill.run(w, order)
        # ResMut access is the write signal: the counter is stamped even for the rejected
        # order, because `accept` declared write access (see docs/world.md).
        print(f"seq {w.sequence}: order {order.id} accepted={ok} "
              f"counter changed={w.is_changed(Cell[int])}")
    print("accepted:", w.resource(Cell[int]).value)
    print("venue context:", fill.ctx)


async def main(w: World, timers: TimerPoller) -> None:
    timers.attach(asyncio.get_running_loop(), w)  # timers now run on the loop's timer wheel
    orders: asyncio.Queue[Order | None] = asyncio.Queue()
    await asyncio.gather(feed(orders), dispatch(orders))

    counter_a = into_handler(seen_per_handler, w.registry)
    counter_b = into_handler(seen_per_handler, w.registry)
    print("locals:", counter_a.run(w, Order(0, 0)), counter_a.run(w, Order(0, 0)),
          counter_b.run(w, Order(0, 0)))

    Periodic(w.resource(TimerQueue), 0.01, into_handler(heartbeat, w.registry))
    await w.resource(Shutdown).wait()  # the third heartbeat triggers it
    print("\n".join(w.resource(Fills).log))


if __name__ == "__main__":
    wb = WorldBuilder()
    wb.install_plugin(RiskPlugin())
    wb.register(Fills())
    timer_driver = wb.install_driver(TimerInstaller())
    w = wb.build()
    nexusloop.run(main(w, timer_driver), world=w)  # the loop carries the World: world() finds it

"""World basics: resources, handlers, callbacks, templates, timers and change detection.

Run: python examples/world_basics.py
"""
from __future__ import annotations

from dataclasses import dataclass, field

from nexusloop.world import (
    Cell,
    Local,
    Periodic,
    Res,
    ResMut,
    Seq,
    Shutdown,
    TestHarness,
    TimerQueue,
    WorldBuilder,
    into_callback,
    into_handler,
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


def heartbeat(fills: ResMut[Fills], shutdown: Res[Shutdown], now: float) -> None:
    fills.log.append(f"heartbeat at t={now}")
    if now >= 3.0:
        shutdown.trigger()


def main() -> None:
    wb = WorldBuilder()
    wb.install_plugin(RiskPlugin())
    wb.register(Fills())
    harness = TestHarness(wb)  # builds the World, installs a timer driver, virtual clock
    world = harness.world

    check = into_handler(accept, world.registry)
    counter_a = into_handler(seen_per_handler, world.registry)
    counter_b = into_handler(seen_per_handler, world.registry)
    fill = into_callback(on_fill, Venue("XNAS"), world.registry)

    for order in (Order(1, 10), Order(2, 500), Order(3, 20)):
        world.next_sequence()  # one sequence number per event
        ok = check.run(world, order)
        if ok:
            fill.run(world, order)
        # ResMut access is the write signal: the counter is stamped even for the rejected
        # order, because `accept` declared write access (see docs/world.md).
        print(f"seq {world.sequence}: order {order.id} accepted={ok} "
              f"counter changed={world.is_changed(Cell[int])}")

    print("accepted:", world.resource(Cell[int]).value)
    print("locals:", counter_a.run(world, Order(0, 0)), counter_a.run(world, Order(0, 0)),
          counter_b.run(world, Order(0, 0)))
    print("venue context:", fill.ctx)

    Periodic(world.resource(TimerQueue), 1.0, into_handler(heartbeat, world.registry), start=1.0)
    while not world.is_shutdown():
        harness.advance(1.0)
    print("\n".join(world.resource(Fills).log))


if __name__ == "__main__":
    main()

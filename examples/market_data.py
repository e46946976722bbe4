"""Market data through World pipelines: quotes and trades into an order-book resource.

A feed handler in the nexus style: a simulated feed produces raw text messages; a driver-like
loop decodes each one and dispatches it, one World sequence number per message.

* Quotes go through a batch pipeline: ``parse`` (may raise) -> ``catch`` (count malformed
  lines) -> ``filter`` (known symbols) -> ``guard`` (not crossed) -> ``dedup`` (unchanged top
  of book) -> ``dispatch`` to a handler that writes the ``OrderBook``.
* Trades go through a DAG: ``parse`` -> fork into a VWAP arm and a "trade vs. book mid" arm ->
  ``merge`` into a report -> a ``FanOut`` to the statistics and the tape.

``main`` runs it on nexusloop: the feed arrives over a socket pair, a line per message (with the
stream's flow control between the sender task and the reader), and the reader dispatches each
line as it comes; ``run`` is the same dispatch over a list, for tests and replay.

Run ``python examples/market_data.py [--messages N] [--seed S]``.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nexusloop
from nexusloop.world import (
    BatchPipeline,
    BuiltPipeline,
    Dag,
    FanOut,
    Pipeline,
    Res,
    ResMut,
    World,
    WorldBuilder,
    into_handler,
)

# -- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str
    bid: float
    ask: float


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    price: float
    qty: int


@dataclass(frozen=True, slots=True)
class TradeReport:
    trade: Trade
    vwap: float
    vs_mid: float | None   # trade price minus book mid (None when no book yet)


# -- resources -------------------------------------------------------------------------------


@dataclass
class Config:
    symbols: frozenset[str] = frozenset({"AAPL", "MSFT", "NVDA"})


@dataclass
class OrderBook:
    """Top of book per symbol (the World stamps when it last changed)."""

    top: dict[str, tuple[float, float]] = field(default_factory=dict)

    def mid(self, symbol: str) -> float | None:
        top = self.top.get(symbol)
        return None if top is None else (top[0] + top[1]) / 2


@dataclass
class Vwap:
    notional: dict[str, float] = field(default_factory=dict)
    volume: dict[str, int] = field(default_factory=dict)


@dataclass
class Stats:
    quotes: int = 0
    book_updates: int = 0
    malformed: int = 0
    crossed: int = 0
    trades: int = 0
    tape: list[TradeReport] = field(default_factory=list)


# -- steps: plain functions, resources declared by annotation --------------------------------


def parse_quote(line: str) -> Quote:
    kind, symbol, bid, ask = line.split(",")
    if kind != "Q":
        raise ValueError(f"not a quote: {line!r}")
    return Quote(symbol, float(bid), float(ask))


def parse_trade(line: str) -> Trade:
    kind, symbol, price, qty = line.split(",")
    if kind != "T":
        raise ValueError(f"not a trade: {line!r}")
    return Trade(symbol, float(price), int(qty))


def count_malformed(stats: ResMut[Stats], error: Exception) -> None:
    stats.malformed += 1


def known_symbol(config: Res[Config], quote: Quote) -> bool:
    return quote.symbol in config.symbols


def not_crossed(stats: ResMut[Stats], quote: Quote) -> bool:
    stats.quotes += 1
    if quote.bid >= quote.ask:
        stats.crossed += 1
        return False
    return True


def update_book(book: ResMut[OrderBook], stats: ResMut[Stats], quote: Quote) -> None:
    book.top[quote.symbol] = (quote.bid, quote.ask)
    stats.book_updates += 1


def add_to_vwap(vwap: ResMut[Vwap], trade: Trade) -> float:
    vwap.notional[trade.symbol] = vwap.notional.get(trade.symbol, 0.0) + trade.price * trade.qty
    vwap.volume[trade.symbol] = vwap.volume.get(trade.symbol, 0) + trade.qty
    return vwap.notional[trade.symbol] / vwap.volume[trade.symbol]


def versus_mid(book: Res[OrderBook], trade: Trade) -> float | None:
    mid = book.mid(trade.symbol)
    return None if mid is None else trade.price - mid


def count_trade(stats: ResMut[Stats], report: TradeReport) -> None:
    stats.trades += 1


def record_tape(stats: ResMut[Stats], report: TradeReport) -> None:
    stats.tape.append(report)


# -- wiring ----------------------------------------------------------------------------------


@dataclass
class FeedHandler:
    world: World
    quotes: BatchPipeline[str]
    trades: BuiltPipeline[str, None]


def build(batch_capacity: int = 256) -> FeedHandler:
    wb = WorldBuilder()
    wb.register(Config())
    wb.register(OrderBook())
    wb.register(Vwap())
    wb.register(Stats())
    world = wb.build()
    reg = world.registry

    quotes = (
        Pipeline.start(reg, str, name="quotes")
        .then(parse_quote)
        .catch(count_malformed, ValueError)
        .filter(known_symbol)
        .guard(not_crossed)
        .dedup(key=lambda q: (q.symbol, q.bid, q.ask))
        .dispatch(into_handler(update_book, reg))
        .build_batch(batch_capacity)
    )

    tape: FanOut[TradeReport] = FanOut(into_handler(count_trade, reg), into_handler(record_tape, reg))
    trades = (
        Dag.start(reg, str, name="trades")
        .root(parse_trade)
        .fork()
        .arm(lambda a: a.then(add_to_vwap))
        .arm(lambda b: b.then(versus_mid))
        .arm(lambda c: c)                             # the trade itself, by reference
        .merge(lambda vwap, vs_mid, trade: TradeReport(trade, vwap, vs_mid))
        .dispatch(tape)
        .build()
    )
    return FeedHandler(world, quotes, trades)


def simulated_feed(n: int, seed: int) -> list[str]:
    """Raw messages: mostly quotes, some trades, a few malformed or unknown-symbol lines."""
    rng = random.Random(seed)
    mids = {"AAPL": 190.0, "MSFT": 410.0, "NVDA": 880.0, "XYZ": 10.0}
    out = []
    for _ in range(n):
        symbol = rng.choice(list(mids))
        mids[symbol] += rng.choice((-0.01, 0.0, 0.0, 0.01))
        mid = mids[symbol]
        roll = rng.random()
        if roll < 0.02:
            out.append(f"Q,{symbol},garbage")
        elif roll < 0.8:
            spread = rng.choice((0.02, 0.02, 0.04, -0.02))      # some crossed quotes
            out.append(f"Q,{symbol},{mid - spread / 2:.2f},{mid + spread / 2:.2f}")
        else:
            out.append(f"T,{symbol},{mid + rng.choice((-0.01, 0.01)):.2f},{rng.randint(1, 9) * 100}")
    return out


def on_message(handler: FeedHandler, line: str) -> None:
    """The driver's step: quotes are batched until a trade arrives (trades see the book up to it)."""
    world = handler.world
    quotes = handler.quotes
    world.next_sequence()
    if line.startswith("T"):
        quotes.run(world)
        handler.trades.run(world, line)
    else:
        quotes.input.append(line)
        if len(quotes.input) >= quotes.capacity:
            quotes.run(world)


def run(feed: Sequence[str], handler: FeedHandler) -> None:
    """The whole feed, synchronously (tests, replay)."""
    for line in feed:
        on_message(handler, line)
    handler.quotes.run(handler.world)


async def run_on_loop(feed: Sequence[str], handler: FeedHandler) -> None:
    """The same on the event loop: a sender task streams the feed through a socket pair."""
    rsock, wsock = socket.socketpair()
    reader, rwriter = await asyncio.open_connection(sock=rsock)
    _, writer = await asyncio.open_connection(sock=wsock)

    async def send() -> None:
        for line in feed:
            writer.write(line.encode() + b"\n")
            await writer.drain()  # waits only when the socket and the transport's buffer are full
        writer.close()  # the reader sees EOF
        await writer.wait_closed()

    sender = asyncio.create_task(send())
    async for raw in reader:
        on_message(handler, raw.decode().rstrip("\n"))
    handler.quotes.run(handler.world)
    await sender
    rwriter.close()
    await rwriter.wait_closed()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="market data through World pipelines")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    handler = build()
    feed = simulated_feed(args.messages, args.seed)
    nexusloop.run(run_on_loop(feed, handler))

    world = handler.world
    stats = world.resource(Stats)
    book = world.resource(OrderBook)
    vwap = world.resource(Vwap)
    print(f"messages {len(feed)}  quotes {stats.quotes}  book updates {stats.book_updates}  "
          f"crossed {stats.crossed}  malformed {stats.malformed}  trades {stats.trades}")
    for symbol in sorted(book.top):
        bid, ask = book.top[symbol]
        v = vwap.notional[symbol] / vwap.volume[symbol] if vwap.volume.get(symbol) else 0.0
        print(f"  {symbol:5} bid {bid:8.2f}  ask {ask:8.2f}  vwap {v:8.2f}")
    print(f"order book last changed at sequence {world.changed_at(OrderBook)} "
          f"of {world.sequence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

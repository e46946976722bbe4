"""examples/market_data.py runs and its numbers add up."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import nexusloop

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "market_data.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("market_data_example", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_counts_are_consistent(example: ModuleType) -> None:
    feed = example.simulated_feed(3000, 11)
    handler = example.build(batch_capacity=64)
    example.run(feed, handler)
    world = handler.world
    stats = world.resource(example.Stats)
    book = world.resource(example.OrderBook)

    malformed = sum(1 for line in feed if line.endswith("garbage"))
    trades = [line for line in feed if line.startswith("T")]
    known_quotes = [line for line in feed if line.startswith("Q") and not line.endswith("garbage")
                    and line.split(",")[1] in example.Config().symbols]
    assert stats.malformed == malformed
    assert stats.trades == len(trades) == len(stats.tape)
    assert stats.quotes == len(known_quotes)          # unknown symbols filtered before guard
    assert 0 < stats.book_updates <= stats.quotes - stats.crossed
    assert set(book.top) == set(example.Config().symbols)
    assert all(bid < ask for bid, ask in book.top.values())
    assert handler.quotes.input == []
    # each report's trade arm passed the trade through by reference
    assert all(isinstance(r.trade, example.Trade) for r in stats.tape)


def test_matches_a_plain_python_reference(example: ModuleType) -> None:
    feed = example.simulated_feed(2000, 5)
    handler = example.build()
    example.run(feed, handler)
    book = handler.world.resource(example.OrderBook)

    top: dict[str, tuple[float, float]] = {}
    for line in feed:
        parts = line.split(",")
        if parts[0] == "Q" and len(parts) == 4 and parts[1] in example.Config().symbols:
            bid, ask = float(parts[2]), float(parts[3])
            if bid < ask:
                top[parts[1]] = (bid, ask)
    assert book.top == top


def test_main_prints_summary(example: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert example.main(["--messages", "1500"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("messages 1500")
    assert "AAPL" in out and "vwap" in out


def test_runs_as_a_script() -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--messages", "500"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "book updates" in proc.stdout


def test_on_the_loop_matches_the_synchronous_run(example: ModuleType) -> None:
    """main() streams the feed through a socket pair on nexusloop: same results as run()."""
    feed = example.simulated_feed(5000, 3)
    sync, looped = example.build(), example.build()
    example.run(feed, sync)
    nexusloop.run(example.run_on_loop(feed, looped))
    for kind in (example.OrderBook, example.Vwap):
        assert looped.world.resource(kind) == sync.world.resource(kind)
    assert looped.world.resource(example.Stats) == sync.world.resource(example.Stats)
    assert looped.world.sequence == sync.world.sequence == len(feed)

"""Shared by the allocation tests: what dispatching events allocates, measured by tracemalloc."""
from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any


def measure(
    run: Callable[[Any, Any], Any], world: Any, events: Sequence[Any], warmup: int
) -> tuple[int, int]:
    """Net and peak bytes allocated by ``run(world, e)`` over ``events`` (after a warm-up)."""
    for x in events[:warmup]:  # warm up: specialisation, caches, first-use allocations
        run(world, x)
    gc.disable()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for x in events:
            run(world, x)
        end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    return end - start, peak - start

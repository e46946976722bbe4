"""Checked by mypy in test_typing.py: each line marked `# E:` must be reported."""
from __future__ import annotations

from dataclasses import dataclass

from nexusloop.world import Cell, Local, Res, ResMut


@dataclass
class Book:
    best_bid: float = 0.0


def handler(book: Res[Book], count: ResMut[Cell[int]], n: Local[Cell[str]], e: int) -> None:
    book.no_such_field = 1  # E: attr-defined
    count.value = "not an int"  # E: assignment
    n.value += 1  # E: operator

"""Stand-in for the ``cython`` module when Cython is not installed.

Core modules do ``try: import cython`` and fall back to this shim, so the pure-Python mode needs
nothing but the standard library. Only the names the core uses are provided.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

compiled = False


def freelist(size: int) -> Callable[[_T], _T]:
    return lambda cls: cls


def cclass(obj: _T) -> _T:
    return obj


def final(obj: _T) -> _T:
    return obj


def cast(_type: Any, value: _T, typecheck: bool = False) -> _T:
    return value


int = int  # noqa: A001  (cython.int: a type name for cython.declare)


def declare(_type: Any, value: Any = None) -> Any:
    return value


def no_gc_clear(cls: _T) -> _T:
    return cls

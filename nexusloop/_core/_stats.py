"""Log-linear histograms recorded by the loop core (``loop.stats()``, issue #10).

A sample (seconds) goes to a fixed bucket: below 1,024 ns all share bucket 0; above, each range
``[2**e, 2**(e+1))`` ns is split into ``_SUB`` equal buckets (relative error at most 1/_SUB,
25%), up to ``2**_MAX_EXP`` ns (~68.7 s); one overflow bucket after. Recording is ``frexp``,
an index and an increment in a C array: no allocation, no Python object per sample.
"""
from __future__ import annotations

import math
from typing import Any

try:
    import cython
except ImportError:  # pragma: no cover
    from nexusloop._core import _cyshim as cython  # type: ignore[no-redef]

_SUB = 4
_MIN_EXP = 10  # 2**10 ns = 1.024 µs: the upper bound of bucket 0
_MAX_EXP = 36  # 2**36 ns = 68.7 s
_NBUCKETS = 1 + (_MAX_EXP - _MIN_EXP) * _SUB + 1  # + the overflow bucket
_frexp = math.frexp
_INF = math.inf


def _bounds() -> tuple[float, ...]:
    """Upper bound of every bucket, seconds (the last one is infinite)."""
    out = [2.0 ** _MIN_EXP * 1e-9]
    for e in range(_MIN_EXP, _MAX_EXP):
        for sub in range(_SUB):
            out.append((_SUB + sub + 1) * 2.0 ** (e - 2) * 1e-9)
    out.append(_INF)
    return tuple(out)


BOUNDS = _bounds()


@cython.final
@cython.cclass
class Histogram:
    """Counts of samples (seconds) in fixed log-linear buckets; see the module docstring."""

    _count: int
    _sum: float
    _max: float

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        if cython.compiled:
            for i in range(_NBUCKETS):
                self._counts[i] = 0
        else:
            self._counts: list[int] = [0] * _NBUCKETS
        self._count = 0
        self._sum = 0.0
        self._max = 0.0

    def record(self, seconds: float) -> None:
        """Add one sample (negative samples count as 0)."""
        if seconds < 0.0:
            seconds = 0.0
        ns = seconds * 1e9
        if ns < 1024.0:
            index = 0
        else:
            # ns = m * 2**e with 0.5 <= m < 1: the power-of-two range is e - 1, and the
            # mantissa's top bits after the leading one pick the sub-bucket.
            if cython.compiled:
                e = 0
                m = frexp(ns, cython.address(e))  # type: ignore[name-defined]  # noqa: F821
            else:
                m, e = _frexp(ns)
            e -= 1
            if e >= _MAX_EXP:
                index = _NBUCKETS - 1
            else:
                index = 1 + (e - _MIN_EXP) * _SUB + cython.cast(cython.int, (m * 2.0 - 1.0) * _SUB)
        self._counts[index] += 1
        self._count += 1
        self._sum += seconds
        if seconds > self._max:
            self._max = seconds

    @property
    def count(self) -> int:
        return self._count

    def snapshot(self, name: str) -> Any:
        """A :class:`nexusloop.latency.HistogramSnapshot` of the counts so far."""
        from nexusloop.latency._snapshot import HistogramSnapshot

        counts = tuple([self._counts[i] for i in range(_NBUCKETS)])
        return HistogramSnapshot(name, BOUNDS, counts, self._count, self._sum, self._max)

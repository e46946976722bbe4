"""Latency features of nexusloop (SPEC section 5): GC control (``LoopOptions.gc_control``).

``docs/latency.md`` says what each feature changes and what it measured.
"""
from nexusloop.latency._gc import GcControl, GcStats

__all__ = ["GcControl", "GcStats"]

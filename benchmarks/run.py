#!/usr/bin/env python3
"""nexusloop benchmark runner: the single entry point of ``benchmarks/``.

The runner and the workloads live in the package (``nexusloop/_bench/``) so that
``python -m nexusloop bench`` works after a plain install; this file runs them on the checkout
it sits in, with the flags and output documented in ``benchmarks/README.md``
(``python benchmarks/run.py --help``). ``run.py world ...`` delegates to ``benchmarks/world.py``.
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # measure the tree this runner sits in

from nexusloop._bench import _runner  # noqa: E402

if __name__ != "__main__":
    # ``import run`` (benchmarks/syscalls.py) gets the runner module itself: one set of globals.
    sys.modules[__name__] = _runner


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "world":
        if HERE not in sys.path:
            sys.path.insert(0, HERE)
        import world  # type: ignore[import-not-found,unused-ignore]

        return int(world.main(argv[1:]) or 0)
    return _runner.main(argv, prog="benchmarks/run.py")


if __name__ == "__main__":
    sys.exit(main())

"""The loop workloads now live in ``nexusloop/_bench/_workloads.py`` (shipped with the package).

``import _workloads`` from ``benchmarks/`` (syscalls.py, the smoke tests) gets that module
itself, so setting its globals (``NET_STALL``, ``NET_TIMEOUT``) still reaches the workloads.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from nexusloop._bench import _workloads  # noqa: E402

sys.modules[__name__] = _workloads

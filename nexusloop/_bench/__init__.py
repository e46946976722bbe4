"""The bundled loop benchmarks: the runner (``_runner``) and the workloads (``_workloads``).

Shipped in the package so that ``python -m nexusloop bench`` works after a plain install;
``benchmarks/run.py`` in a checkout wraps the same runner. See ``docs/benchmarks.md``.
"""

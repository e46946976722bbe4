"""The public face of pipelines and DAGs: their classes, typed by ``_pipeline_api.pyi``.

The implementation is :mod:`._pipeline` and :mod:`._dag`, type-checked as written. mypy reads
a ``.pyi`` instead of the ``.py`` beside it, so the precise typing of the combinators (one
overload per number of World parameters, see ``tools/gen_pipeline_stub.py``) lives in a stub
next to *this* module, which only re-exports; ``nexusloop.world`` imports the classes from here.
"""
from ._dag import Dag, DagStart
from ._pipeline import BatchPipeline, BuiltPipeline, Fork, OptionPipeline, Pipeline

__all__ = [
    "BatchPipeline", "BuiltPipeline", "Dag", "DagStart", "Fork", "OptionPipeline", "Pipeline",
]

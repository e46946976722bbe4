"""DAGs: a root step, forks into arms that read the same value, merges, nested forks.

Design
------
In the Rust original the topology of a DAG lives in its type, and monomorphisation flattens
the whole graph into one function whose intermediate values are stack locals. Python gets the
same result from the pipeline code generator: a fork is one more operation in a chain, each arm
is a chain of its own, and ``build()`` emits one flat function in which every arm's value is a
local variable::

    def run(_world, v):
        v = double(v)            # root
        _arm_1 = add_one(v)      # arm 1 reads the fork's value (the same object)
        _arm_2 = triple(v)       # arm 2 too
        return add(_arm_1, _arm_2)   # merge

No copy, no container per event, no call per node beyond the user's own functions. Arms run one
after the other in the order they were added; an arm that ends without a value (a ``filter``)
hands None to the merge, while a ``guard`` in an arm stops the whole event. Because a fork is
just an operation, every chain can fork (``Pipeline.start(reg).then(f).fork()...``);
:class:`DagStart` / :meth:`DagStart.root` are the seed's spelling of that, and building such a
chain gives a :class:`Dag`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ._pipeline import BuiltPipeline, Pipeline, _registry_of
from ._pipeline_codegen import THEN, Op, check_step
from ._world import Registry, World

__all__ = ["Dag", "DagStart"]

In = TypeVar("In")
Out = TypeVar("Out")


class Dag(BuiltPipeline[In, Out]):
    """A compiled data-flow graph; a handler: ``dag.run(world, event)``.

    Example::

        dag = (
            Dag.start(world.registry, int)
            .root(lambda x: x * 2)
            .fork()
            .arm(lambda a: a.then(lambda x: x + 1))
            .arm(lambda b: b.then(lambda x: x * 3))
            .merge(lambda a, b: a + b)
            .build()
        )
        dag.run(world, 5)     # root 10, arms 11 and 30, merge 41
    """

    __slots__ = ()

    @staticmethod
    def start(registry: Registry | World | None = None, event_type: type[Any] | None = None,
              *, name: str | None = None) -> DagStart[Any]:
        """Begin a DAG whose steps resolve against ``registry``: ``Dag.start(reg, E).root(f)``."""
        return DagStart(registry, name=name)


class DagStart(Generic[In]):
    """The start of a DAG: :meth:`root` gives the chain that forks.

    Example: ``DagStart(world.registry).root(decode).fork()...``
    """

    __slots__ = ("_name", "_registry")

    def __init__(self, registry: Registry | World | None = None, *,
                 name: str | None = None) -> None:
        self._registry = _registry_of(registry)
        self._name = name

    def root(self, step: Callable[..., Any], *, params: Sequence[Any] | None = None,
             name: str | None = None) -> Pipeline[In, Any]:
        """The first step, which receives the event; the returned chain builds a :class:`Dag`."""
        check_step(step, self._registry, leading=0, trailing=1, params=params, name=name,
                   what="root step")
        op = Op(THEN, step, None, params, name)
        return Pipeline(self._registry, name=self._name or "dag", _ops=(op,), _dag=True)

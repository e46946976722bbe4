"""DAGs: a root step, forks into arms that read the same value, merges, nested forks.

Design
------
A DAG could be a graph of node objects walked per event, paying a call and a container per
node. Instead a fork is one more operation in a chain, each arm is a chain of its own, and
``build()`` emits one flat function in which every arm's value is a local variable::

    def run(_world, v):
        v = double(v)            # root
        _arm_1 = add_one(v)      # arm 1 reads the fork's value (the same object)
        _arm_2 = triple(v)       # arm 2 too
        return add(_arm_1, _arm_2)   # merge

No copy, no container per event, no call per node beyond the user's own functions. Arms run one
after the other in the order they were added; an arm that ends without a value (a ``filter``)
hands None to the merge, while a ``guard`` in an arm stops the whole event. Because a fork is
just an operation, every chain can fork (``Pipeline.start(reg).then(f).fork()...``);
``Dag.start(reg).root(f)`` is the same chain, spelled as a graph, and builds a :class:`Dag`.

This module only adds those names on top of :mod:`._pipeline`, which does not import it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ._pipeline import BuiltPipeline, Pipeline, _Head, _registry_of
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

    kind = "dag"

    @staticmethod
    def start(registry: Registry | World | None = None, event_type: type[Any] | None = None,
              *, name: str | None = None) -> DagStart[Any]:
        """Begin a DAG whose steps resolve against ``registry``: ``Dag.start(reg, E).root(f)``."""
        return DagStart(registry, name=name)


class DagStart(Generic[In]):
    """The start of a DAG: :meth:`root` gives the chain that forks.

    Example: ``DagStart(world.registry).root(decode).fork()...``
    """

    __slots__ = ("_head",)

    def __init__(self, registry: Registry | World | None = None, *,
                 name: str | None = None) -> None:
        self._head = _Head(_registry_of(registry), name, Dag)

    def root(self, step: Callable[..., Any], *, params: Sequence[Any] | None = None,
             name: str | None = None) -> Pipeline[In, Any]:
        """The first step, which receives the event; the returned chain builds a :class:`Dag`."""
        start: Pipeline[In, In] = Pipeline._extended(self._head, ())
        chain: Pipeline[In, Any] = start.then(step, params=params, name=name)
        return chain

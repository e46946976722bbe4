"""Exceptions raised by :mod:`nexusloop.world`.

Every mistake the World can detect is detected when something is *built* (a resource registered,
a handler or step compiled), never on the dispatch path, and every message names the offending
type, handler or parameter.
"""
from __future__ import annotations

__all__ = [
    "BuildError",
    "DuplicateResourceError",
    "FrozenWorldError",
    "UnknownResourceError",
    "WorldError",
]


class WorldError(Exception):
    """Base class of every error raised by :mod:`nexusloop.world`."""


class BuildError(WorldError, TypeError):
    """A handler, callback or step cannot be built from the function it was given.

    Raised for a wrong number of parameters, a parameter that is neither a resource parameter
    nor the context/event, an annotation that cannot be resolved, or a write to an immutable type.
    It is a :class:`TypeError`, like calling a function with the wrong arguments.
    """


class UnknownResourceError(WorldError, LookupError):
    """A resource type was asked for that was never registered in the World."""


class DuplicateResourceError(WorldError, ValueError):
    """The same resource type was registered twice."""


class FrozenWorldError(WorldError, RuntimeError):
    """The builder was used after :meth:`WorldBuilder.build` froze it into a World."""

"""World: a typed singleton store whose resources are injected into plain functions.

A :class:`WorldBuilder` collects resources (one object per type) and freezes into a
:class:`World`; handlers, callbacks, pipelines and DAGs are plain functions that declare
``Res[T]`` / ``ResMut[T]`` / ``Local[T]`` parameters, resolved once when they are built and
passed as ready objects at each dispatch.
See ``docs/world.md``.

Each private module defines ``__all__``; this file star-imports it and adds it to ``__all__``
(two lines per module, nothing else). Pipelines and DAGs come through ``_pipeline_api``, whose
stub types them (``_pipeline`` and ``_dag`` hold the implementation).
"""
from ._context import *  # noqa: F403
from ._context import __all__ as _context_all
from ._errors import *  # noqa: F403
from ._errors import __all__ as _errors_all
from ._fanout import *  # noqa: F403
from ._fanout import __all__ as _fanout_all
from ._handler import *  # noqa: F403
from ._handler import __all__ as _handler_all
from ._harness import *  # noqa: F403
from ._harness import __all__ as _harness_all
from ._io import *  # noqa: F403
from ._io import __all__ as _io_all
from ._param import *  # noqa: F403
from ._param import __all__ as _param_all
from ._pipeline_api import *  # noqa: F403
from ._pipeline_api import __all__ as _pipeline_all
from ._timer import *  # noqa: F403
from ._timer import __all__ as _timer_all
from ._world import *  # noqa: F403
from ._world import __all__ as _world_all

__all__ = [
    *_context_all, *_errors_all, *_fanout_all, *_handler_all, *_harness_all,
    *_io_all, *_param_all, *_pipeline_all, *_timer_all, *_world_all,
]

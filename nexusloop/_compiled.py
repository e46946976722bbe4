"""``nexusloop.is_compiled()``: whether this process runs the compiled core, and why not.

The decision itself is made once, when :mod:`nexusloop._core` is imported (its docstring has the
rules: ``NEXUSLOOP_NO_EXTENSIONS``, extensions never built, extensions that fail to load). This
module only reads it back, for users (:func:`is_compiled`) and for ``python -m nexusloop info``
(:func:`core_status`).
"""
from __future__ import annotations

import dataclasses

import nexusloop._core as _core

__all__ = ["CoreStatus", "core_status", "is_compiled"]


@dataclasses.dataclass(frozen=True)
class CoreStatus:
    """What :func:`core_status` reports: ``compiled``, and ``reason`` when it is not."""

    compiled: bool
    reason: str | None
    #: module name -> the file it was loaded from, for the core modules
    files: dict[str, str]


def core_status() -> CoreStatus:
    """Whether the loop core runs compiled in this process and, if not, why."""
    files: dict[str, str] = {}
    compiled = True
    for name in _core.CORE_MODULES:
        module = _core.load(name)
        files[module.__name__] = getattr(module, "__file__", None) or "?"
        compiled = compiled and _core.is_compiled(module)
    if compiled:
        return CoreStatus(True, None, files)
    if _core.PURE_REQUESTED:
        reason = "NEXUSLOOP_NO_EXTENSIONS is set: pure Python was asked for"
    elif _core.FALLBACK_REASON is not None:
        reason = f"the extensions exist but cannot be used: {_core.FALLBACK_REASON}"
    else:
        reason = ("the extensions are not built (a source checkout without `python setup.py "
                  "build_ext --inplace`, or an install made with NEXUSLOOP_NO_EXTENSIONS=1)")
    return CoreStatus(False, reason, files)


def is_compiled() -> bool:
    """Whether nexusloop's loop core runs as compiled extensions in this process.

    ``False`` under ``NEXUSLOOP_NO_EXTENSIONS=1``, when the extensions were not built, or when
    they exist but failed to load (then importing nexusloop also warned once, with the reason;
    ``python -m nexusloop info`` prints it again).

    Example::

        import nexusloop
        if not nexusloop.is_compiled():
            print("nexusloop runs as pure Python (slower)")
    """
    return core_status().compiled

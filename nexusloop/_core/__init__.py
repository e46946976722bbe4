"""The compiled hot path of nexusloop, with its pure-Python twin.

Each module here is a plain ``.py`` file with an augmenting ``.pxd`` beside it. When the package
is built, Cython compiles the pair into an extension module that Python's import system prefers
over the ``.py`` source. With ``NEXUSLOOP_NO_EXTENSIONS=1`` in the environment (or when no
extension was built) the very same ``.py`` files are imported as ordinary Python modules, so both
modes run identical logic and the test suite runs in both.

In pure mode a meta-path finder maps the compiled modules (``nexusloop._core.*``, the
transports in ``nexusloop.net`` and the channels) to their sources, so plain imports honour the
switch too.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

#: True when the user asked for the pure-Python fallback.
PURE_REQUESTED = os.environ.get("NEXUSLOOP_NO_EXTENSIONS", "") not in ("", "0")

_HERE = os.path.dirname(os.path.abspath(__file__))
#: Packages holding compiled modules, and their directories.
_COMPILED_PACKAGES = {
    __name__: _HERE,
    "nexusloop.net": os.path.join(os.path.dirname(_HERE), "net"),
    "nexusloop.channels": os.path.join(os.path.dirname(_HERE), "channels"),
}


class _SourceFinder:
    """Meta-path finder that resolves compiled modules to their ``.py`` source (pure mode)."""

    @staticmethod
    def find_spec(fullname: str, path: object = None, target: object = None) -> object:
        package, _, name = fullname.rpartition(".")
        directory = _COMPILED_PACKAGES.get(package)
        if directory is None:
            return None
        src = os.path.join(directory, name + ".py")
        if not os.path.exists(src):
            return None
        return importlib.util.spec_from_file_location(fullname, src)


if PURE_REQUESTED:
    sys.meta_path.insert(0, _SourceFinder())  # type: ignore[arg-type]


def load(name: str) -> ModuleType:
    """Import ``nexusloop._core.<name>``: compiled unless pure mode is requested."""
    return importlib.import_module(f"{__name__}.{name}")


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` is a compiled extension rather than Python source."""
    return not (getattr(module, "__file__", "") or "").endswith(".py")

"""The compiled hot path of nexusloop, with its pure-Python twin.

Each module here is a plain ``.py`` file with an augmenting ``.pxd`` beside it. When the package
is built, Cython compiles the pair into an extension module that Python's import system prefers
over the ``.py`` source. With ``NEXUSLOOP_NO_EXTENSIONS=1`` in the environment (or when no
extension was built) the very same ``.py`` files are imported as ordinary Python modules, so both
modes run identical logic and the test suite runs in both.

In pure mode a meta-path finder maps the compiled modules (``nexusloop._core.*``, the
transports in ``nexusloop.net``, the channels and the runtime) to their sources, so plain imports honour the
switch too.

Extensions that exist but do not load
-------------------------------------
A build can be present and still unusable: a truncated copy, a file built against another
Python or libc, a partial build. Importing this package probes the three core extensions
(``_handles``, ``_wheel``, ``_loopcore``: a few milliseconds, they are needed by any loop). If
an extension file exists and the probe fails, the package falls back to pure mode *as a whole*
(the core modules cimport each other's types, so a half-compiled core is not an option), issues
one ``RuntimeWarning`` saying why, and records the reason in :data:`FALLBACK_REASON`
(``nexusloop.is_compiled()`` is then ``False``; ``python -m nexusloop info`` shows the reason).
No extension at all (never built) is not a failure: pure mode, silently. With
``NEXUSLOOP_NO_EXTENSIONS=1`` nothing is probed.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from types import ModuleType

#: True when the user asked for the pure-Python fallback.
PURE_REQUESTED = os.environ.get("NEXUSLOOP_NO_EXTENSIONS", "") not in ("", "0")

_HERE = os.path.dirname(os.path.abspath(__file__))
#: Packages holding compiled modules, and their directories.
_COMPILED_PACKAGES = {
    __name__: _HERE,
    "nexusloop.net": os.path.join(os.path.dirname(_HERE), "net"),
    "nexusloop.channels": os.path.join(os.path.dirname(_HERE), "channels"),
    "nexusloop.runtime": os.path.join(os.path.dirname(_HERE), "runtime"),
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


#: The modules every loop needs, whose extensions are probed on import (see above).
CORE_MODULES = ("_handles", "_wheel", "_loopcore")

#: Why the extensions exist but are not used (``None`` when they load, or were never built).
FALLBACK_REASON: str | None = None


def extension_path(package: str, name: str) -> str | None:
    """The extension file of module ``package.name`` if one is built beside its source."""
    directory = _COMPILED_PACKAGES[package]
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(directory, name + suffix)
        if os.path.exists(path):
            return path
    return None


def _probe_core() -> str | None:
    """Load the core extensions; return why they cannot be used, or ``None``."""
    built = [name for name in CORE_MODULES if extension_path(__name__, name)]
    if not built:
        return None  # never built: pure mode, nothing to warn about
    missing = [name for name in CORE_MODULES if name not in built]
    if missing:
        return (f"incomplete build: {', '.join(missing)} has no extension beside "
                f"{', '.join(built)}")
    for name in CORE_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except Exception as exc:  # noqa: BLE001 - any failure to load means: use the sources
            return f"{__name__}.{name} failed to load: {type(exc).__name__}: {exc}"
        if not is_compiled(module):
            return f"{__name__}.{name} was imported from its source ({module.__file__})"
    return None


def _fall_back(reason: str) -> None:
    # Drop what the probe loaded, from sys.modules and as package attributes (``from
    # nexusloop._core import _wheel`` looks there first): the core is pure or nothing.
    for name, module in list(sys.modules.items()):
        package, _, short = name.rpartition(".")
        if package in _COMPILED_PACKAGES and module is not None and is_compiled(module):
            del sys.modules[name]
            parent = sys.modules.get(package)
            if parent is not None and getattr(parent, short, None) is module:
                delattr(parent, short)
    sys.meta_path.insert(0, _SourceFinder())  # type: ignore[arg-type]
    warnings.warn(
        f"nexusloop: the compiled extensions cannot be used ({reason}); running as pure "
        "Python, several times slower. Rebuild (pip install --force-reinstall --no-cache-dir "
        "nexusloop, or `python setup.py build_ext --inplace` in a checkout), or set "
        "NEXUSLOOP_NO_EXTENSIONS=1 to choose pure Python and silence this warning.",
        RuntimeWarning,
        stacklevel=2,
    )


if PURE_REQUESTED:
    sys.meta_path.insert(0, _SourceFinder())  # type: ignore[arg-type]


def load(name: str) -> ModuleType:
    """Import ``nexusloop._core.<name>``: compiled unless pure mode is requested."""
    return importlib.import_module(f"{__name__}.{name}")


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` is a compiled extension rather than Python source."""
    return not (getattr(module, "__file__", "") or "").endswith(".py")


if not PURE_REQUESTED:
    FALLBACK_REASON = _probe_core()
    if FALLBACK_REASON is not None:
        _fall_back(FALLBACK_REASON)

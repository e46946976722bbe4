"""Build script: compiles the hot-path modules with Cython.

Every compiled module is an ordinary ``.py`` file: under ``nexusloop/_core`` and
``nexusloop/channels`` and ``nexusloop/runtime`` with an augmenting ``.pxd`` beside it, in ``nexusloop/net`` the transports on their own; Cython compiles them, and the same ``.py`` runs unchanged when the
extension is absent or ``NEXUSLOOP_NO_EXTENSIONS=1`` is set. Setting that variable at build time
skips compilation altogether (a pure-Python install).
"""
import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
CORE = HERE / "nexusloop" / "_core"
CHANNELS = HERE / "nexusloop" / "channels"
RUNTIME = HERE / "nexusloop" / "runtime"
# Modules compiled as ordinary Python modules (no .pxd): their classes must stay Python classes
# (transports subclass asyncio.Transport), but Cython still removes the interpreter overhead.
PLAIN = [
    "nexusloop/net/_stream.py",
    "nexusloop/net/_server.py",
    "nexusloop/net/_connect.py",
    "nexusloop/net/_sock.py",
    "nexusloop/net/_datagram.py",
    "nexusloop/net/_sendfile.py",
    "nexusloop/net/_tls.py",
    "nexusloop/net/_pipe.py",
    "nexusloop/net/_subprocess.py",
]


def _extensions():
    if os.environ.get("NEXUSLOOP_NO_EXTENSIONS") == "1":
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    exts = []
    for pxd in sorted([*CORE.glob("*.pxd"), *CHANNELS.glob("*.pxd"), *RUNTIME.glob("*.pxd")]):
        py = pxd.with_suffix(".py")
        if not py.exists():
            continue
        name = ".".join(py.relative_to(HERE).with_suffix("").parts)
        exts.append(Extension(name, [str(py.relative_to(HERE))], extra_compile_args=["-O2"]))
    for path in PLAIN:
        name = path[:-3].replace("/", ".")
        exts.append(Extension(name, [path], extra_compile_args=["-O2"]))
    return cythonize(
        exts,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
            "embedsignature": True,
            # Types come from the .pxd files; annotations in the .py are for type checkers.
            "annotation_typing": False,
        },
        annotate=os.environ.get("NEXUSLOOP_ANNOTATE") == "1",
        nthreads=os.cpu_count() or 1,
    )


class _ParallelBuildExt(build_ext):
    """Compile the extensions on every core (``pip install`` gives no ``-j``): about half the
    install time on this project's two-core CI machines."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1


setup(ext_modules=_extensions(), cmdclass={"build_ext": _ParallelBuildExt})

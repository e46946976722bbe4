"""``python -m nexusloop`` (and the ``nexusloop`` console script): ``run``, ``bench``, ``info``.

``run`` executes an unmodified program the way ``python script.py`` / ``python -m module``
would, with one difference: nexusloop's policy is installed first, so every loop the program
makes without naming one (``asyncio.run``, ``asyncio.Runner()`` without ``loop_factory``,
``asyncio.new_event_loop``, ``asyncio.get_event_loop``) is a nexusloop loop with the options
given as flags. The program sees the ``sys.argv``, ``sys.path[0]`` and ``__main__`` it would
see under ``python``; its exit status is the one it would have (the ``SystemExit`` code, 1 with
a traceback for an uncaught exception, death by SIGINT for an uncaught ``KeyboardInterrupt``).

The option flags are generated from the fields of :class:`nexusloop.LoopOptions` (``int`` and
``bool`` fields; ``world`` is an object and has no flag) and validated by it, so a new option
gets its flag, and a bad value gets the same error as in Python code.

``bench`` is the bundled benchmark runner (:mod:`nexusloop._bench._runner`); ``info`` reports
the version, the platform, whether the compiled core is in use (and why not), the options'
defaults and the optional packages installed.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import platform
import runpy
import sys
import typing
import warnings
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import nexusloop
from nexusloop._options import LoopOptions

__all__ = ["main"]

#: Optional packages ``info`` reports: distribution name -> what nexusloop does with it.
EXTRAS = {
    "uvloop": "bench compares with it",
    "rloop": "bench compares with it",
    "matplotlib": "bench --plot (pip install 'nexusloop[plot]')",
    "pytest": "the test suite",
    "pytest-asyncio": "async tests on nexusloop",
    "anyio": "anyio programs on nexusloop (backend asyncio, loop_factory)",
    "Cython": "building the compiled core from source",
}


def _option_fields() -> list[tuple[dataclasses.Field[Any], type]]:
    """The LoopOptions fields that have a command-line flag, with their types."""
    hints = typing.get_type_hints(LoopOptions)
    flags = {int: int, bool: bool, int | None: int}  # an optional int: the flag gives one
    return [(f, flags[hints[f.name]]) for f in dataclasses.fields(LoopOptions)
            if hints[f.name] in flags]


def _add_option_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("loop options (nexusloop.LoopOptions)")
    for field, kind in _option_fields():
        flag = "--" + field.name.replace("_", "-")
        doc = field.metadata.get("doc", "").replace("%", "%%")
        if kind is bool:
            group.add_argument(flag, dest=field.name, action="store_true", default=None,
                               help=f"{doc} (default: off)")
        else:
            group.add_argument(flag, dest=field.name, type=int, default=None, metavar="N",
                               help=f"{doc} (default: {field.default})")


def _options_from(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> LoopOptions:
    given = {field.name: getattr(ns, field.name) for field, _ in _option_fields()
             if getattr(ns, field.name) is not None}
    try:
        return LoopOptions.from_kwargs(**given)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))


# -- run ---------------------------------------------------------------------------------------


def _install(options: LoopOptions) -> None:
    if sys.version_info >= (3, 14):  # policies are deprecated there; the CLI is not the user
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            nexusloop.install(options)
    else:
        nexusloop.install(options)


def _is_zip(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


def _run_file(path: str) -> None:
    """Run the script at (absolute) ``path`` as ``python path`` does: a fresh ``__main__``
    whose ``__file__`` and code filename are the absolute path (runpy would keep the path as
    typed and set ``sys.argv[0]`` to it)."""
    import builtins
    import types

    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    main.__cached__ = None  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    with open(path, "rb") as f:  # bytes: compile() honours a coding declaration
        code = compile(f.read(), path, "exec", dont_inherit=True)
    exec(code, main.__dict__)


def _program_traceback(tb: TracebackType | None, skip: set[str]) -> TracebackType | None:
    """``tb`` without its leading frames in this module and runpy: what ``python`` would show."""
    while tb is not None and tb.tb_frame.f_code.co_filename in skip:
        tb = tb.tb_next
    return tb


def _run(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    options = _options_from(ns, parser)
    if ns.module:
        target, args = ns.module[0], ns.module[1:]
    elif ns.program:
        target, args = ns.program[0], ns.program[1:]
        if not os.path.exists(target):
            parser.error(f"can't open file {os.path.abspath(target)!r}: no such file")
    else:
        parser.error("give a script (run script.py [args]) or a module (run -m module [args])")
    if ns.stats_png:
        try:
            import matplotlib  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
        except ImportError:
            parser.error("--stats-png needs matplotlib, which is not installed: "
                         "pip install 'nexusloop[plot]' (or pip install matplotlib)")
    _install(options)
    made = _record_loops() if ns.stats or ns.stats_png else None
    if ns.module:
        # As `python -m`: the working directory first on the path; argv[0] becomes the module's
        # file (runpy sets it).
        sys.path[0] = os.getcwd()
        sys.argv = [target, *args]
        run: Any = lambda: runpy.run_module(target, run_name="__main__", alter_sys=True)  # noqa: E731
    elif os.path.isdir(target) or not target.endswith((".py", ".pyw")) and _is_zip(target):
        # A directory or zip file with a __main__.py: runpy knows how python runs those.
        sys.argv = [target, *args]
        run = lambda: runpy.run_path(target, run_name="__main__")  # noqa: E731
    else:
        path = os.path.abspath(target)
        sys.path[0] = os.path.dirname(path)
        sys.argv = [target, *args]
        run = lambda: _run_file(path)  # noqa: E731
    try:
        run()
    except (SystemExit, KeyboardInterrupt):
        raise  # the program's exit code; KeyboardInterrupt: Python's own handling (SIGINT exit)
    except BaseException as exc:  # noqa: BLE001 - reported as python would, exit status 1
        skip = {_run.__code__.co_filename, runpy.__file__, "<frozen runpy>"}
        tb = _program_traceback(exc.__traceback__, skip)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)  # the hook prints __traceback__
        return 1
    finally:
        if made is not None:
            _report_stats(made, ns.stats, ns.stats_png)
    return 0


def _record_loops() -> list[Any]:
    """Keep every loop the installed policy makes from now on (for ``--stats``)."""
    policy = asyncio.get_event_loop_policy()
    made: list[Any] = []
    new_event_loop = policy.new_event_loop

    def recording() -> Any:
        loop = new_event_loop()
        made.append(loop)
        return loop

    policy.new_event_loop = recording  # type: ignore[method-assign]
    return made


def _report_stats(loops: list[Any], text: bool, png: str | None) -> None:
    """``--stats``: each loop's statistics on stderr; ``--stats-png``: their histograms as
    PNG files (``path``, or ``name-2.png``... for the second and later loops)."""
    for i, loop in enumerate(loops, 1):
        stats = loop.stats()
        if text:
            print(f"nexusloop: statistics of loop {i} of {len(loops)}", file=sys.stderr)
            print(stats.report(), file=sys.stderr)
        if png:
            from nexusloop.latency import plot_stats

            root, ext = os.path.splitext(png)
            path = png if i == 1 else f"{root}-{i}{ext or '.png'}"
            plot_stats(stats, path, title=f"nexusloop: loop {i} of {len(loops)}")
            print(f"nexusloop: wrote {path}", file=sys.stderr)


# -- info --------------------------------------------------------------------------------------


def _info_data() -> dict[str, Any]:
    from nexusloop._compiled import core_status

    status = core_status()
    extras: dict[str, str | None] = {}
    for dist in EXTRAS:
        try:
            extras[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            module = dist.replace("-", "_").lower()
            found = importlib.util.find_spec(module) is not None
            extras[dist] = "installed (version unknown)" if found else None
    return {
        "nexusloop": nexusloop.__version__,
        "location": os.path.dirname(os.path.abspath(nexusloop.__file__)),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "compiled": status.compiled,
        "compiled_reason": status.reason,
        "core_files": status.files,
        "no_extensions_env": os.environ.get("NEXUSLOOP_NO_EXTENSIONS"),
        "options": {f.name: f.default for f in dataclasses.fields(LoopOptions)},
        "extras": extras,
    }


def _info(ns: argparse.Namespace) -> int:
    data = _info_data()
    if ns.json:
        print(json.dumps(data, indent=1, default=repr))
        return 0
    print(f"nexusloop {data['nexusloop']}  ({data['location']})")
    print(f"Python    {data['python']}  ({data['executable']})")
    print(f"Platform  {data['platform']}")
    if data["compiled"]:
        print("Compiled  yes: the loop core runs as C extensions")
    else:
        print(f"Compiled  NO: pure Python (several times slower): {data['compiled_reason']}")
    for name, path in data["core_files"].items():
        print(f"          {name}: {path}")
    print("Loop options (defaults; see help(nexusloop.LoopOptions)):")
    width = max(len(name) for name in data["options"])
    for field in dataclasses.fields(LoopOptions):
        print(f"  {field.name:<{width}} = {field.default!r:<6} {field.metadata.get('doc', '')}")
    print("Optional packages:")
    width = max(len(name) for name in EXTRAS)
    for dist, use in EXTRAS.items():
        version = data["extras"][dist]
        print(f"  {dist:<{width}}  {version or 'not installed':<14} {use}")
    return 0


# -- the parser --------------------------------------------------------------------------------


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(
        prog="python -m nexusloop",
        description="nexusloop: run a program on nexusloop, compare loops, show the setup.",
        epilog="Examples: python -m nexusloop run app.py --port 8000 | "
        "python -m nexusloop run --timers-first -m mypkg.server | "
        "python -m nexusloop bench --quick | python -m nexusloop info",
    )
    parser.add_argument("--version", action="version", version=f"nexusloop {nexusloop.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{run,bench,info}")

    run = sub.add_parser(
        "run",
        help="run a script or module with asyncio on nexusloop",
        description="Run `script.py [args]` or `-m module [args]` as python would, with every "
        "loop made by asyncio.run / asyncio.Runner / new_event_loop / get_event_loop a nexusloop "
        "loop. Loop options go before the script or -m.",
        usage="%(prog)s [loop options] (script.py | -m module) [args ...]",
    )
    _add_option_flags(run)
    stats = run.add_argument_group("statistics (loop.stats(), docs/latency.md)")
    stats.add_argument("--stats", action="store_true",
                       help="print each loop's statistics to stderr when the program ends")
    stats.add_argument("--stats-png", metavar="PATH",
                       help="write each loop's histograms as a PNG (needs the plot extra: "
                       "matplotlib)")
    run.add_argument("-m", dest="module", nargs=argparse.REMAINDER, metavar="module [args]",
                     help="run a library module as a script (as python -m)")
    run.add_argument("program", nargs=argparse.REMAINDER, metavar="script.py [args]",
                     help="the script and its arguments")

    sub.add_parser(
        "bench",
        help="compare nexusloop with the installed loops (bench --help for its flags)",
        add_help=False,
    )

    info = sub.add_parser("info", help="version, platform, compiled or not, option defaults, "
                          "optional packages")
    info.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser, run


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m nexusloop`` and of the ``nexusloop`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "bench":
        # The runner owns its flags (and its --help): hand everything after "bench" to it.
        from nexusloop._bench._runner import cli_main

        return cli_main(args[1:])
    parser, run_parser = _parser()
    ns = parser.parse_args(args)
    if ns.command == "run":
        return _run(ns, run_parser)
    if ns.command == "info":
        return _info(ns)
    parser.print_help()
    return 2

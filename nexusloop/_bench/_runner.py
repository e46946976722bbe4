#!/usr/bin/env python3
"""The loop benchmark runner, shipped in the package (``python -m nexusloop bench``).

``benchmarks/run.py`` in a checkout is a thin wrapper around :func:`main` (same flags and output
as before the move); the package carries the runner and the workloads so that the benchmarks run
after a plain ``pip install .``, where ``benchmarks/`` is not installed.

Loop suite (default: the core workloads and the network ones)::

    python benchmarks/run.py [--loops asyncio,uvloop,nexusloop,nexusloop-pure]
                             [--suite all|core|net]
                             [--workloads call_soon_chain,timers_pending_*,...]
                             [--repeat 3] [--quick] [--json out.json] [--markdown]
                             [--inner 2] [--clock wall|cpu] [--strict] [--list]
                             [--plot out.png]

Every (workload, loop, repetition) runs in a fresh subprocess (this module with ``--child``)
that prints one JSON line; the parent takes the median of the repetitions and prints ops/s and
the ratio to stock asyncio measured in the same run. The child imports the very nexusloop the
parent imported (its directory goes first on the child's ``sys.path``), so a checkout measures
itself and an install measures the install. ``--markdown`` prints the tables with a header
block (command, date, machine, versions) ready for ``docs/benchmarks.md``.

``python -m nexusloop bench`` (:func:`cli_main`) is the same runner with a user's defaults: the
installed loops only (asyncio, uvloop and rloop when importable, nexusloop), ``--quick`` a
selection of workloads at small sizes, one repetition (under 30 s on a 2-core machine), and a
progress bar on a terminal.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import fnmatch
import importlib
import importlib.util
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
import traceback
from typing import Any

import nexusloop
from nexusloop._bench import _workloads as W

#: The directory holding the ``nexusloop`` package measured (a checkout or site-packages).
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(nexusloop.__file__)))
#: How a child starts: this runner, importing nexusloop from PKG_ROOT. ``-P``: the child's
#: working directory is not on its path (a stray asyncio.py there cannot shadow anything).
CHILD_BOOT = (f"import sys; sys.path.insert(0, {PKG_ROOT!r}); "
              "from nexusloop._bench._runner import main; sys.exit(main(sys.argv[1:]))")

#: The loops measured by default, in column order. Besides stock asyncio (the baseline) and
#: uvloop: ``nexusloop`` (compiled, default options), ``nexusloop-pure`` (the same code as pure
#: Python, NEXUSLOOP_NO_EXTENSIONS=1) and ``nexusloop-lowlat`` (compiled, the latency options
#: ``timers_first=True, tasks_per_cycle=32``); EXTRA_LOOPS join when importable.
CORE_LOOPS = ["asyncio", "uvloop", "nexusloop", "nexusloop-pure", "nexusloop-lowlat"]
#: nexusloop variants measured only when asked for (--loops): GC control (issue #10).
OPTIONAL_LOOPS = ["nexusloop-gc", "nexusloop-lowlat-gc", "nexusloop-timers-first",
                  "nexusloop-tpc32", "nexusloop-busy", "nexusloop-pinned", "nexusloop-slack",
                  "nexusloop-latency", "nexusloop-latency-busy-pinned"]
#: ``python -m nexusloop bench``: nexusloop against the installed competitors only.
CLI_LOOPS = ["asyncio", "uvloop", "rloop", "nexusloop"]
#: ``python -m nexusloop bench --quick``: one or two workloads per kind of work (callbacks,
#: timers, tasks, network, latency), chosen so that the whole run stays under 30 s on 2 cores.
QUICK_WORKLOADS = ["call_soon_chain", "call_later_cancel", "timers_pending_100k", "sleep0",
                   "create_task", "future_pingpong", "tcp_echo_protocol", "tcp_echo_streams",
                   "timer_lateness"]
#: Runtime options per nexusloop variant (all compiled except -pure).
NEXUS_OPTIONS: dict[str, dict[str, Any]] = {
    "nexusloop": {},
    "nexusloop-pure": {},
    # The latency configuration: expired timers first, ticks bounded to 32 callbacks.
    "nexusloop-lowlat": {"timers_first": True, "tasks_per_cycle": 32},
    # ... and GC control (issue #10): not a default column.
    "nexusloop-lowlat-gc": {"timers_first": True, "tasks_per_cycle": 32, "gc_control": True},
    "nexusloop-gc": {"gc_control": True},
    # One setting each, for the measured effect of each (docs/latency.md); the CPU is a list
    # here (JSON), a set of CPU numbers in LoopOptions. CPU 1: the second of two.
    "nexusloop-timers-first": {"timers_first": True},
    "nexusloop-tpc32": {"tasks_per_cycle": 32},
    "nexusloop-busy": {"busy_poll": True},
    "nexusloop-pinned": {"cpu_affinity": [1]},
    "nexusloop-slack": {"timer_slack_ns": 1_000},
    "nexusloop-latency": {"profile": "latency"},
    "nexusloop-latency-busy-pinned": {"profile": "latency", "busy_poll": True,
                                      "cpu_affinity": [1]},
}
#: Other asyncio-compatible loops picked up automatically when importable: name -> (module, factory).
EXTRA_LOOPS = {
    "rloop": ("rloop", "new_event_loop"),
}
BASELINE = "asyncio"
#: Workloads whose one run is the measurement (no best-of-inner filtering).
SINGLE_SHOT = frozenset(W.LATENESS_WORKLOADS)
#: Their table titles, and what the rate row counts.
LATENESS_TITLES = {
    "timer_lateness": ("Lateness of a 1 ms periodic timer (call_at) while 200 tasks churn",
                       "churn steps/s"),
    "timer_lateness_gc": ("Lateness of a 1 ms periodic timer (call_at) while 200 tasks churn, "
                          "with a 300k-object heap and cyclic garbage", "churn steps/s"),
    "timer_lateness_gc_paced": ("Lateness of a 1 ms periodic timer (call_at) while 200 tasks "
                                f"churn at {W.LATENESS_PACE // 1000}k steps/s at most, with a "
                                "300k-object heap and cyclic garbage", "churn steps/s"),
    "idle_timer_lateness": ("Lateness of a 1 ms periodic timer (call_at) on an otherwise idle "
                            "loop (it parks between firings)", "firings/s"),
    "io_wakeup": ("Delay from a message written by another process (pipe, every ~1 ms) to its "
                  "reader callback on an otherwise idle loop", "messages/s"),
}
#: Default number of runs inside each child, each on a fresh loop; the fastest counts.
DEFAULT_INNER = 2
PURE_ENV = "NEXUSLOOP_NO_EXTENSIONS"

#: Cells whose repetitions spread more than this (max-min over median) get a dagger.
NOISY_SPREAD = 0.15
#: The timer-cost target: ns/op at 1M pending within this factor of 1k pending.
FLAT_TARGET = 1.5


# =============================================================================================
# Child side: build a loop, run one workload (--inner times, fresh loops), print one JSON line.


def _nexusloop_core_status() -> dict[str, Any]:
    """Which ``nexusloop._core`` modules are loaded, and whether each is compiled."""
    core_pkg = sys.modules.get("nexusloop._core")
    is_compiled = getattr(core_pkg, "is_compiled", None)
    core_dir = os.path.dirname(getattr(core_pkg, "__file__", "") or "")
    modules = {}
    for name, mod in sorted(sys.modules.items()):
        if mod is None or not name.startswith("nexusloop._core."):
            continue
        if is_compiled is not None:
            compiled = bool(is_compiled(mod))
        else:
            compiled = not (getattr(mod, "__file__", "") or "").endswith(".py")
        # setup.py compiles exactly the modules with a .pxd beside them; the others (shims)
        # are plain Python by design.
        short = name[len("nexusloop._core."):]
        meant = os.path.exists(os.path.join(core_dir, short + ".pxd"))
        entry: dict[str, Any] = {"file": getattr(mod, "__file__", None), "compiled": compiled,
                                 "meant_compiled": meant}
        installed = any(part in ("site-packages", "dist-packages")
                        for part in os.path.normpath(core_dir).split(os.sep))
        if compiled and meant and entry["file"] and not installed:
            # In a checkout, an extension older than its source measures yesterday's code (an
            # installed package's file times say nothing about that).
            with contextlib.suppress(OSError):
                built = os.path.getmtime(entry["file"])
                src = max(os.path.getmtime(os.path.join(core_dir, short + ext))
                          for ext in (".py", ".pxd"))
                entry["stale"] = src > built
        modules[name] = entry
    meant_mods = [m for m in modules.values() if m["meant_compiled"]]
    builds = []
    for m in modules.values():
        if m["compiled"] and m["file"]:
            with contextlib.suppress(OSError):
                builds.append(os.path.getmtime(m["file"]))
    return {
        # identifies the build measured: the tree is shared, a rebuild mid-run mixes builds
        "build_mtime": max(builds) if builds else None,
        "stale": sorted(n for n, m in modules.items() if m.get("stale")),
        "core_modules": modules,
        "compiled": bool(meant_mods) and all(m["compiled"] for m in meant_mods),
        "any_compiled": any(m["compiled"] for m in modules.values()),
    }


def _make_loop(name: str) -> tuple[Any, dict[str, Any]]:
    """Return (loop, info) for a loop name; raises ModuleNotFoundError/LookupError if absent."""
    import asyncio

    info: dict[str, Any] = {}
    if name == "asyncio":
        loop = asyncio.new_event_loop()
        info["version"] = platform.python_version()
    elif name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
        info["version"] = getattr(uvloop, "__version__", "?")
    elif name in NEXUS_OPTIONS:
        factory = getattr(nexusloop, "new_event_loop", None)
        if factory is None:
            raise LookupError("nexusloop.new_event_loop does not exist yet")
        loop = factory(**NEXUS_OPTIONS[name])
        info["version"] = getattr(nexusloop, "__version__", "?")
        info["options"] = NEXUS_OPTIONS[name]
        info["file"] = getattr(nexusloop, "__file__", None)
        info.update(_nexusloop_core_status())
        info["pure_requested"] = os.environ.get(PURE_ENV, "") not in ("", "0")
    elif name in EXTRA_LOOPS:
        modname, factory_name = EXTRA_LOOPS[name]
        mod = importlib.import_module(modname)
        loop = getattr(mod, factory_name)()
        info["version"] = getattr(mod, "__version__", "?")
    else:
        raise LookupError(f"unknown loop {name!r}")
    info["loop_class"] = f"{type(loop).__module__}.{type(loop).__qualname__}"
    return loop, info


def _close_loop(loop: Any) -> None:
    import asyncio

    try:
        if not loop.is_closed():
            loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def child_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="run.py --child")
    p.add_argument("--child", action="store_true")
    p.add_argument("--loop", required=True)
    p.add_argument("--workload")
    p.add_argument("--size", type=float)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--probe", action="store_true", help="only report availability and versions")
    p.add_argument("--inner", type=int, default=1)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    a = p.parse_args(argv)
    out: dict[str, Any] = {"loop": a.loop, "workload": a.workload}

    def emit(code: int) -> int:
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        return code

    import asyncio

    try:
        loop, info = _make_loop(a.loop)
    except ModuleNotFoundError as exc:
        top = EXTRA_LOOPS.get(a.loop, (a.loop.split("-")[0],))[0]
        if exc.name == top:  # the loop's own package is absent: not an error
            out.update(status="unavailable", reason="not installed")
            return emit(0)
        out.update(status="error", error=f"{type(exc).__name__}: {exc}",
                   traceback=traceback.format_exc())
        return emit(1)
    except LookupError as exc:
        out.update(status="unavailable", reason=str(exc))
        return emit(0)
    except Exception as exc:  # noqa: BLE001 - a loop that fails to construct is an error
        out.update(status="error", error=f"{type(exc).__name__}: {exc}",
                   traceback=traceback.format_exc())
        return emit(1)
    out["info"] = info
    if a.probe:
        with contextlib.suppress(Exception):
            _close_loop(loop)
        out["status"] = "ok"
        return emit(0)
    try:
        fn = W.WORKLOADS[a.workload]
        size = a.size if a.size is not None else W.size_for(a.workload, a.quick)
        if a.workload not in W.LATENESS_WORKLOADS:
            size = int(size)
        inner = 1 if a.workload in SINGLE_SHOT else max(1, a.inner)
        best: dict[str, Any] | None = None
        walls, cpus = [], []
        for i in range(inner):
            if i:
                loop, _ = _make_loop(a.loop)
            try:
                asyncio.set_event_loop(loop)
                res = fn(loop, size)
                res["cpu_seconds"] = W.last_cpu_seconds
            finally:
                _close_loop(loop)
            walls.append(res["seconds"])
            cpus.append(res["cpu_seconds"])
            res["timed_seconds"] = res["cpu_seconds"] if a.clock == "cpu" else res["seconds"]
            if best is None or res["timed_seconds"] < best["timed_seconds"]:
                best = res
        assert best is not None
        out.update(best)
        out["size"] = size
        out["inner_seconds"] = walls
        out["inner_cpu_seconds"] = cpus
        out["clock"] = a.clock
        timed = best["timed_seconds"]
        out["rate"] = best["ops"] / timed if timed > 0 else 0.0
        out["status"] = "ok"
        # Modules of nexusloop._core may be imported lazily: look again after the run.
        if a.loop.startswith("nexusloop"):
            info.update(_nexusloop_core_status())
        return emit(0)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as this run's result
        out.update(status="error", error=f"{type(exc).__name__}: {exc}",
                   traceback=traceback.format_exc())
        with contextlib.suppress(Exception):
            if not loop.is_closed():
                _close_loop(loop)
        return emit(1)


# =============================================================================================
# Parent side


def _child_env(loop_name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(PURE_ENV, None)
    if loop_name == "nexusloop-pure":
        env[PURE_ENV] = "1"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def _spawn(loop_name: str, extra: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-P", "-c", CHILD_BOOT, "--child", "--loop", loop_name] + extra
    try:
        proc = subprocess.run(cmd, env=_child_env(loop_name), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "error", "error": f"timeout after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        code = proc.returncode
        why = f"child exited {code}"
        if code < 0:
            with contextlib.suppress(ValueError):
                why = f"child killed by {signal.Signals(-code).name}"
        return {"status": "error", "error": f"{why} without a result",
                "stderr": "\n".join(tail)}
    try:
        res = json.loads(lines[-1])
    except ValueError as exc:
        return {"status": "error", "error": f"bad child output: {exc}"}
    if proc.stderr.strip():
        res["stderr"] = proc.stderr.strip()[-2000:]
    return res  # type: ignore[no-any-return]


def _installed_extras() -> list[str]:
    return [name for name, (mod, _) in EXTRA_LOOPS.items()
            if importlib.util.find_spec(mod) is not None]


def _select_workloads(spec: str | None, all_names: list[str]) -> list[str]:
    if not spec:
        return list(all_names)
    chosen: list[str] = []
    for pat in (s.strip() for s in spec.split(",")):
        if not pat:
            continue
        hits = [n for n in all_names if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            hits = [n for n in all_names if n.startswith(pat)]
        if not hits:
            raise SystemExit(f"unknown workload {pat!r}; known: {', '.join(all_names)}")
        chosen.extend(h for h in hits if h not in chosen)
    return [n for n in all_names if n in chosen]  # canonical order


def _fmt_rate(r: float | None) -> str:
    if r is None:
        return "-"
    for div, suf in ((1e6, "M"), (1e3, "k")):
        if r >= div:
            return f"{r / div:.2f}{suf}"
    return f"{r:.0f}"


def _fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "-"
    if ns >= 10000:
        return f"{ns / 1000:.1f} us"
    return f"{ns:.0f} ns"


def _fmt_us(us: float | None) -> str:
    if us is None:
        return "-"
    if abs(us) >= 10000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.0f} us"


def _machine_info() -> dict[str, Any]:
    try:
        uname = subprocess.run(["uname", "-srm"], capture_output=True, text=True,
                               check=False).stdout.strip()
    except OSError:
        uname = " ".join(platform.uname()[i] for i in (0, 2, 4))
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or "?"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {"uname": uname, "cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable,
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "executable": sys.executable}


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PKG_ROOT,
                             capture_output=True, text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "nexusloop"], cwd=PKG_ROOT,
                               capture_output=True, text=True, check=False).stdout.strip()
        return rev + ("+dirty" if dirty else "") if rev else "?"
    except OSError:
        return "?"


class Progress:
    """Progress on stderr: a one-line bar redrawn in place (``bar``), or one line per step.

    Plain text, no dependency: ``\r`` and a line cleared with spaces. Messages (errors,
    notes) are printed above the bar, which is then drawn again.
    """

    WIDTH = 24

    def __init__(self, total: int, bar: bool, stream: Any = None) -> None:
        self.total = total
        self.bar = bar
        self.stream = stream or sys.stderr
        self.done = 0
        self.t0 = time.monotonic()
        self.label = ""
        self._drawn = 0

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self._drawn = 0

    def _draw(self) -> None:
        total = max(self.total, 1)
        filled = min(self.WIDTH, round(self.WIDTH * self.done / total))
        elapsed = time.monotonic() - self.t0
        eta = ""
        if self.done:
            eta = f", ~{elapsed / self.done * max(0, total - self.done):.0f} s left"
        line = (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{total} "
                f"{100 * self.done // total:3d}%  {elapsed:.0f} s{eta}  {self.label}")
        width = shutil.get_terminal_size((100, 20)).columns - 1
        line = line[:width]
        self._clear()
        self.stream.write(line)
        self.stream.flush()
        self._drawn = len(line)

    def start(self, label: str) -> None:
        """Step ``label`` begins (shown on the bar)."""
        self.label = label
        if self.bar:
            self._draw()

    def step(self, line: str | None = None) -> None:
        """A step ended; ``line`` is its one-line report in line mode."""
        self.done += 1
        if self.bar:
            self._draw()
        elif line is not None:
            print(f"[{self.done}/{self.total}] {line}", file=self.stream, flush=True)

    def message(self, text: str) -> None:
        """Print ``text`` on its own line(s), above the bar."""
        if self.bar:
            self._clear()
        print(text, file=self.stream, flush=True)
        if self.bar:
            self._draw()

    def close(self) -> None:
        if self.bar:
            self._clear()
            self.stream.flush()


class Summary:
    """Medians and ratios per (workload, loop)."""

    def __init__(self, workloads: list[str], loops: list[str], runs: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
        self.workloads = workloads
        self.loops = loops
        self.runs = runs
        self.cells: dict[tuple[str, str], dict[str, Any]] = {}
        for w in workloads:
            for lp in loops:
                self.cells[(w, lp)] = self._cell(runs.get((w, lp), []))
        for w in workloads:
            base = self.cells[(w, BASELINE)].get("rate") if BASELINE in loops else None
            for lp in loops:
                c = self.cells[(w, lp)]
                if base and c.get("rate"):
                    c["ratio"] = c["rate"] / base
                    # Same-repetition ratios (loops of one repetition run back to back): their
                    # range shows how far the median ratio can be trusted on a noisy machine.
                    b_by_rep = {r.get("rep"): r["rate"] for r in runs.get((w, BASELINE), [])
                                if r.get("status") == "ok"}
                    rr = [r["rate"] / b_by_rep[r.get("rep")] for r in runs.get((w, lp), [])
                          if r.get("status") == "ok" and b_by_rep.get(r.get("rep"))]
                    if len(rr) > 1 and lp != BASELINE:
                        c["rep_ratios"] = rr
                        c["ratio_range"] = [min(rr), max(rr)]

    @staticmethod
    def _cell(reps: list[dict[str, Any]]) -> dict[str, Any]:
        ok = [r for r in reps if r.get("status") == "ok"]
        if not ok:
            errs = [r.get("error", r.get("reason", "?")) for r in reps]
            return {"status": "error" if reps else "missing", "errors": errs}
        rates = [r["rate"] for r in ok]
        med = statistics.median(rates)
        cell: dict[str, Any] = {
            "status": "ok", "rate": med, "rates": rates, "n": len(ok),
            "errors": [r.get("error", "?") for r in reps if r.get("status") != "ok"],
            "failed": len(reps) - len(ok), "unit": ok[0].get("unit"),
            "spread": (max(rates) - min(rates)) / med if med else 0.0,
        }
        left_open = [r["sockets_left_open"] for r in ok if r.get("sockets_left_open")]
        if left_open:
            cell["sockets_left_open"] = max(left_open)
        if "ns_per_op" in ok[0]:
            cell["ns_per_op"] = statistics.median(r["ns_per_op"] for r in ok)
        if "lateness_us" in ok[0]:
            cell["lateness_us"] = {
                k: statistics.median(r["lateness_us"][k] for r in ok)
                for k in ("p50", "p99", "max", "early_pct") if k in ok[0]["lateness_us"]
            }
            cell["lateness_clock"] = ok[0].get("lateness_clock")
            if "rss_peak_mib" in ok[0]:
                cell["rss_peak_mib"] = max(r["rss_peak_mib"] for r in ok)
        return cell


def _table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(headers) + " |",
               "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i])
                     for i, h in enumerate(headers))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                             for i, c in enumerate(r)))
    return "\n".join(out)


def _mark(cell: dict[str, Any]) -> str:
    """Flag a cell whose median rests on fewer runs than asked because some failed."""
    return " ‡" if cell.get("failed") else ""


def _render(summary: Summary, labels: dict[str, str], markdown: bool) -> str:
    loops = summary.loops
    heads = [labels[lp] for lp in loops]
    parts: list[str] = []
    noisy = False

    def err_cell(c: dict[str, Any]) -> str:
        return "error" if c["status"] == "error" else "-"

    # 1. throughput
    thr = [w for w in summary.workloads if w not in SINGLE_SHOT]
    if thr:
        rows = []
        for w in thr:
            unit = next((summary.cells[(w, lp)].get("unit") for lp in loops
                         if summary.cells[(w, lp)].get("unit")), "")
            row = [w if not markdown else f"`{w}`", unit or ""]
            for lp in loops:
                c = summary.cells[(w, lp)]
                if c["status"] != "ok":
                    row.append(err_cell(c))
                    continue
                s = f"{_fmt_rate(c['rate'])}/s"
                if "ratio" in c:
                    s += f" ({c['ratio']:.2f}x" if not markdown else f" · **{c['ratio']:.2f}x**"
                    if "ratio_range" in c:
                        lo, hi = c["ratio_range"]
                        s += f" ({lo:.1f}–{hi:.1f})" if markdown else f" {lo:.1f}-{hi:.1f}"
                    s += "" if markdown else ")"
                if c["spread"] > NOISY_SPREAD:
                    s += " †"
                    noisy = True
                row.append(s + _mark(c))
            rows.append(row)
        title = "Throughput: median ops/s (ratio to asyncio, same run)"
        parts.append((f"### {title}\n\n" if markdown else f"{title}\n")
                     + _table(["workload", "op"] + heads, rows, markdown))

    # 2. timer cost vs pending
    tp = [w for w in summary.workloads if w.startswith("timers_pending_")]
    if tp:
        rows = []
        for w in tp:
            row = [w.replace("timers_pending_", "") + " pending"]
            for lp in loops:
                c = summary.cells[(w, lp)]
                row.append(_fmt_ns(c.get("ns_per_op")) + _mark(c) if c["status"] == "ok"
                           else err_cell(c))
            rows.append(row)
        if "timers_pending_1k" in tp and "timers_pending_1m" in tp:
            row = ["1m / 1k"]
            for lp in loops:
                a = summary.cells[("timers_pending_1k", lp)].get("ns_per_op")
                b = summary.cells[("timers_pending_1m", lp)].get("ns_per_op")
                if a and b:
                    ok = "ok" if b / a <= FLAT_TARGET else "NOT flat"
                    row.append(f"{b / a:.2f}x ({ok})")
                else:
                    row.append("-")
            rows.append(row)
        title = (f"Timer cost per op (schedule+cancel / schedule+fire) vs pending timers; "
                 f"target 1m/1k <= {FLAT_TARGET}x")
        parts.append((f"### {title}\n\n" if markdown else f"{title}\n")
                     + _table(["pending"] + heads, rows, markdown))

    # 3. lateness
    for lw in [w for w in summary.workloads if w in SINGLE_SHOT]:
        rows = []
        for key, label in (("p50", "p50"), ("p99", "p99"), ("max", "max")):
            row = [f"lateness {label}"]
            for lp in loops:
                c = summary.cells[(lw, lp)]
                row.append(_fmt_us(c["lateness_us"][key]) + _mark(c) if c["status"] == "ok"
                           else err_cell(c))
            rows.append(row)
        row = ["early"]
        for lp in loops:
            c = summary.cells[(lw, lp)]
            early = c.get("lateness_us", {}).get("early_pct") if c["status"] == "ok" else None
            row.append("-" if early is None else f"{early:.1f}%")
        rows.append(row)
        row = ["peak RSS"]
        for lp in loops:
            c = summary.cells[(lw, lp)]
            rss = c.get("rss_peak_mib") if c["status"] == "ok" else None
            row.append("-" if rss is None else f"{rss:.0f} MiB")
        rows.append(row)
        title, rate_label = LATENESS_TITLES[lw]
        row = [rate_label]
        for lp in loops:
            c = summary.cells[(lw, lp)]
            if c["status"] == "ok":
                s = _fmt_rate(c["rate"])
                if "ratio" in c:
                    s += f" ({c['ratio']:.2f}x)"
                row.append(s + _mark(c))
            else:
                row.append(err_cell(c))
        rows.append(row)
        parts.append((f"### {title}\n\n" if markdown else f"{title}\n")
                     + _table(["metric"] + heads, rows, markdown))

    notes = []
    if any("ratio_range" in c for c in summary.cells.values()):
        notes.append("x-y next to a ratio: lowest and highest ratio to asyncio within one "
                     "repetition (loops of a repetition run back to back).")
    if noisy:
        notes.append(f"† repetitions spread more than {NOISY_SPREAD:.0%} (max-min over median).")
    errors = [(w, lp, c) for (w, lp), c in summary.cells.items() if c["status"] == "error"]
    for w, lp, c in errors:
        notes.append(f"error: {w} on {lp}: {'; '.join(str(e) for e in c['errors'][:2])}")
    for (w, lp), c in summary.cells.items():
        if c["status"] == "ok" and c["failed"]:
            notes.append(f"‡ {w} on {lp}: {c['failed']} of {c['failed'] + c['n']} runs failed "
                         f"(median of the {c['n']} others shown): {c['errors'][0]}")
    for lp in summary.loops:
        left = [f"{w} {summary.cells[(w, lp)]['sockets_left_open']}"
                for w in summary.workloads if summary.cells[(w, lp)].get("sockets_left_open")]
        if left:
            notes.append(f"{lp} left socket fds open after teardown although every transport "
                         f"reported connection_lost (the loop does not close them): "
                         + ", ".join(left))
    if notes:
        parts.append("\n".join(("- " + n) if markdown else n for n in notes))
    return "\n\n".join(parts)


def _header(cmdline: str, machine: dict[str, Any], infos: dict[str, dict[str, Any]],
            loops: list[str], unavailable: dict[str, str], repeat: int, quick: bool,
            started: datetime.datetime, inner: int = 1, clock: str = "wall",
            load: tuple[float | None, float | None] = (None, None)) -> str:
    lines = [
        f"- Command: `{cmdline}`",
        f"- Date (UTC): {started.strftime('%Y-%m-%d %H:%M')}",
        f"- Machine: {machine['uname']}, {machine['cpu']}, {machine['cores']} cores"
        + (f" ({machine['usable_cores']} usable)"
           if machine["usable_cores"] != machine["cores"] else ""),
        f"- Python: {machine['python']}",
    ]
    if load[0] is not None and load[1] is not None:
        lines.append(f"- Load average (1 min) at start / end: {load[0]:.1f} / {load[1]:.1f} "
                     f"(this run adds ~1; more means other jobs competed for the cores)")
    vers = []
    for lp in loops:
        info = infos.get(lp, {})
        if lp == "asyncio":
            continue
        v = info.get("version", "?")
        if lp.startswith("nexusloop"):
            v = f"{v} @ {_git_rev()}"
            v += ", compiled" if info.get("compiled") else ", pure Python"
        vers.append(f"{lp} {v}")
    for lp, why in unavailable.items():
        vers.append(f"{lp}: {why}")
    lines.append("- Versions: " + "; ".join(vers))
    best = (f" (each the fastest of {inner} runs on fresh loops inside that process, "
            f"except timer_lateness)" if inner > 1 else "")
    lines.append(f"- Method: each (workload, loop, repetition) in a fresh process; median of "
                 f"{repeat} repetitions{best}{'; --quick sizes, smoke test only' if quick else ''}"
                 f"; ratios against stock asyncio in the same run; "
                 + ("wall time (perf_counter)" if clock == "wall" else
                    "CPU time of the child (process_time)")
                 + " around run_forever/run_until_complete only.")
    return "\n".join(lines)


def parent_main(argv: list[str], prog: str = "benchmarks/run.py", cli: bool = False) -> int:
    """The parent side. ``cli``: the defaults of ``python -m nexusloop bench`` (see above)."""
    columns = ("Loops (columns): asyncio (stock, the baseline of every ratio); uvloop; rloop "
               "(when installed); nexusloop (compiled, default options); nexusloop-pure (the "
               f"same code as pure Python, {PURE_ENV}=1); nexusloop-lowlat (compiled, "
               "timers_first=True, tasks_per_cycle=32: the latency configuration).")
    if cli:
        description = ("Compare nexusloop with the event loops installed here (asyncio always; "
                       "uvloop and rloop when importable) on the bundled workloads, each "
                       "(workload, loop) in a fresh process. " + columns)
    else:
        description = ("Run the loop benchmark suite (or `run.py world ...` for the world "
                       "suite). " + columns)
    p = argparse.ArgumentParser(prog=prog, description=description)
    default_loops = (",".join(CLI_LOOPS) + " (those installed)" if cli else
                     "asyncio,uvloop,nexusloop,nexusloop-pure,nexusloop-lowlat plus any other "
                     "installed loop, e.g. rloop")
    p.add_argument("--loops", help=f"comma-separated loops (default: {default_loops}); known: "
                   + ", ".join(CORE_LOOPS + OPTIONAL_LOOPS + list(EXTRA_LOOPS)))
    p.add_argument("--suite", choices=["all", *W.SUITES], default="all",
                   help="which workloads (see --list): all (default), core (loop, timers, "
                   "tasks), net (network, loopback); --workloads then picks among them")
    p.add_argument("--workloads", help="comma-separated names or globs (default: all of the "
                   "suite): " + ", ".join(W.WORKLOADS))
    p.add_argument("--repeat", type=int, default=None,
                   help="repetitions per cell (median; default 3" + (", 1 with --quick)" if cli
                                                                     else ")"))
    if cli:
        p.add_argument("--quick", action="store_true",
                       help="a selection of workloads (" + ", ".join(QUICK_WORKLOADS) + ") at "
                       "~10x smaller sizes, one repetition: under 30 s on 2 cores")
    else:
        p.add_argument("--quick", action="store_true", help="~10x smaller sizes, for smoke tests")
    p.add_argument("--json", metavar="PATH",
                   help="write raw results and medians as JSON (- for stdout, then the table "
                   "goes to stderr)")
    p.add_argument("--plot", metavar="PNG",
                   help="draw the throughput ratios to asyncio as bars into this image (needs "
                   "matplotlib: pip install 'nexusloop[plot]')")
    p.add_argument("--progress", choices=("auto", "bar", "lines"), default="auto",
                   help="a one-line progress bar (default on a terminal, with --quick) or one "
                   "line per run with its result")
    p.add_argument("--markdown", action="store_true",
                   help="also print markdown tables with a header block for docs/benchmarks.md")
    p.add_argument("--inner", type=int, default=None,
                   help=f"runs inside each child on fresh loops, fastest counts (default "
                   f"{DEFAULT_INNER}, 1 with --quick; timer_lateness always 1)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="rates from wall time (perf_counter, default) or from the CPU time of the "
                   "child (process_time: steadier on a busy machine, blind to time spent idle)")
    p.add_argument("--timeout", type=float, default=300.0, help="per child, seconds")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if any run failed or nexusloop is not compiled")
    p.add_argument("--list", action="store_true", help="list workloads and loops, then exit")
    a = p.parse_args(argv)

    if a.list:
        for suite, names in W.SUITES.items():
            print(f"workloads ({suite}):", ", ".join(names))
        print("loops:", ", ".join(CORE_LOOPS + OPTIONAL_LOOPS + list(EXTRA_LOOPS)))
        return 0
    if a.repeat is None:
        a.repeat = 1 if (cli and a.quick) else 3
    if a.repeat < 1:
        p.error("--repeat must be >= 1")
    if a.plot:
        try:
            import matplotlib  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
        except ImportError:
            p.error("--plot needs matplotlib, which is not installed: "
                    "pip install 'nexusloop[plot]' (or pip install matplotlib)")
    bar = a.progress == "bar" or (a.progress == "auto" and sys.stderr.isatty()
                                  and (cli or a.quick))
    out = sys.stderr if a.json == "-" else sys.stdout

    inner = a.inner if a.inner is not None else (1 if a.quick else DEFAULT_INNER)
    if inner < 1:
        p.error("--inner must be >= 1")
    started = datetime.datetime.now(datetime.UTC)
    load_start = _loadavg()
    t_start = time.monotonic()
    cmdline = (prog if prog.startswith("python") else f"python {prog}") + (
        "" if not argv else " " + shlex.join(argv))
    known = CORE_LOOPS + OPTIONAL_LOOPS + list(EXTRA_LOOPS)
    if a.loops:
        loops = [s.strip() for s in a.loops.split(",") if s.strip()]
        for lp in loops:
            if lp not in known:
                p.error(f"unknown loop {lp!r}; known: {', '.join(known)}")
    elif cli:
        loops = [lp for lp in CLI_LOOPS if lp not in EXTRA_LOOPS or lp in _installed_extras()]
    else:
        loops = CORE_LOOPS + _installed_extras()
    if BASELINE not in loops:
        loops.insert(0, BASELINE)
        print(f"note: added {BASELINE} as the baseline for ratios", file=sys.stderr)
    pool = list(W.WORKLOADS) if a.suite == "all" else W.SUITES[a.suite]
    if cli and a.quick and not a.workloads and a.suite == "all":
        pool = list(QUICK_WORKLOADS)
    workloads = _select_workloads(a.workloads, pool)

    # Probe every loop once: availability, versions, compiled or not.
    infos: dict[str, dict[str, Any]] = {}
    unavailable: dict[str, str] = {}
    progress = Progress(len(loops) * (1 + len(workloads) * a.repeat), bar)
    for lp in list(loops):
        progress.start(f"starting {lp}")
        pr = _spawn(lp, ["--probe"], timeout=60)
        progress.step(None)
        if pr.get("status") == "ok":
            infos[lp] = pr.get("info", {})
        elif pr.get("status") == "unavailable":
            unavailable[lp] = pr.get("reason", "unavailable")
            loops.remove(lp)
        else:
            progress.message(f"error: loop {lp} fails to start: {pr.get('error')}\n"
                             f"{pr.get('traceback', '')}{pr.get('stderr', '')}")
            unavailable[lp] = f"fails to start ({pr.get('error')})"
            loops.remove(lp)
    if BASELINE not in loops:
        progress.close()
        print("error: stock asyncio does not run?", file=sys.stderr)
        return 2

    labels = {lp: lp for lp in loops}
    warnings: list[str] = []
    if "nexusloop" in loops and not infos["nexusloop"].get("compiled"):
        labels["nexusloop"] = "nexusloop (NOT COMPILED!)"
        pure = [m for m, d in infos["nexusloop"].get("core_modules", {}).items()
                if d.get("meant_compiled") and not d["compiled"]]
        warnings.append("!!! nexusloop is NOT COMPILED: the 'nexusloop' column measures pure "
                        "Python. Build with `pip install -e . --no-build-isolation` (or, "
                        "after `pip install .`, do not run `python -m nexusloop` from the "
                        "source checkout, whose uncompiled sources it imports: use the "
                        "`nexusloop` command). "
                        f"Pure modules: {', '.join(pure) or '(no nexusloop._core modules loaded)'}")
    if "nexusloop" in loops and infos["nexusloop"].get("stale"):
        warnings.append("!!! nexusloop extension(s) older than their source (stale build, "
                        "rebuild with `pip install -e . --no-build-isolation`): "
                        + ", ".join(infos["nexusloop"]["stale"]))
    if "nexusloop-pure" in loops and infos["nexusloop-pure"].get("any_compiled"):
        labels["nexusloop-pure"] = "nexusloop-pure (COMPILED?!)"
        warnings.append(f"!!! nexusloop-pure loaded compiled modules despite {PURE_ENV}=1")
    for wmsg in warnings:
        progress.message(wmsg)
    for lp, why in unavailable.items():
        progress.message(f"note: {lp}: {why}")

    # Interleave: for each workload and repetition, run every loop (rotating the order), so that
    # slow drifts of a shared machine hit all loops alike.
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    progress.total = progress.done + len(workloads) * a.repeat * len(loops)
    for w in workloads:
        for rep in range(a.repeat):
            order = loops[rep % len(loops):] + loops[:rep % len(loops)]
            for lp in order:
                progress.start(f"{w} on {lp}" + (f", rep {rep + 1}" if a.repeat > 1 else ""))
                extra = ["--workload", w, "--inner", str(inner), "--clock", a.clock]
                extra += ["--quick"] if a.quick else []
                res = _spawn(lp, extra, a.timeout)
                res.setdefault("loop", lp)
                res.setdefault("workload", w)
                res["rep"] = rep
                runs.setdefault((w, lp), []).append(res)
                if res.get("status") == "ok":
                    msg = f"{_fmt_rate(res['rate'])} {res.get('unit', 'ops')}/s"
                    if "lateness_us" in res:
                        lat = res["lateness_us"]
                        msg += f", lateness p50 {lat['p50']:.0f} us p99 {lat['p99']:.0f} us"
                    msg += f" ({res['seconds']:.2f} s)"
                    if res.get("sockets_left_open"):
                        msg += f", {res['sockets_left_open']} socket(s) left open"
                else:
                    msg = f"{res.get('status', 'error').upper()}: {res.get('error')}"
                    if res.get("traceback"):
                        msg += "\n" + res["traceback"]
                    if bar:  # errors stay visible above the bar
                        progress.message(f"{w} on {lp}: {msg}")
                progress.step(f"{w:<21} {lp:<16} rep {rep + 1}: {msg}")
    progress.close()

    load_end = _loadavg()
    for lp in loops:
        if not lp.startswith("nexusloop"):
            continue
        builds = {r.get("info", {}).get("build_mtime") for reps in
                  (v for (w, lq), v in runs.items() if lq == lp) for r in reps
                  if r.get("status") == "ok"}
        builds.discard(None)
        if len(builds) > 1:
            stamps = ", ".join(datetime.datetime.fromtimestamp(b).strftime("%H:%M:%S")
                               for b in sorted(builds))
            warnings.append(f"!!! {lp}: the extension was rebuilt during this run; runs measured "
                            f"{len(builds)} different builds (built at {stamps})")
            print(warnings[-1], file=sys.stderr)
    summary = Summary(workloads, loops, runs)
    elapsed = time.monotonic() - t_start
    machine = _machine_info()

    print(file=out)
    for wmsg in warnings:
        print(wmsg, file=out)
    print(_render(summary, labels, markdown=False), file=out)
    print(f"\n({len(workloads)} workloads x {len(loops)} loops x {a.repeat} reps "
          f"in {elapsed:.0f} s)", file=out)
    if a.markdown:
        print("\n" + "=" * 30 + " markdown " + "=" * 30 + "\n", file=out)
        print(_header(cmdline, machine, infos, loops, unavailable, a.repeat, a.quick, started,
                      inner, a.clock, (load_start, load_end)), file=out)
        print(file=out)
        for wmsg in warnings:
            print(f"> **{wmsg}**\n", file=out)
        print(_render(summary, labels, markdown=True), file=out)

    if a.json:
        data = {
            "command": cmdline,
            "date_utc": started.isoformat(timespec="seconds"),
            "machine": machine,
            "nexusloop_git": _git_rev(),
            "loops": loops,
            "unavailable": unavailable,
            "loop_info": infos,
            "workloads": workloads,
            "repeat": a.repeat,
            "inner": inner,
            "clock": a.clock,
            "quick": a.quick,
            "warnings": warnings,
            "elapsed_s": elapsed,
            "loadavg_start_end": [load_start, load_end],
            "results": {w: {lp: summary.cells[(w, lp)] for lp in loops} for w in workloads},
            "runs": [r for reps in runs.values() for r in reps],
        }
        if a.json == "-":
            json.dump(data, sys.stdout, indent=1)
            sys.stdout.write("\n")
        else:
            with open(a.json, "w") as f:
                json.dump(data, f, indent=1)
    if a.plot:
        from nexusloop._bench._plot import plot_ratios

        plot_ratios(summary, labels, a.plot, title=f"{cmdline} ({machine['python']})")
        print(f"plot written to {a.plot}", file=out)

    failed = any(c["status"] != "ok" for c in summary.cells.values())
    if a.strict and (failed or warnings):
        return 1
    return 0


def _term_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None, prog: str = "benchmarks/run.py", cli: bool = False) -> int:
    """Entry point: the child side with ``--child``, else the parent (see :func:`parent_main`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--child" in argv:
        return child_main(argv)
    # Ending the parent ends the running child too (subprocess.run kills it on KeyboardInterrupt).
    signal.signal(signal.SIGTERM, _term_as_interrupt)
    return parent_main(argv, prog=prog, cli=cli)


def cli_main(argv: list[str]) -> int:
    """``python -m nexusloop bench``."""
    return main(argv, prog="python -m nexusloop bench", cli=True)

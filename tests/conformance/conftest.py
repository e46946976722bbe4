"""Conformance summary: which loop each CPython test ran on, and the outcome per module.

At the end of a run that collected conformance tests, the terminal summary shows, per CPython
module, passed / xfailed / excluded(skipped) / failed counts and how many tests created a
``nexusloop.Loop`` versus only other loops. With ``NEXUSLOOP_CONFORMANCE_JSON=<path>`` the
per-test data is also written as JSON (``compare.py`` uses it to build the stock-vs-nexusloop
table in ``docs/compatibility.md``).
"""
from __future__ import annotations

import collections
import json
import os
from typing import Any

import pytest

_ITEMS: dict[str, dict[str, Any]] = {}
_OUTCOMES: dict[str, str] = {}
_REASONS: dict[str, str] = {}


def _unittest_id(item: pytest.Item) -> str | None:
    cls = getattr(item, "cls", None)
    if cls is None or not hasattr(cls, "stock_counterpart"):
        return None
    return f"{cls.__module__}.{cls.__qualname__}.{item.name}"


#: Per-test time limit for CPython's tests: their loopback waits time out after a few seconds and
#: the slowest test (the gc-heavy ``test_*_del_collect``) takes about 7 s on the 2-core development
#: machine. A hang in a transport then costs CI one minute per test, not the project-wide 300 s.
CONFORMANCE_TIMEOUT = 60


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        test_id = _unittest_id(item)
        if test_id is None:
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CONFORMANCE_TIMEOUT))
        cls = item.cls  # type: ignore[attr-defined]
        stock = cls.stock_counterpart
        _ITEMS[item.nodeid] = {
            "id": test_id,
            "harness_module": cls.__module__.rsplit(".", 1)[-1],
            "cpython_module": stock.rsplit(".", 1)[0],
            "stock_class": stock,
            "method": item.name,
        }


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _ITEMS:
        return
    previous = _OUTCOMES.get(report.nodeid)
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
        if previous != "failed":
            _OUTCOMES[report.nodeid] = outcome
        return
    if previous in ("failed", "error"):
        return
    if hasattr(report, "wasxfail"):
        _OUTCOMES[report.nodeid] = "xfailed" if report.skipped else "xpassed"
        _REASONS[report.nodeid] = report.wasxfail
    elif report.skipped:
        _OUTCOMES[report.nodeid] = "skipped"
        longrepr = report.longrepr
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            _REASONS[report.nodeid] = str(longrepr[2]).removeprefix("Skipped: ")
    elif report.when == "call":
        _OUTCOMES[report.nodeid] = "passed"


def _rows() -> list[dict[str, Any]]:
    from ._harness import RECORDS  # imported late: nexusloop is only needed if tests ran

    rows = []
    for nodeid, info in _ITEMS.items():
        record = RECORDS.get(info["id"])
        row = dict(info)
        row["nodeid"] = nodeid
        row["outcome"] = _OUTCOMES.get(nodeid, "not run")
        row["reason"] = _REASONS.get(nodeid, "")
        row["nexus_loops_created"] = record.nexus_created if record else 0
        row["nexus_loops_ran"] = record.nexus_ran if record else 0
        row["other_loops_created"] = dict(record.other_created) if record else {}
        rows.append(row)
    return rows


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _OUTCOMES:  # nothing ran (e.g. --collect-only, or only other tests selected)
        return
    rows = _rows()
    from ._harness import MODE

    per_module: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for row in rows:
        counter = per_module[row["cpython_module"].rsplit(".", 1)[-1]]
        counter[row["outcome"]] += 1
        if row["outcome"] in ("passed", "failed", "xfailed", "xpassed", "error"):
            if row["nexus_loops_created"]:
                counter["on_nexusloop"] += 1
            elif row["other_loops_created"]:
                counter["on_other_loop"] += 1
            else:
                counter["no_loop"] += 1
    write = terminalreporter.write_line
    label = MODE if MODE == "stock loop" else f"{MODE} core"
    terminalreporter.section(f"nexusloop conformance ({label})")
    header = ("module", "passed", "xfailed", "skipped", "failed", "on nexusloop", "other loop",
              "no loop")
    write("{:<18}{:>8}{:>9}{:>9}{:>8}{:>14}{:>12}{:>9}".format(*header))
    total: collections.Counter[str] = collections.Counter()
    for module in sorted(per_module):
        c = per_module[module]
        total.update(c)
        write(
            f"{module:<18}{c['passed']:>8}{c['xfailed']:>9}{c['skipped']:>9}"
            f"{c['failed'] + c['error'] + c['xpassed']:>8}"
            f"{c['on_nexusloop']:>14}{c['on_other_loop']:>12}{c['no_loop']:>9}"
        )
    c = total
    write(
        f"{'TOTAL':<18}{c['passed']:>8}{c['xfailed']:>9}{c['skipped']:>9}"
        f"{c['failed'] + c['error'] + c['xpassed']:>8}"
        f"{c['on_nexusloop']:>14}{c['on_other_loop']:>12}{c['no_loop']:>9}"
    )
    path = os.environ.get("NEXUSLOOP_CONFORMANCE_JSON")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"mode": MODE, "tests": rows}, fh, indent=1, sort_keys=True)
        write(f"per-test conformance data written to {path}")

"""``bench --plot``: the throughput ratios to stock asyncio as grouped bars (matplotlib).

matplotlib is the optional extra ``plot`` (``pip install 'nexusloop[plot]'``); the runner checks
for it before measuring anything, so a missing extra fails in a second, not after the run.
"""
from __future__ import annotations

from typing import Any

__all__ = ["plot_ratios"]


def plot_ratios(summary: Any, labels: dict[str, str], path: str, title: str = "") -> None:
    """Write a bar chart of ``summary``'s ratios (loop vs asyncio, per workload) to ``path``."""
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    workloads = [w for w in summary.workloads
                 if any("ratio" in summary.cells[(w, lp)] for lp in summary.loops)]
    loops = list(summary.loops)
    width = 0.8 / max(1, len(loops))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(workloads) + 2), 4.5))
    for i, lp in enumerate(loops):
        xs = [k + (i - (len(loops) - 1) / 2) * width for k in range(len(workloads))]
        ys = [summary.cells[(w, lp)].get("ratio", 0.0) for w in workloads]
        bars = ax.bar(xs, ys, width, label=labels.get(lp, lp))
        ax.bar_label(bars, labels=[f"{y:.1f}" if y else "" for y in ys], fontsize=6, padding=1)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(workloads, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("throughput / asyncio's (higher is faster)")
    if title:
        ax.set_title(title, fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

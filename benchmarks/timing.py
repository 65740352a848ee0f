"""Interleaved timing for the benchmarks: peers measured in the same run, A B A B.

>>> results = interleave({"a": lambda: 1.0, "b": lambda: 2.0}, rounds=3)
>>> sorted(results)
['a', 'b']
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from pathlib import Path

#: Where the benchmarks' charts go: the documentation shows them (docs/benchmarks.md).
CHARTS = Path(__file__).resolve().parent.parent / "docs" / "img"


def interleave(
    candidates: Mapping[str, Callable[[], float]], rounds: int
) -> dict[str, list[float]]:
    """Run each candidate once per round, in turn; each call returns seconds per operation.

    Interleaving spreads the noise of a shared machine over every candidate alike, and
    the order flips every round (A B, B A) so that no one always runs first.
    """
    results: dict[str, list[float]] = {name: [] for name in candidates}
    order = list(candidates.items())
    for index in range(rounds):
        for name, run in order if index % 2 == 0 else reversed(order):
            results[name].append(run())
    return results


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(title: str, results: Mapping[str, list[float]], floor: str, unit: str = "µs") -> str:
    """A table of medians (and spreads) with each candidate's ratio to *floor*."""
    scale = {"µs": 1e6, "ms": 1e3, "s": 1.0}[unit]
    base = median(results[floor])
    lines = [
        f"## {title}",
        "",
        f"| candidate | median ({unit}) | min–max | × {floor} |",
        "|---|---|---|---|",
    ]
    for name, values in sorted(results.items(), key=lambda item: median(item[1])):
        lines.append(
            f"| {name} | {median(values) * scale:.2f} | {min(values) * scale:.2f}–{max(values) * scale:.2f} "
            f"| {median(values) / base:.2f} |"
        )
    return "\n".join(lines)


def bar_chart(path: Path, title: str, results: Mapping[str, list[float]], unit: str = "µs") -> None:
    """Save a horizontal bar chart of the medians as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = {"µs": 1e6, "ms": 1e3, "s": 1.0}[unit]
    items = sorted(results.items(), key=lambda item: median(item[1]))
    figure, axes = plt.subplots(figsize=(8, 0.5 + 0.45 * len(items)))
    axes.barh([n for n, _ in items], [median(v) * scale for _, v in items], color="#4c72b0")
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel(f"median {unit} (log scale)")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def line_chart(
    path: Path,
    title: str,
    xs: list[float],
    series: Mapping[str, list[float]],
    xlabel: str,
    ylabel: str,
) -> None:
    """Save a log-log line chart as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for name, ys in series.items():
        axes.plot(xs, ys, marker="o", label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)

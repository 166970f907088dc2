"""PNG figures of a report: latency, the accuracy/latency Pareto view, per-class deltas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mnistedge.bench.report import BenchRow, Report
from mnistedge.bench.summary import fmt_ms
from mnistedge.core.deps import require
from mnistedge.core.io import atomic_path

__all__ = ["PLOTS", "write_plots"]

# One colour per engine; the browser runtimes are engines of their own.
COLORS = {
    "litert": "#1f77b4",
    "onnxruntime": "#ff7f0e",
    "LiteRT.js": "#9467bd",
    "onnxruntime-web": "#d62728",
    "keras": "#7f7f7f",
}


def _engine(row: BenchRow) -> str:
    """The colour key: the engine, without a browser runtime's version ("LiteRT.js 2.5.3" -> "LiteRT.js")."""
    return row.engine.split(" ")[0] if row.target != "desktop" else row.engine


def _label(row: BenchRow) -> str:
    if row.is_reference:
        name = f"Keras {row.call}"
    else:
        name = row.artifact if row.target == "desktop" else f"{row.target}: {Path(row.artifact).name}"
    return f"{name} · {row.threads}t"


def _ok(report: Report) -> list[BenchRow]:
    return [r for r in report.rows if r.status == "ok" and r.p50_ms is not None]


def _latency(plt: Any, report: Report) -> Any:
    rows = _ok(report)
    batches = sorted({r.batch_size for r in rows})
    height = max(3.0, 0.32 * max(sum(r.batch_size == b for r in rows) for b in batches) + 1.4)
    fig, axes = plt.subplots(1, len(batches), figsize=(6.5 * len(batches), height), squeeze=False)
    for ax, batch in zip(axes[0], batches, strict=True):
        group = sorted((r for r in rows if r.batch_size == batch), key=lambda r: -r.p50_ms)
        y = range(len(group))
        ax.barh(y, [r.p50_ms for r in group], color=[COLORS.get(_engine(r), "C2") for r in group])
        ax.scatter([r.p99_ms for r in group], y, marker="|", s=160, color="black", zorder=3)
        ax.set_yticks(list(y), [_label(r) for r in group], fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("latency per call (ms, log scale)")
        ax.set_title(f"batch size {batch}")
        ax.grid(axis="x", which="both", alpha=0.3)
    patch = plt.matplotlib.patches.Patch
    handles = [
        patch(color=color, label=f"{engine} p50")
        for engine, color in COLORS.items()
        if any(_engine(r) == engine for r in rows)
    ]
    handles.append(
        plt.matplotlib.lines.Line2D(
            [], [], color="black", marker="|", linestyle="", markersize=12, label="p99"
        )
    )
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    fig.suptitle("Latency per call by artifact and threads (t); lower is better", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))  # leave room for the legend below
    return fig


def _pareto_rows(report: Report) -> list[BenchRow]:
    """One point per model: batch 1, fewest threads, the runtime (or Keras model(x)) call."""
    rows = [
        r
        for r in _ok(report)
        if r.batch_size == min(x.batch_size for x in _ok(report))
        and r.accuracy is not None
        and r.call in ("predict", "model(x)")
    ]
    chosen: dict[str, BenchRow] = {}
    for row in sorted(rows, key=lambda r: (r.threads or 0, r.p50_ms)):
        chosen.setdefault(row.artifact, row)
    return list(chosen.values())


def _pareto_front(rows: list[BenchRow]) -> list[BenchRow]:
    """Rows that nothing else beats: none faster is at least as accurate."""
    front, best = [], -1.0
    for row in sorted(rows, key=lambda r: r.p50_ms):
        if row.accuracy > best:
            front.append(row)
            best = row.accuracy
    return front


def _draw_front(plt: Any, ax: Any, front: list[BenchRow], areas: dict[str, float]) -> Any:
    """The front as a dashed line and green rings; returns its legend handle."""
    ax.plot([r.p50_ms for r in front], [100 * r.accuracy for r in front], "--", color="green", alpha=0.6)
    ax.scatter(
        [r.p50_ms for r in front],
        [100 * r.accuracy for r in front],
        s=[2.2 * areas[r.artifact] + 60 for r in front],
        facecolors="none",
        edgecolors="green",
        linewidths=2,
    )
    return plt.matplotlib.lines.Line2D(
        [], [], marker="o", linestyle="", markersize=11, markerfacecolor="none", markeredgecolor="green",
        markeredgewidth=2, label="Pareto front: nothing else is faster\nand at least as accurate",
    )  # fmt: skip


def _pareto(plt: Any, report: Report) -> Any:
    rows = _pareto_rows(report)
    fig, ax = plt.subplots(figsize=(10, 5.5))
    sizes = [r.size_bytes or 0 for r in rows]
    scale = 1500 / max(max(sizes, default=1), 1)
    areas, handles = {}, []
    # Close points overlap (fp32 and fp16 often tie): a legend names them, not labels beside them.
    for k, (row, size) in enumerate(zip(rows, sizes, strict=True)):
        color = plt.get_cmap("tab10")(k % 10)
        areas[row.artifact] = max(40, size * scale)
        ax.scatter(
            row.p50_ms, 100 * row.accuracy, s=areas[row.artifact], alpha=0.6, color=color, edgecolor="black"
        )
        label = f"{row.artifact} ({size / 1024:.0f} KiB, {100 * row.accuracy:.2f} %, {fmt_ms(row.p50_ms)})"
        handles.append(
            plt.matplotlib.lines.Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markersize=9,
                color=color,
                markeredgecolor="black",
                label=label,
            )
        )
    front = _pareto_front(rows)
    if front:
        handles.append(_draw_front(plt, ax, front, areas))
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency at batch {rows[0].batch_size if rows else 1} (ms, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs latency (up and left is better); marker area = file size")
    ax.grid(which="both", alpha=0.3)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.margins(x=0.2, y=0.2)
    fig.tight_layout()
    return fig


def _per_class(plt: Any, report: Report) -> Any:
    chosen: dict[str, BenchRow] = {}
    for row in _ok(report):
        if row.quantization != "none" and row.per_class_delta_pp is not None:
            chosen.setdefault(row.artifact, row)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(chosen), 1)
    for k, row in enumerate(chosen.values()):
        deltas = [d if d is not None else 0.0 for d in row.per_class_delta_pp]
        ax.bar(
            [d + (k - (len(chosen) - 1) / 2) * width for d in range(10)],
            deltas,
            width,
            label=f"{row.artifact} ({row.quantization})",
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.margins(y=0.15)
    ax.set_xticks(range(10))
    ax.set_xlabel("digit")
    ax.set_ylabel("accuracy delta vs Keras (pp)")
    ax.set_title(
        "Per-class accuracy change of the quantized artifacts" + ("" if chosen else " (none measured)")
    )
    ax.grid(axis="y", alpha=0.3)
    if chosen:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


PLOTS: dict[str, Callable[[Any, Report], Any]] = {
    "latency.png": _latency,
    "accuracy_vs_latency.png": _pareto,
    "per_class_delta.png": _per_class,
}


def write_plots(report: Report, out_dir: str | Path) -> list[Path]:
    """Write every plot in :data:`PLOTS` into ``out_dir``; return their paths.

    Raises:
        MissingDependencyError: matplotlib is not installed (``mnistedge[bench]``).
    """
    matplotlib = require("matplotlib", "bench")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "bench", package="matplotlib")
    out_dir = Path(out_dir)
    written = []
    for name, draw in PLOTS.items():
        fig = draw(plt, report)
        with atomic_path(out_dir / name) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)
        written.append(out_dir / name)
    return written

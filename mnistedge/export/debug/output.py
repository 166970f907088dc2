"""What quant-debug leaves beside the artifacts: ``quant_debug.json`` and ``quant_debug.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnistedge.core.deps import require
from mnistedge.core.io import atomic_path, atomic_write_json
from mnistedge.export.debug.api import DebugReport

__all__ = ["JSON_NAME", "PLOT_NAME", "table_rows", "write_json", "write_plot"]

JSON_NAME = "quant_debug.json"
PLOT_NAME = "quant_debug.png"


def write_json(report: DebugReport, out_dir: Path, top: int, extra: dict[str, Any] | None = None) -> Path:
    """The report (and ``extra``, e.g. the mixed artifacts' figures) as JSON, written atomically."""
    doc = report.to_dict()
    doc["top"] = top
    doc["picks"] = {e.engine: e.worst(top) for e in report.engines}
    if extra:
        doc.update(extra)
    return atomic_write_json(out_dir / JSON_NAME, doc)


def table_rows(report: DebugReport) -> list[tuple[str, str, dict[str, Any]]]:
    """(layer, kind, engine -> LayerStats or None) in Keras order."""
    return [
        (layer.name, layer.kind, {e.engine: e.layer(layer.name) for e in report.engines})
        for layer in report.keras_layers
    ]


def write_plot(report: DebugReport, out_dir: Path, top: int) -> Path:
    """Per-layer output SQNR, one line per engine, the engine's picks circled.

    Raises:
        MissingDependencyError: matplotlib is not installed (``mnistedge[bench]``).
    """
    matplotlib = require("matplotlib", "bench")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "bench", package="matplotlib")
    names = [layer.name for layer in report.keras_layers]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(names) + 2), 4.2))
    for marker, engine in zip("os", report.engines, strict=False):
        points = [
            (i, s.sqnr_db) for i, n in enumerate(names) if (s := engine.layer(n)) and s.sqnr_db is not None
        ]
        xs, ys = zip(*points, strict=True) if points else ((), ())
        (line,) = ax.plot(xs, ys, marker=marker, label=f"{engine.engine} ({engine.artifact})")
        for name in engine.worst(top):
            stats = engine.layer(name)
            if stats is not None and stats.sqnr_db is not None:
                ax.scatter([names.index(name)], [stats.sqnr_db], s=220, facecolors="none",
                           edgecolors=line.get_color(), linewidths=2)  # fmt: skip
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("SQNR of the layer's int8 output vs float (dB)")
    ax.set_title(f"{Path(report.model).name}: per-layer SQNR, worst {top} circled ({report.n_images} images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / PLOT_NAME
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path

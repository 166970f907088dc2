"""A calibration sweep as files: sweep.json, sweep.md (the table) and sweep.png (the plot)."""

from __future__ import annotations

from pathlib import Path

from mnistedge.core.io import atomic_path, atomic_write_json, atomic_write_text
from mnistedge.export.sweep import SweepPoint, SweepResult

__all__ = ["HEADERS", "point_cells", "render_markdown", "write_sweep"]

HEADERS = (
    "Format",
    "Method",
    "Calib",
    "Weights",
    "Accuracy",
    "Δ pp",
    "Agree",
    "mean|Δp|",
    "max|Δp|",
    "Size",
    "Secs",
)


def point_cells(point: SweepPoint, float_accuracy: float) -> list[str]:
    """One table row: accuracy, its change from the Keras model on the same images, agreement, size."""
    return [
        point.format,
        point.method,
        str(point.samples),
        "per-channel" if point.per_channel else "per-tensor",
        f"{100 * point.accuracy:.2f} %",
        f"{100 * (point.accuracy - float_accuracy):+.2f}",
        f"{100 * point.agreement:.2f} %",
        f"{point.mean_abs_prob_diff:.5f}",
        f"{point.max_abs_prob_diff:.3f}",
        f"{point.size_bytes / 1024:.1f} KiB",
        f"{point.seconds:.1f}",
    ]


def _table(lines: list[list[str]]) -> list[str]:
    numeric = [h not in ("Format", "Method", "Weights") for h in HEADERS]
    head = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    return head + ["| " + " | ".join(line) + " |" for line in lines]


def render_markdown(result: SweepResult) -> str:
    """The sweep table, the spread per format, the confirmed choices and the run's cost."""
    n = result.points[0].n_test if result.points else 0
    load = result.load_average
    lines = [
        "# mnistedge calibration sweep",
        "",
        f"Model {result.model}: Keras scores {100 * result.float_accuracy:.2f} % on the whole test set, "
        f"{100 * result.float_sample_accuracy:.2f} % on the {n:,}-image seeded sample every point is "
        f"scored on (Δ pp is against that). The sweep took {result.wall_seconds:.0f} s "
        f"(load average {load.get('start', ['?'])[0]:.2f} at start, {load.get('end', ['?'])[0]:.2f} at end).",
        "",
        *_table([point_cells(p, result.float_sample_accuracy) for p in result.points]),
        "",
    ]
    for fmt in result.config.formats:
        spread = result.spread(fmt)
        if spread:
            lines.append(
                f"- {fmt}: accuracy spread {spread['accuracy_pp']:.2f} pp, "
                f"agreement spread {spread['agreement_pp']:.2f} pp over its points."
            )
    lines += ["", "## Chosen points, confirmed on every test image", ""]
    lines += _table([point_cells(p, result.float_accuracy) for p in result.chosen])
    if result.defaults:
        lines += ["", "The export's default point (minmax, 500 images, per-channel) on every test image:", ""]
        lines += _table([point_cells(p, result.float_accuracy) for p in result.defaults])
    return "\n".join(lines) + "\n"


def _plot(result: SweepResult, path: Path) -> Path:
    from mnistedge.core.deps import require

    matplotlib = require("matplotlib", "bench")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    series: dict[str, list[SweepPoint]] = {}
    for p in result.points:
        weights = "" if p.format == "tflite" else (" per-channel" if p.per_channel else " per-tensor")
        series.setdefault(f"{p.format} {p.method}{weights}", []).append(p)
    for name, pts in series.items():
        pts = sorted(pts, key=lambda p: p.samples)
        style = "--" if "per-tensor" in name else "-"
        for ax, value in zip(axes, ("accuracy", "agreement"), strict=True):
            ax.plot(
                [p.samples for p in pts],
                [100 * getattr(p, value) for p in pts],
                style,
                marker="o",
                label=name,
            )
    axes[0].axhline(100 * result.float_sample_accuracy, color="grey", lw=1, label="Keras (float)")
    for ax, title in zip(axes, ("test accuracy (%)", "top-1 agreement with Keras (%)"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("calibration images (log)")
        ax.set_title(f"{title}, {result.points[0].n_test:,} test images")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def write_sweep(result: SweepResult, out_dir: str | Path, *, plot: bool = True) -> list[Path]:
    """Write sweep.json, sweep.md and (when ``plot``) sweep.png into ``out_dir``; return the paths."""
    out = Path(out_dir)
    written = [atomic_write_json(out / "sweep.json", result.to_dict())]
    if plot and result.points:
        written.append(_plot(result, out / "sweep.png"))
    markdown = render_markdown(result)
    if plot and result.points:
        markdown += "\n![calibration sweep](sweep.png)\n"
    return [*written, atomic_write_text(out / "sweep.md", markdown)]

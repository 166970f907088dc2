"""Write a report's files: report.json, plots/*.png and report.md."""

from __future__ import annotations

from pathlib import Path

from mnistedge.bench.markdown import render_markdown
from mnistedge.bench.report import Report
from mnistedge.core.io import atomic_write_text

__all__ = ["write_outputs"]


def write_outputs(report: Report, out_dir: str | Path, *, plots: bool = True) -> list[Path]:
    """Write ``report.json``, the PNG plots (when ``plots``) and ``report.md`` into ``out_dir``.

    Returns:
        the paths written.

    Raises:
        MissingDependencyError: ``plots`` and matplotlib is not installed.
    """
    out_dir = Path(out_dir)
    written = [report.save(out_dir / "report.json")]
    figures: list[Path] = []
    if plots:
        from mnistedge.bench.plots import write_plots

        figures = write_plots(report, out_dir)
    markdown = render_markdown(report, [p.name for p in figures])
    written += [*figures, atomic_write_text(out_dir / "report.md", markdown)]
    return written

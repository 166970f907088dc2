"""The results as a rich table for the terminal, best figures highlighted."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from mnistedge.bench.columns import COLUMNS, best_cells, cell, sort_rows
from mnistedge.bench.report import BenchRow, Report

__all__ = ["render_table"]

NUMERIC = {
    "Thr",
    "Batch",
    "p50",
    "p99",
    "img/s",
    "Accuracy",
    "Δ pp",
    "Agree",
    "Size",
    "Mem MiB",
    "Load",
    "Cold",
    "Overhead",
    "vs Keras",
}


def render_table(report: Report | Sequence[BenchRow], *, title: str | None = None) -> Table:
    """A rich Table of every row: batch size ascending, fastest first, best cells in bold green.

    Keras reference rows are dimmed; failed rows show their error in red.
    """
    rows = sort_rows(report.rows if isinstance(report, Report) else report)
    columns = [c for c in COLUMNS if c.terminal]
    best = best_cells(rows, columns)
    table = Table(
        title=title or "mnistedge bench",
        header_style="bold",
        show_lines=False,
        caption="bold green = best in its column (latency/throughput: per batch size)",
    )
    for col in columns:
        table.add_column(
            col.header, justify="right" if col.header in NUMERIC else "left", no_wrap=col.header != "Model"
        )
    previous_batch = None
    for i, row in enumerate(rows):
        if previous_batch is not None and row.batch_size != previous_batch:
            table.add_section()
        previous_batch = row.batch_size
        if row.status != "ok":
            texts = [
                cell(c, row) if c.header in {"Model", "Quant", "Engine", "Thr", "Batch"} else ""
                for c in columns
            ]
            texts[-1] = f"[red]failed: {row.error or 'unknown error'}[/red]"
            table.add_row(*texts)
            continue
        texts = [
            f"[bold green]{cell(c, row)}[/bold green]" if (i, c.header) in best else cell(c, row)
            for c in columns
        ]
        table.add_row(*texts, style="dim" if row.is_reference else None)
    return table

"""The columns of the results table, shared by the terminal table and report.md.

One registry: each column says how to read and format a row and which end is best,
so highlighting is computed the same way in both places.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mnistedge.bench.report import BenchRow

__all__ = ["COLUMNS", "Column", "best_cells", "cell", "sort_rows"]


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[BenchRow], float | str | int | None]
    fmt: Callable[[float | str | int], str] = str
    best: str | None = None  # "min" | "max": highlight that end
    per_batch: bool = False  # compare only rows of the same batch size (latency, throughput)
    terminal: bool = True  # also shown in the terminal table (report.md shows every column)


def _ms(x: float) -> str:
    return f"{x * 1000:.0f} µs" if x < 1 else f"{x:.2f} ms"


def _size(n: float) -> str:
    return f"{n / 1024:.1f} KiB" if n < 2**20 else f"{n / 2**20:.2f} MiB"


def _model(r: BenchRow) -> str:
    return r.artifact if r.engine != "keras" else f"Keras {r.call}"


COLUMNS: tuple[Column, ...] = (
    Column("Model", _model),
    Column("Quant", lambda r: r.quantization),
    Column("Engine", lambda r: r.engine),
    Column("Provider", lambda r: r.provider.replace("ExecutionProvider", " EP"), terminal=False),
    Column("Thr", lambda r: r.threads),
    Column("Batch", lambda r: r.batch_size),
    Column("p50", lambda r: r.p50_ms, _ms, "min", per_batch=True),
    Column("p99", lambda r: r.p99_ms, _ms, "min", per_batch=True),
    Column("img/s", lambda r: r.throughput_ips, lambda x: f"{x:,.0f}", "max", per_batch=True),
    Column("Accuracy", lambda r: r.accuracy, lambda x: f"{100 * x:.2f} %", "max"),
    Column("Δ pp", lambda r: r.accuracy_delta_pp, lambda x: f"{x:+.2f}"),
    Column("Agree", lambda r: r.agreement, lambda x: f"{100 * x:.2f} %"),
    Column("Size", lambda r: r.size_bytes, _size, "min"),
    Column("Mem MiB", lambda r: r.peak_memory_mb, lambda x: f"{x:.2f}" if x < 10 else f"{x:.1f}", "min"),
    Column("Load", lambda r: r.load_ms, _ms, "min", terminal=False),
    Column("Cold", lambda r: r.cold_ms, _ms, "min", terminal=False),
    Column("Overhead", lambda r: r.overhead_ratio, lambda x: f"{x:.2f}x"),
    Column("vs Keras", lambda r: r.speedup_vs_keras, lambda x: f"{x:.1f}x", "max", per_batch=True),
)


def sort_rows(rows: Sequence[BenchRow]) -> list[BenchRow]:
    """Batch size ascending, then fastest first; failed rows last."""
    inf = float("inf")
    return sorted(rows, key=lambda r: (r.status != "ok", r.batch_size, r.p50_ms or inf))


def best_cells(rows: Sequence[BenchRow], columns: Sequence[Column] = COLUMNS) -> set[tuple[int, str]]:
    """(row index, column header) of the best value of each highlighted column."""
    cells: set[tuple[int, str]] = set()
    for col in columns:
        if col.best is None:
            continue
        groups: dict[int | None, list[tuple[int, float]]] = {}
        for i, row in enumerate(rows):
            value = col.value(row)
            if value is None or row.status != "ok":
                continue
            groups.setdefault(row.batch_size if col.per_batch else None, []).append((i, value))
        for members in groups.values():
            pick = min if col.best == "min" else max
            target = pick(v for _, v in members)
            cells.update((i, col.header) for i, v in members if v == target)
    return cells


def cell(col: Column, row: BenchRow) -> str:
    """The formatted text of one cell ("—" when there is no value)."""
    value = col.value(row)
    return "—" if value is None else col.fmt(value)

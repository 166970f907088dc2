"""One renderer for a bench report: the terminal table, report.md and report.json.

One column registry drives both tables: each column says how to read and format a row,
whether it is a number (numbers align right, words left, in both) and which end is best,
so highlighting is computed the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistedge.bench.goals import check_goals
from mnistedge.bench.report import BenchRow, Report
from mnistedge.bench.summary import explain, fmt_ms
from mnistedge.core.io import atomic_write_text

__all__ = ["COLUMNS", "Column", "best_cells", "render_markdown", "render_table", "sort_rows", "write_outputs"]


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[BenchRow], float | str | int | None]
    fmt: Callable[[Any], str] = str
    numeric: bool = True  # right-aligned in both tables; words are left-aligned
    best: str | None = None  # "min" | "max": highlight that end
    per_batch: bool = False  # compare only rows of the same batch size (latency, throughput)
    terminal: bool = True  # also shown in the terminal table (report.md shows every column)


def _size(n: float) -> str:
    return f"{n / 1024:.1f} KiB" if n < 2**20 else f"{n / 2**20:.2f} MiB"


def _model(r: BenchRow) -> str:
    if r.engine == "keras":
        return f"Keras {r.call}"
    # An edge row names its target first: "browser: model_b1.tflite".
    return r.artifact if r.target == "desktop" else f"{r.target}: {Path(r.artifact).name}"


def _words(header: str, value: Callable[[BenchRow], Any], terminal: bool = True) -> Column:
    return Column(header, value, numeric=False, terminal=terminal)


COLUMNS: tuple[Column, ...] = (
    _words("Model", _model),
    _words("Quant", lambda r: r.quantization),
    _words("Engine", lambda r: r.engine),
    _words("Provider", lambda r: r.provider.replace("ExecutionProvider", " EP"), terminal=False),
    _words("Target", lambda r: r.target, terminal=False),
    # Edge rows: did the runtime run the threads asked for ("NO": it ran one)?
    _words("Threads on", lambda r: {True: "yes", False: "NO"}.get(r.threads_engaged, ""), terminal=False),
    Column("Thr", lambda r: r.threads),
    Column("Batch", lambda r: r.batch_size),
    Column("p50", lambda r: r.p50_ms, fmt_ms, best="min", per_batch=True),
    Column("p99", lambda r: r.p99_ms, fmt_ms, best="min", per_batch=True),
    Column("img/s", lambda r: r.throughput_ips, lambda x: f"{x:,.0f}", best="max", per_batch=True),
    Column("Accuracy", lambda r: r.accuracy, lambda x: f"{100 * x:.2f} %", best="max"),
    Column("Δ pp", lambda r: r.accuracy_delta_pp, lambda x: f"{x:+.2f}"),
    Column("Agree", lambda r: r.agreement, lambda x: f"{100 * x:.2f} %"),
    Column("Size", lambda r: r.size_bytes, _size, best="min"),
    Column("Mem MiB", lambda r: r.peak_memory_mb, lambda x: f"{x:.2f}" if x < 10 else f"{x:.1f}", best="min"),
    Column("Load", lambda r: r.load_ms, fmt_ms, best="min", terminal=False),
    Column("Cold", lambda r: r.cold_ms, fmt_ms, best="min", terminal=False),
    Column("Overhead", lambda r: r.overhead_ratio, lambda x: f"{x:.2f}x"),
    Column("vs Keras", lambda r: r.speedup_vs_keras, lambda x: f"{x:.1f}x", best="max", per_batch=True),
    # Edge targets (report.md only): against the Python runtime on the same file, and start-up.
    Column("Agree (Python)", lambda r: r.native_agreement, lambda x: f"{100 * x:.2f} %", terminal=False),
    Column("max|Δp| (Python)", lambda r: r.native_max_abs_prob_diff, lambda x: f"{x:.1e}", terminal=False),
    Column("Cold start", lambda r: r.cold_start_ms, fmt_ms, best="min", terminal=False),
    Column("Fetched", lambda r: r.transfer_bytes, _size, terminal=False),
    Column("Fetched gzip", lambda r: r.transfer_gzip_bytes, _size, best="min", terminal=False),
    # Microcontroller targets (report.md only): footprint, exactness, work on the Cortex-M4.
    Column("Flash", lambda r: r.flash_bytes, _size, best="min", terminal=False),
    Column("RAM", lambda r: r.ram_bytes or r.arena_bytes, _size, best="min", terminal=False),
    Column("Bit-exact", lambda r: r.bit_exact, lambda x: "yes" if x else "NO", terminal=False),
    Column("Instr/inference", lambda r: r.instructions_per_inference, lambda x: f"{x:,.0f}", terminal=False),
    Column("Instr/MAC", lambda r: r.instructions_per_mac, lambda x: f"{x:.2f}", best="min", terminal=False),
)
_FAILED_SHOWS = frozenset({"Model", "Quant", "Engine", "Thr", "Batch"})  # the rest: the error


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


def _cells(
    rows: Sequence[BenchRow], columns: Sequence[Column], bold: Callable[[str], str]
) -> list[list[str]]:
    """Every row's cell texts; best cells wrapped by ``bold``; a failed row shows its error last."""
    best = best_cells(rows, columns)
    table = []
    for i, row in enumerate(rows):
        if row.status != "ok":
            texts = [cell(c, row) if c.header in _FAILED_SHOWS else "" for c in columns]
            texts[-1] = f"failed: {row.error or 'unknown error'}"
        else:
            texts = [bold(cell(c, row)) if (i, c.header) in best else cell(c, row) for c in columns]
        table.append(texts)
    return table


def render_table(report: Report | Sequence[BenchRow], *, title: str | None = None) -> Any:
    """A rich Table of every row: batch size ascending, fastest first, best cells in bold green.

    Keras reference rows are dimmed; failed rows show their error in red.
    """
    from rich.markup import escape
    from rich.table import Table

    rows = sort_rows(report.rows if isinstance(report, Report) else report)
    columns = [c for c in COLUMNS if c.terminal]
    table = Table(
        title=title or "mnistedge bench",
        header_style="bold",
        caption="bold green = best in its column (latency/throughput: per batch size)",
    )
    for col in columns:
        table.add_column(
            col.header, justify="right" if col.numeric else "left", no_wrap=col.header != "Model"
        )
    texts = _cells(rows, columns, lambda text: f"[bold green]{escape(text)}[/bold green]")
    for i, (row, line) in enumerate(zip(rows, texts, strict=True)):
        if i and row.batch_size != rows[i - 1].batch_size:
            table.add_section()
        if row.status != "ok":
            line[-1] = f"[red]{escape(line[-1])}[/red]"
        table.add_row(*line, style="dim" if row.is_reference else None)
    return table


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown_table(
    headers: Sequence[str], numeric: Sequence[bool], lines: Sequence[Sequence[str]]
) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    return out + ["| " + " | ".join(_escape(t) for t in line) + " |" for line in lines]


def _join(values: object) -> str:
    return ", ".join(map(str, values)) if isinstance(values, list | tuple) else str(values)


def _header(report: Report) -> list[str]:
    env, config = report.env, report.config
    flags = ", ".join(f for f, on in env.cpu_flags.items() if on) or "none of note"
    return [
        "# mnistedge bench",
        "",
        f"{report.created} · {env.cpu_model}, {env.usable_cores} usable cores ({flags}) · "
        f"{env.os} · {env.python}",
        "",
        f"Test set: {config.get('n_test')} images ({config.get('data_source') or 'given arrays'}). "
        f"Latency: {config.get('warmup')} warm-up then {config.get('runs')} timed calls per row "
        f"(Keras model(x): {config.get('reference_runs')} timed calls; model.predict: "
        f"{config.get('predict_warmup')} + {config.get('predict_runs')}); "
        f"threads {_join(config.get('threads'))}; batch sizes {_join(config.get('batch_sizes'))}; "
        f"run took {report.wall_seconds or 0:.0f} s.",
    ]


def render_markdown(report: Report, plots: list[str] | None = None) -> str:
    """The whole report.md text: header, what this means, goals, table, environment, plots."""
    rows = sort_rows(report.rows)
    marks = {True: "✓", False: "✗", None: "–"}
    goals = [[g.name, g.target, g.text, marks[g.met]] for g in check_goals(report.summary)]
    versions = ", ".join(f"{k} {v}" for k, v in report.env.versions.items() if v)
    providers = "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in report.env.providers.items())
    lines = [
        *_header(report),
        "",
        "## What this means",
        "",
        explain(report.summary),
        "",
        *_markdown_table(["Goal", "Target", "Measured", ""], [False, True, True, False], goals),
        "",
        "## Results",
        "",
        *_markdown_table(
            [c.header for c in COLUMNS],
            [c.numeric for c in COLUMNS],
            _cells(rows, COLUMNS, lambda t: f"**{t}**"),
        ),
        "",
        "**Bold** = best in its column (latency, throughput and speed-up: per batch size). "
        "Overhead = runtime `predict` p50 / bare engine call p50 at batch 1; vs Keras = Keras "
        "`model(x)` p50 / this p50 at the same batch size; Mem = peak RSS growth from loading "
        "and running, each model in its own process.",
        "",
        f"Versions: {versions}. Providers: {providers}.",
    ]
    if report.profile:
        from mnistedge.bench.profile_report import profile_markdown

        lines += ["", *profile_markdown(report.profile)]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


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
    return [*written, *figures, atomic_write_text(out_dir / "report.md", markdown)]

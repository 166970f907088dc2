"""report.md: the environment, the full table and what the numbers mean."""

from __future__ import annotations

from mnistedge.bench.columns import COLUMNS, best_cells, cell, sort_rows
from mnistedge.bench.goals import check_goals
from mnistedge.bench.report import Report
from mnistedge.bench.summary import explain

__all__ = ["render_markdown"]


def _join(values: object) -> str:
    return ", ".join(map(str, values)) if isinstance(values, list | tuple) else str(values)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _goals(summary: dict) -> list[str]:
    marks = {True: "✓", False: "✗", None: "–"}
    lines = ["| Goal | Target | Measured | |", "|---|---:|---:|---|"]
    lines += [f"| {g.name} | {g.target} | {g.text} | {marks[g.met]} |" for g in check_goals(summary)]
    return [*lines, ""]


def render_markdown(report: Report, plots: list[str] | None = None) -> str:
    """The whole report.md text: header, what this means, table, environment, plots."""
    env, config = report.env, report.config
    rows = sort_rows(report.rows)
    best = best_cells(rows)
    flags = ", ".join(f for f, on in env.cpu_flags.items() if on) or "none of note"
    versions = ", ".join(f"{k} {v}" for k, v in env.versions.items() if v)
    lines = [
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
        "",
        "## What this means",
        "",
        explain(report.summary),
        "",
        *_goals(report.summary),
        "## Results",
        "",
        "| " + " | ".join(c.header for c in COLUMNS) + " |",
        "|" + "|".join("---" if i < 3 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
    for i, row in enumerate(rows):
        if row.status != "ok":
            texts = [
                cell(c, row) if c.header in {"Model", "Quant", "Engine", "Thr", "Batch"} else ""
                for c in COLUMNS
            ]
            texts[-1] = f"failed: {row.error}"
        else:
            texts = [f"**{cell(c, row)}**" if (i, c.header) in best else cell(c, row) for c in COLUMNS]
        lines.append("| " + " | ".join(_escape(t) for t in texts) + " |")
    lines += [
        "",
        "**Bold** = best in its column (latency, throughput and speed-up: per batch size). "
        "Overhead = runtime `predict` p50 / bare engine call p50 at batch 1; vs Keras = Keras "
        "`model(x)` p50 / this p50 at the same batch size; Mem = peak RSS growth from loading "
        "and running, each model in its own process.",
        "",
        f"Versions: {versions}. Providers: "
        + "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in env.providers.items())
        + ".",
    ]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"

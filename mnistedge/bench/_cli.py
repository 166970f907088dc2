"""`mnistedge bench` and `mnistedge run`: measure every artifact; the whole pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mnistedge.core.deps import require

DEFAULT_OUT = Path("artifacts")


def _ints(text: str | None, option: str) -> tuple[int, ...] | None:
    """Parse "1,64" into (1, 64); a bad value exits 2 naming the option and the fix."""
    if text is None:
        return None
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise typer.BadParameter(
            f"{text!r} is not a comma-separated list of positive integers (e.g. 1,64).",
            param_hint=option,
        )
    return values


def make_console() -> Any:
    """A rich console; wide when output is not a terminal (a log or CI), so the table fits."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 180))


def bench_config(
    batch_sizes: str,
    threads: str | None,
    providers: str,
    warmup: int,
    runs: int,
    reference_runs: int,
    predict_runs: int,
    only: list[str] | None,
    keras: bool,
) -> Any:
    from mnistedge.bench.config import BenchConfig

    names = tuple(p.strip() for p in providers.split(",") if p.strip())
    if not names:
        raise typer.BadParameter("give at least one provider, e.g. auto", param_hint="--providers")
    return BenchConfig(
        batch_sizes=_ints(batch_sizes, "--batch-sizes"),
        threads=_ints(threads, "--threads"),
        providers=names,
        warmup=warmup,
        runs=runs,
        reference_runs=reference_runs,
        predict_runs=predict_runs,
        predict_warmup=min(warmup, 3),
        keras_reference=keras,
        only=tuple(only) if only else None,
    )


def measure_with_progress(
    console: Any, export_dir: Path, data: Any, model: Path, config: Any, quiet: bool = False
) -> Any:
    """Run the benchmark with a rich progress bar (one step per child process)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from mnistedge.bench.runner import run_bench

    columns = (
        TextColumn("[bold]bench[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=True, disable=quiet) as bar:
        task = bar.add_task("starting", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        return run_bench(
            export_dir,
            data.x_test,
            data.y_test,
            model_path=model,
            config=config,
            progress=progress,
            data_source=getattr(data, "source", None),
        )


def show_and_gate(
    console: Any,
    report: Any,
    out_dir: Path | None,
    *,
    plots: bool,
    baseline: Path | None,
    max_accuracy_drop: float,
    max_latency_ratio: float,
) -> None:
    """Print the table, write the files, and exit 1 when the baseline gate finds regressions."""
    from mnistedge.bench.render import render_table, write_outputs
    from mnistedge.bench.summary import explain

    console.print(render_table(report))
    console.print(explain(report.summary))
    if out_dir is not None:
        written = write_outputs(report, out_dir, plots=plots)
        console.print(f"wrote {', '.join(str(p) for p in written)}")
    if baseline is None:
        return
    from rich.markup import escape

    from mnistedge.bench.gate import check_regressions
    from mnistedge.bench.report import load_report

    try:
        old = load_report(baseline)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--baseline") from exc
    regressions = check_regressions(
        report, old, max_accuracy_drop_pp=max_accuracy_drop, max_latency_ratio=max_latency_ratio
    )
    if regressions:
        console.print(f"[red bold]{len(regressions)} regression(s) against {baseline}:[/]")
        for regression in regressions:
            console.print(f"  [red]✗[/] {escape(regression.describe())}", soft_wrap=True)
        raise typer.Exit(1)
    console.print(
        f"[green]✓ no regressions against {baseline}[/] (accuracy drop <= "
        f"{max_accuracy_drop} pp, p50 <= {max_latency_ratio}x)"
    )


def bench(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Artifacts root; results go to OUT/bench."),
    export_dir: Path | None = typer.Option(None, "--export-dir", help="Default: OUT/export."),
    model: Path | None = typer.Option(None, "--model", help="Keras reference; default OUT/model.keras."),
    source: Path | None = typer.Option(
        None, "--source", help="Test data (IDX dir or .npz); default: the cached MNIST."
    ),
    batch_sizes: str = typer.Option("1,64", "--batch-sizes", help="Comma-separated batch sizes."),
    threads: str | None = typer.Option(
        None, "--threads", help="Comma-separated thread counts; default 1,<all cores>."
    ),
    providers: str = typer.Option("auto", "--providers", help="Comma-separated, e.g. auto,cpu,cuda."),
    warmup: int = typer.Option(50, "--warmup", min=0, help="Untimed calls before each loop."),
    runs: int = typer.Option(500, "--runs", min=1, help="Timed calls per loop."),
    reference_runs: int = typer.Option(100, "--reference-runs", min=1, help="Timed Keras model(x) calls."),
    predict_runs: int = typer.Option(20, "--predict-runs", min=1, help="Timed Keras model.predict calls."),
    only: list[str] | None = typer.Option(None, "--only", help="Only this artifact file (repeatable)."),
    keras: bool = typer.Option(True, "--keras/--no-keras", help="Measure the Keras reference too."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the PNG plots."),
    report_path: Path | None = typer.Option(
        None, "--report", help="Re-show (and gate) this report.json instead of measuring."
    ),
    baseline: Path | None = typer.Option(
        None, "--baseline", help="Exit 1 listing the rows that regressed against this report.json."
    ),
    max_accuracy_drop: float = typer.Option(
        0.1, "--max-accuracy-drop", min=0, help="Allowed accuracy drop vs the baseline, in pp."
    ),
    max_latency_ratio: float = typer.Option(
        1.5, "--max-latency-ratio", min=0.001, help="Allowed p50 growth vs the baseline (x)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Measure every exported artifact: accuracy, latency, throughput, size, memory."""
    console = make_console()
    if report_path is not None:
        from mnistedge.bench.report import load_report

        try:
            report = load_report(report_path)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--report") from exc
        show_and_gate(
            console,
            report,
            None,
            plots=False,
            baseline=baseline,
            max_accuracy_drop=max_accuracy_drop,
            max_latency_ratio=max_latency_ratio,
        )
        return
    config = bench_config(
        batch_sizes, threads, providers, warmup, runs, reference_runs, predict_runs, only, keras
    )
    if plots:  # fail before minutes of measuring, not after
        require("matplotlib", "bench")
    from mnistedge.data._cli import load_for_cli

    data = load_for_cli(source, quiet=quiet)
    try:
        report = measure_with_progress(
            console, export_dir or out / "export", data, model or out / "model.keras", config, quiet
        )
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    show_and_gate(
        console,
        report,
        out / "bench",
        plots=plots,
        baseline=baseline,
        max_accuracy_drop=max_accuracy_drop,
        max_latency_ratio=max_latency_ratio,
    )

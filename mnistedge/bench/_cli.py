"""`mnistedge bench` and `mnistedge run`: measure every artifact; the whole pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mnistedge.bench._options import (
    DEFAULT_OUT,
    MeasureArgs,
    bench_config,
    drop_unbuilt_edges,
    make_console,
    measure_options,
)
from mnistedge.core.deps import require
from mnistedge.runtime._cli import MEAN_OPTION, OUTPUT_OPTION, SCALE_OPTION, STD_OPTION


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


def _show_report(console: Any, report_path: Path, gate: dict[str, Any]) -> None:
    from mnistedge.bench.report import load_report

    try:
        report = load_report(report_path)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--report") from exc
    show_and_gate(console, report, None, plots=False, **gate)


@measure_options
def bench(
    measure: MeasureArgs,
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Artifacts root; results go to OUT/bench."),
    export_dir: Path | None = typer.Option(None, "--export-dir", help="Default: OUT/export."),
    model: Path | None = typer.Option(None, "--model", help="Keras reference; default OUT/model.keras."),
    only: list[str] | None = typer.Option(
        None, "--only", metavar="FILE", help="Only this artifact file (repeatable)."
    ),
    extra_models: list[Path] | None = typer.Option(
        None,
        "--extra-model",
        metavar="FILE",
        help="Your own .tflite/.onnx, measured beside the exported ones (repeatable).",
    ),
    scale: str | None = SCALE_OPTION,  # for --extra-model files; floats once the callbacks ran
    mean: str | None = MEAN_OPTION,
    std: str | None = STD_OPTION,
    output: str | None = OUTPUT_OPTION,
    keras: bool = typer.Option(True, "--keras/--no-keras", help="Measure the Keras reference too."),
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
    profile: bool = typer.Option(
        False,
        "--profile/--no-profile",
        help="Also find where the time goes: ORT's profiler, LiteRT truncation ablation (needs --model "
        "and TensorFlow, ~2 min), the engines' own benchmark tools. Adds a report section.",
    ),
) -> None:
    """Measure every exported artifact: accuracy, latency, throughput, size, memory."""
    console = make_console()
    gate = {
        "baseline": baseline,
        "max_accuracy_drop": max_accuracy_drop,
        "max_latency_ratio": max_latency_ratio,
    }
    if report_path is not None:
        _show_report(console, report_path, gate)
        return
    config = bench_config(
        measure,
        keras_reference=keras,
        only=tuple(only) if only else None,
        extra_models=tuple(str(p) for p in extra_models or ()),
        extra_load_options={"scale": scale, "mean": mean, "std": std, "output": output},
    )
    export_dir = export_dir or out / "export"
    config = drop_unbuilt_edges(config, measure, export_dir)
    if measure.plots:  # fail before minutes of measuring, not after
        require("matplotlib", "bench")
    from mnistedge.data._cli import load_for_cli

    data = load_for_cli(measure.source, quiet=measure.quiet)
    try:
        report = measure_with_progress(
            console, export_dir, data, model or out / "model.keras", config, measure.quiet
        )
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if profile:
        report = _profiled(console, report, export_dir, model or out / "model.keras", data, config)
    show_and_gate(console, report, out / "bench", plots=measure.plots, **gate)


def _profiled(console: Any, report: Any, export_dir: Path, model: Path, data: Any, config: Any) -> Any:
    """``report`` with its "Where the time goes" profile (see mnistedge.bench.profile)."""
    import importlib.util

    from mnistedge.bench.profile_report import attach_profile, profile_artifacts
    from mnistedge.export.calibration import CalibrationConfig, calibration_set

    ablation = model.is_file() and importlib.util.find_spec("tensorflow") is not None
    images = calibration_set(data, CalibrationConfig(100)).images if ablation else None
    with console.status("profiling: ORT profiler, LiteRT ablation, engine tools"):
        profile = profile_artifacts(
            export_dir,
            model_path=model if ablation else None,
            calibration_images=images,
            threads=config.resolved_threads(),
            batch_sizes=config.batch_sizes,
        )
    return attach_profile(report, profile)

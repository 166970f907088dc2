"""`mnistedge run`: data -> train -> export all -> bench -> the table and the goals."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Any

import typer

from mnistedge.bench._cli import (
    DEFAULT_OUT,
    bench_config,
    make_console,
    measure_with_progress,
    show_and_gate,
)
from mnistedge.core.deps import require


def goals_table(summary: dict[str, Any]) -> Any:
    """The goals (float accuracy, int8 delta, overhead, speed-up, size) as a rich table."""
    from rich.table import Table

    from mnistedge.bench.goals import check_goals

    table = Table(title="Goals", header_style="bold")
    for name in ("goal", "target", "measured", ""):
        table.add_column(name, justify="left" if name in ("goal", "") else "right")
    marks = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]–[/]"}
    for result in check_goals(summary):
        table.add_row(result.name, result.target, result.text, marks[result.met])
    return table


def run(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Where everything goes."),
    arch: str = typer.Option("cnn", "--arch", help="Architecture (see `mnistedge train --list-archs`)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Default: the arch's preset."),
    seed: int = typer.Option(0, "--seed", min=0, help="Training seed."),
    source: Path | None = typer.Option(
        None, "--source", help="MNIST IDX dir or .npz; default: the cached MNIST."
    ),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check each artifact's fidelity."),
    batch_sizes: str = typer.Option("1,64", "--batch-sizes", help="Comma-separated batch sizes."),
    threads: str | None = typer.Option(None, "--threads", help="Comma-separated; default 1,<all cores>."),
    providers: str = typer.Option("auto", "--providers", help="Comma-separated providers."),
    warmup: int = typer.Option(50, "--warmup", min=0, help="Untimed calls before each loop."),
    runs: int = typer.Option(500, "--runs", min=1, help="Timed calls per loop."),
    reference_runs: int = typer.Option(100, "--reference-runs", min=1, help="Timed Keras model(x) calls."),
    predict_runs: int = typer.Option(20, "--predict-runs", min=1, help="Timed Keras model.predict calls."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the PNG plots."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """The main job: data, train, export all six artifacts, bench them, show the table."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO/WARNING lines
    from mnistedge.data._cli import load_for_cli
    from mnistedge.export import FidelityError, export_all
    from mnistedge.train import TrainConfig, train

    try:
        train_config = TrainConfig(arch=arch, epochs=epochs, seed=seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--arch/--epochs") from exc
    measure_config = bench_config(
        batch_sizes, threads, providers, warmup, runs, reference_runs, predict_runs, None, True
    )
    require("tensorflow", "train")  # before any work: run trains, so it needs the train extra
    if plots:
        require("matplotlib", "bench")
    console = make_console()
    stages: dict[str, float] = {}
    started = time.perf_counter()

    def stage(name: str) -> None:
        stages[name] = time.perf_counter()
        console.rule(f"[bold]{name}")

    stage("data")
    data = load_for_cli(source, quiet=quiet)
    console.print(f"{len(data.x_train)} train / {len(data.x_test)} test images from {data.source}")
    stage("train")
    result = train(train_config, data, out, quiet=quiet, plots=plots)
    console.print(
        f"{result.arch}: test accuracy {100 * result.test_accuracy:.2f} %, "
        f"{result.params:,} params, {result.wall_seconds:.0f} s; {result.target_verdict()}"
    )
    stage("export")
    fidelity_failed = None
    try:
        artifacts = export_all(result.model_path, out_dir=out / "export", data=data, verify=verify)
    except FidelityError as exc:
        fidelity_failed = exc
        artifacts = list(exc.exported)
        console.print(f"[yellow]{exc}[/]")
    console.print(f"{len(artifacts)} artifacts in {out / 'export'}")
    stage("bench")
    report = measure_with_progress(
        console, out / "export", data, Path(result.model_path), measure_config, quiet
    )
    show_and_gate(
        console,
        report,
        out / "bench",
        plots=plots,
        baseline=None,
        max_accuracy_drop=0.0,
        max_latency_ratio=1.0,
    )
    stages["end"] = time.perf_counter()
    names = list(stages)
    timing = ", ".join(f"{a} {stages[b] - stages[a]:.0f} s" for a, b in itertools.pairwise(names))
    console.print(goals_table(report.summary))
    console.print(
        f"[bold]mnistedge run finished in {time.perf_counter() - started:.0f} s[/] "
        f"({timing}); results in {out}"
    )
    if fidelity_failed is not None:
        console.print("[red]some artifacts missed their fidelity thresholds (see above)[/]")
        raise typer.Exit(1)

"""`mnistedge run`: data -> train -> export all -> bench -> the table and the goals."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import typer

from mnistedge.bench._cli import measure_with_progress, show_and_gate
from mnistedge.bench._options import DEFAULT_OUT, MeasureArgs, bench_config, make_console, measure_options
from mnistedge.core.deps import require
from mnistedge.core.targets import TARGETS


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


def _export(console: Any, result: Any, data: Any, out: Path, verify: bool) -> Exception | None:
    """Export the nine edge artifacts; a fidelity miss is shown and returned, not raised."""
    from mnistedge.export import FidelityError, export_all

    try:
        artifacts = export_all(result.model_path, out_dir=out / "export", data=data, verify=verify)
        failed = None
    except FidelityError as exc:
        artifacts, failed = list(exc.exported), exc
        console.print(f"[yellow]{exc}[/]")
    console.print(f"{len(artifacts)} artifacts in {out / 'export'}")
    return failed


RUN_EDGE_SAMPLE = 2000  # test images for the edge rows in `run` (bench --target measures all)


def _export_edge(
    console: Any, target: str, result: Any, data: Any, out: Path, verify: bool, config: Any
) -> Any:
    """Build ``target``'s bundle for its rows; on failure say why and drop the target."""
    import dataclasses

    from mnistedge.core.formats import BUNDLES, resolve
    from mnistedge.core.targets import TARGETS
    from mnistedge.export import FidelityError

    bundle = str(TARGETS[target].bundle)
    # TFLM and C compile the int8 artifact `export` just wrote; the web bundle exports its own variants.
    source = out / "export" / "model_int8.tflite" if bundle in ("tflm", "c") else result.model_path
    try:
        built = resolve(BUNDLES[bundle].builder)(source, out_dir=out / "export", data=data, verify=verify)
    except (FidelityError, RuntimeError, OSError, ValueError) as exc:
        console.print(f"[yellow]no {target} rows: the {bundle} bundle failed: {exc}[/]")
        return dataclasses.replace(config, targets=tuple(t for t in config.targets if t != target))
    for line in built.describe():
        console.print(line)
    console.print(
        f"{target} rows use a seeded sample of {RUN_EDGE_SAMPLE:,} test images "
        f"(`mnistedge bench --target {target}` measures all of them)"
    )
    return dataclasses.replace(config, edge_sample=config.edge_sample or RUN_EDGE_SAMPLE)


class _Stages:
    """Times each stage and prints a rule when one starts."""

    def __init__(self, console: Any) -> None:
        self.console, self.started = console, time.perf_counter()
        self.marks: dict[str, float] = {}

    def start(self, name: str) -> None:
        self.marks[name] = time.perf_counter()
        self.console.rule(f"[bold]{name}")

    def line(self) -> str:
        marks = [*self.marks.items(), ("end", time.perf_counter())]
        timing = ", ".join(f"{a} {tb - ta:.0f} s" for (a, ta), (_, tb) in itertools.pairwise(marks))
        return f"mnistedge run finished in {time.perf_counter() - self.started:.0f} s ({timing})"


@measure_options
def run(
    measure: MeasureArgs,
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Where everything goes."),
    arch: str = typer.Option("cnn", "--arch", help="Architecture (see `mnistedge train --list-archs`)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Default: the arch's preset."),
    seed: int = typer.Option(0, "--seed", min=0, help="Training seed."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check each artifact's fidelity."),
) -> None:
    """The main job: data, train, export the nine artifacts and the edge bundles, bench them all."""
    from mnistedge.data._cli import load_for_cli
    from mnistedge.train import TrainConfig, train

    try:
        train_config = TrainConfig(arch=arch, epochs=epochs, seed=seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--arch/--epochs") from exc
    measure_config = bench_config(measure)
    require("tensorflow", "train")  # before any work: run trains, so it needs the train extra
    plots, quiet = measure.plots, measure.quiet
    if plots:
        require("matplotlib", "bench")
    console = make_console()
    stages = _Stages(console)
    stages.start("data")
    data = load_for_cli(measure.source, quiet=quiet)
    console.print(f"{len(data.x_train)} train / {len(data.x_test)} test images from {data.source}")
    stages.start("train")
    result = train(train_config, data, out, quiet=quiet, plots=plots)
    console.print(
        f"{result.arch}: test accuracy {100 * result.test_accuracy:.2f} %, "
        f"{result.params:,} params, {result.wall_seconds:.0f} s; {result.target_verdict()}"
    )
    stages.start("export")
    fidelity_failed = _export(console, result, data, out, verify)
    for target in [t for t in measure_config.targets if TARGETS[t].bundle]:
        stages.start(f"export {TARGETS[target].bundle}")
        measure_config = _export_edge(console, target, result, data, out, verify, measure_config)
    stages.start("bench")
    report = measure_with_progress(
        console, out / "export", data, Path(result.model_path), measure_config, quiet
    )
    show_and_gate(console, report, out / "bench", plots=plots, baseline=None, max_accuracy_drop=0.0,
                  max_latency_ratio=1.0)  # fmt: skip
    console.print(goals_table(report.summary))
    console.print(f"[bold]{stages.line()}[/]; results in {out}")
    if fidelity_failed is not None:
        console.print("[red]some artifacts missed their fidelity thresholds (see above)[/]")
        raise typer.Exit(1)

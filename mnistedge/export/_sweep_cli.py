"""`mnistedge sweep`: score int8 calibrations (method x size x per-channel) and pick the best."""

from __future__ import annotations

from pathlib import Path

import typer

from mnistedge.export.api import DEFAULT_MODEL
from mnistedge.export.calibration import CALIBRATION_METHODS
from mnistedge.export.sweep import SWEEP_FORMATS


def _items(text: str, option: str, valid: tuple[str, ...] | None = None) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    bad = [i for i in items if valid is not None and i not in valid]
    if not items or bad:
        hint = f"valid: {', '.join(valid)}" if valid else "e.g. 100,500,2000"
        raise typer.BadParameter(f"{text!r} is not a comma-separated list ({hint}).", param_hint=option)
    return items


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in _items(text, "--sizes"))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter(
            f"{text!r}: give positive integers, e.g. 100,500,2000.", param_hint="--sizes"
        )
    return sizes


def sweep(
    model: Path = typer.Option(DEFAULT_MODEL, "--model", help="The trained Keras model."),
    out: Path = typer.Option(
        Path("artifacts/sweep"), "--out", help="sweep.json, sweep.md, sweep.png go here."
    ),
    formats: str = typer.Option(",".join(SWEEP_FORMATS), "--formats", help="onnx and/or tflite."),
    methods: str = typer.Option(",".join(CALIBRATION_METHODS), "--methods", help="ORT range methods."),
    sizes: str = typer.Option("100,500,2000", "--sizes", help="Calibration images per point."),
    per_channel: str = typer.Option("on,off", "--per-channel", help="ORT weight scales: on, off or on,off."),
    test_sample: int = typer.Option(
        2000, "--test-sample", min=1, help="Test images each point is scored on."
    ),
    seed: int = typer.Option(0, "--seed", help="Seeds the calibration draws and the test sample."),
    source: Path | None = typer.Option(None, "--source", help="MNIST IDX dir or .npz (default: cache)."),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Write sweep.png."),
) -> None:
    """Calibration sweep: every point's accuracy, agreement with Keras and size; the best confirmed on all."""
    from rich.console import Console
    from rich.table import Table

    from mnistedge.data._cli import load_for_cli
    from mnistedge.export.sweep import SweepConfig, run_sweep
    from mnistedge.export.sweep_report import HEADERS, point_cells, write_sweep

    switch = {"on": True, "off": False}
    try:
        config = SweepConfig(
            methods=_items(methods, "--methods", CALIBRATION_METHODS),
            sizes=_sizes(sizes),
            per_channel=tuple(switch[v] for v in _items(per_channel, "--per-channel", tuple(switch))),
            formats=_items(formats, "--formats", SWEEP_FORMATS),
            test_sample=test_sample,
            seed=seed,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if not model.is_file():
        raise typer.BadParameter(
            f"no Keras model at {model}; train one with `mnistedge train`.", param_hint="--model"
        )
    console = Console()
    console = console if console.is_terminal else Console(width=max(console.width, 150))  # logs, CI
    data = load_for_cli(source)
    with console.status("sweep") as status:
        try:
            result = run_sweep(model, data, config, progress=lambda text: status.update(f"sweep: {text}"))
        except (ValueError, OSError, RuntimeError) as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from exc
    table = Table(title=f"Calibration sweep ({result.points[0].n_test:,} test images per point)")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("Format", "Method", "Weights") else "right")
    for point in result.points:
        table.add_row(*point_cells(point, result.float_sample_accuracy))
    console.print(table)
    for kind, point in [
        *(("chosen", p) for p in result.chosen),
        *(("export default", p) for p in result.defaults),
    ]:
        console.print(
            f"{kind} {point.label}: {100 * point.accuracy:.2f} % on all {point.n_test:,} test images "
            f"({100 * (point.accuracy - result.float_accuracy):+.2f} pp vs Keras), "
            f"agreement {100 * point.agreement:.2f} %"
        )
    start, end = result.load_average["start"][0], result.load_average["end"][0]
    console.print(f"sweep took {result.wall_seconds:.0f} s (load average {start:.2f} -> {end:.2f})")
    written = write_sweep(result, out, plot=plot)
    console.print(f"wrote {', '.join(str(p) for p in written)}")

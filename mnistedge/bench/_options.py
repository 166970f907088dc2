"""The command-line options `mnistedge bench` and `mnistedge run` share, each defined once."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer

from mnistedge.core.targets import TARGETS, select_targets

__all__ = [
    "DEFAULT_OUT",
    "BenchOptions",
    "TargetChoice",
    "bench_config",
    "chosen_targets",
    "make_console",
]

DEFAULT_OUT = Path("artifacts")
TargetChoice = enum.StrEnum("TargetChoice", {name: name for name in TARGETS})


class BenchOptions:
    """Typer option declarations; a command lists them as parameter defaults."""

    batch_sizes = typer.Option("1,64", "--batch-sizes", help="Comma-separated batch sizes.")
    threads = typer.Option(None, "--threads", help="Comma-separated thread counts; default 1,<all cores>.")
    providers = typer.Option("auto", "--providers", help="Comma-separated, e.g. auto,cpu,cuda.")
    warmup = typer.Option(50, "--warmup", min=0, help="Untimed calls before each loop.")
    runs = typer.Option(500, "--runs", min=1, help="Timed calls per loop.")
    reference_runs = typer.Option(100, "--reference-runs", min=1, help="Timed Keras model(x) calls.")
    predict_runs = typer.Option(20, "--predict-runs", min=1, help="Timed Keras model.predict calls.")
    plots = typer.Option(True, "--plots/--no-plots", help="Write the PNG plots.")
    quiet = typer.Option(False, "--quiet", help="No progress bars.")
    source = typer.Option(None, "--source", help="MNIST IDX dir or .npz; default: the cached MNIST.")
    targets = typer.Option(
        None,
        "--target",
        metavar="[" + "|".join(TARGETS) + "]",
        help="Where to measure (repeatable). Default: desktop plus every target whose tools are here.",
    )


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
            f"{text!r} is not a comma-separated list of positive integers (e.g. 1,64).", param_hint=option
        )
    return values


def bench_config(
    *,
    batch_sizes: str,
    threads: str | None,
    providers: str,
    warmup: int,
    runs: int,
    reference_runs: int,
    predict_runs: int,
    **more: Any,
) -> Any:
    """A BenchConfig from the shared options (``more``: only, keras_reference, extra models...)."""
    from mnistedge.bench.config import BenchConfig

    names = tuple(p.strip() for p in providers.split(",") if p.strip())
    if not names:
        raise typer.BadParameter("give at least one provider, e.g. auto", param_hint="--providers")
    try:
        return BenchConfig(
            batch_sizes=_ints(batch_sizes, "--batch-sizes"),
            threads=_ints(threads, "--threads"),
            providers=names,
            warmup=warmup,
            runs=runs,
            reference_runs=reference_runs,
            predict_runs=predict_runs,
            predict_warmup=min(warmup, 3),
            **more,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def chosen_targets(requested: list[TargetChoice] | None) -> list[str]:
    """The --target selection; one notice line (stderr) per skipped default target; exit 2 if bad."""
    try:
        chosen, skipped = select_targets([t.value for t in requested or []])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--target") from exc
    for line in skipped:
        typer.echo(f"notice: {line}", err=True)
    return [target.name for target in chosen]


def make_console() -> Any:
    """A rich console; wide when output is not a terminal (a log or CI), so the table fits."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 180))

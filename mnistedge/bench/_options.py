"""The command-line options `mnistedge bench` and `mnistedge run` share, declared once.

``@measure_options`` adds them to a Typer command's signature; the command receives them
together as one ``MeasureArgs``, and ``bench_config(args)`` turns them into a BenchConfig.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import typer

from mnistedge.core.targets import TARGETS, select_targets

__all__ = [
    "DEFAULT_OUT",
    "MeasureArgs",
    "bench_config",
    "drop_unbuilt_edges",
    "make_console",
    "measure_options",
]

DEFAULT_OUT = Path("artifacts")
TargetChoice = enum.StrEnum("TargetChoice", {name: name for name in TARGETS})


@dataclass(frozen=True)
class MeasureArgs:
    """What to measure and how; each field is one shared option (see ``_OPTIONS``)."""

    source: Path | None
    targets: list[TargetChoice] | None
    batch_sizes: str
    threads: str | None
    providers: str
    warmup: int
    runs: int
    reference_runs: int
    predict_runs: int
    qemu_images: int
    plots: bool
    quiet: bool


_OPTIONS: dict[str, tuple[Any, Any]] = {  # field -> (annotation, typer.Option)
    "source": (
        Path | None,
        typer.Option(None, "--source", help="MNIST IDX dir or .npz; default: the cached MNIST."),
    ),
    "targets": (
        list[TargetChoice] | None,
        typer.Option(
            None,
            "--target",
            metavar="[" + "|".join(TARGETS) + "]",
            help="Where to measure (repeatable). Default: desktop plus every target whose tools are here.",
        ),
    ),
    "batch_sizes": (str, typer.Option("1,64", "--batch-sizes", help="Comma-separated batch sizes.")),
    "threads": (str | None, typer.Option(None, "--threads", help="Comma-separated; default 1,<all cores>.")),
    "providers": (str, typer.Option("auto", "--providers", help="Comma-separated, e.g. auto,cpu,cuda.")),
    "warmup": (int, typer.Option(50, "--warmup", min=0, help="Untimed calls before each loop.")),
    "runs": (int, typer.Option(500, "--runs", min=1, help="Timed calls per loop.")),
    "reference_runs": (int, typer.Option(100, "--reference-runs", min=1, help="Timed Keras model(x) calls.")),
    "predict_runs": (int, typer.Option(20, "--predict-runs", min=1, help="Timed Keras model.predict calls.")),
    "qemu_images": (
        int,
        typer.Option(
            1000, "--qemu-images", min=0, help="Target c: images run on the Cortex-M4 under QEMU (0: none)."
        ),
    ),
    "plots": (bool, typer.Option(True, "--plots/--no-plots", help="Write the PNG plots.")),
    "quiet": (bool, typer.Option(False, "--quiet", help="No progress bars.")),
}
assert set(_OPTIONS) == {f.name for f in fields(MeasureArgs)}


def measure_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` the shared options; it takes them as its ``measure: MeasureArgs`` parameter."""
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command)  # resolved where the command lives, not here
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
        for p in signature.parameters.values()
        if p.name != "measure"
    ]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
        for name, (annotation, option) in _OPTIONS.items()
    ]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        measure = MeasureArgs(**{name: kwargs.pop(name) for name in _OPTIONS})
        return command(measure=measure, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{p.name: p.annotation for p in own},
        **{name: annotation for name, (annotation, _) in _OPTIONS.items()},
    }
    del wrapper.__wrapped__  # Typer must read the new signature, not the command's own
    return wrapper


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


def chosen_targets(requested: list[TargetChoice] | None) -> list[str]:
    """The --target selection; one notice line (stderr) per skipped default target; exit 2 if bad."""
    try:
        chosen, skipped = select_targets([t.value for t in requested or []])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--target") from exc
    for line in skipped:
        typer.echo(f"notice: {line}", err=True)
    return [target.name for target in chosen]


def bench_config(args: MeasureArgs, **more: Any) -> Any:
    """A BenchConfig from the shared options (``more``: only, keras_reference, extra models...).

    Also settles ``--target`` (exit 2 for one that cannot run here) before any work starts.
    """
    from mnistedge.bench.config import BenchConfig

    targets = tuple(chosen_targets(args.targets))
    names = tuple(p.strip() for p in args.providers.split(",") if p.strip())
    if not names:
        raise typer.BadParameter("give at least one provider, e.g. auto", param_hint="--providers")
    try:
        return BenchConfig(
            batch_sizes=_ints(args.batch_sizes, "--batch-sizes"),
            threads=_ints(args.threads, "--threads"),
            providers=names,
            warmup=args.warmup,
            runs=args.runs,
            reference_runs=args.reference_runs,
            predict_runs=args.predict_runs,
            predict_warmup=min(args.warmup, 3),
            qemu_images=args.qemu_images,
            **{"targets": targets, **more},
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def drop_unbuilt_edges(config: Any, args: MeasureArgs, export_dir: Path) -> Any:
    """Without --target, skip (with a notice) an edge target whose bundle was not exported yet."""
    if args.targets:  # asked for by name: a missing bundle is an error, raised by the bench
        return config
    missing = []
    for name in config.targets:
        bundle = TARGETS[name].bundle
        if bundle is not None and not (export_dir / bundle).is_dir():
            missing.append(name)
            typer.echo(
                f"notice: skipping target {name}: no bundle in {export_dir / bundle}; "
                f"run `mnistedge export --format {bundle}` to measure it.",
                err=True,
            )
    return dataclasses.replace(config, targets=tuple(t for t in config.targets if t not in missing))


def make_console() -> Any:
    """A rich console; wide when output is not a terminal (a log or CI), so the table fits."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 180))

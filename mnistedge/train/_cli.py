"""`mnistedge train`: train an architecture from the registry, or run the LR finder."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from mnistedge.core.deps import require
from mnistedge.train.archs import ARCHS
from mnistedge.train.config import TrainConfig

# Choices come from the registry, so a new architecture needs no change here.
ArchChoice = enum.StrEnum("ArchChoice", {name: name for name in ARCHS})


def _print_archs() -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="mnistedge train --arch NAME (preset settings; flags override them)", show_lines=True)
    table.add_column("arch", no_wrap=True, style="bold")
    table.add_column("model and source", ratio=3)
    table.add_column("preset", ratio=2)
    table.add_column("target", ratio=1)
    for arch in ARCHS.values():
        p = arch.preset
        lr = f"{p.learning_rate:g}" + (" peak, one-cycle" if p.schedule == "one-cycle" else "")
        preset = f"{p.epochs} epochs, batch {p.batch_size}, {p.optimizer}, lr {lr}"
        model = Text(arch.summary)
        model.append(f"\n{arch.source}", style="dim")
        table.add_row(arch.name, model, preset, arch.target.describe())
    Console().print(table)


def train(
    arch: ArchChoice = typer.Option(ArchChoice("cnn"), "--arch", help="Architecture to train."),
    list_archs: bool = typer.Option(False, "--list-archs", help="List the architectures and exit."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override the preset."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Override the preset."),
    learning_rate: float | None = typer.Option(
        None, "--learning-rate", help="Override the preset (the peak rate for one-cycle archs)."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed for weights, shuffling, augmentation."),
    validation_split: float | None = typer.Option(
        None, "--validation-split", help="Fraction of train held out for the curves (0 = none)."
    ),
    out: Path = typer.Option(Path("artifacts"), "--out", help="Output directory."),
    source: Path | None = typer.Option(
        None, "--source", help="MNIST IDX directory or .npz (default: cache, then download)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary line."),
    lr_find: bool = typer.Option(
        False,
        "--lr-find",
        help="Run the learning-rate finder (LR = 1e-4*10^(epoch/20)) instead of training: "
        "writes plots/lr_find.png and lr_find.json and prints a suggested rate.",
    ),
) -> None:
    """Train a model; write model.keras, train.json and plots/ under --out."""
    if list_archs:
        _print_archs()
        return
    try:
        config = TrainConfig(
            arch=arch.value,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            validation_split=validation_split,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc

    # Say what to install before fetching 50 MB of data that could not be used.
    require("tensorflow", "train")
    require("matplotlib", "train")
    from mnistedge.data._cli import load_for_cli

    data = load_for_cli(source, quiet=quiet)
    if not quiet:
        typer.echo(f"data: {data.source} ({len(data.x_train)} train / {len(data.x_test)} test)")

    if lr_find:
        from mnistedge.train.lr_finder import lr_find as run_lr_find

        run_lr_find(config, data, out, quiet=quiet)
        return
    from mnistedge.train.loop import train as run_train

    run_train(config, data, out, quiet=quiet)

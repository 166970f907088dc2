"""`mnistedge data`: fetch, verify and cache MNIST; print where it came from and its checksums."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import typer

from mnistedge.data import MNIST


def load_for_cli(source: Path | None, *, quiet: bool = False) -> MNIST:
    """load_mnist for commands: notices go to stderr, any failure is exit code 1 with the reason."""
    from mnistedge.data import load_mnist

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mnist = load_mnist(source)
        except (ValueError, OSError, RuntimeError) as exc:
            typer.echo(f"Error: cannot load MNIST: {exc}", err=True)
            raise typer.Exit(1) from exc
    if not quiet:
        for warning in caught:
            typer.echo(f"notice: {warning.message}", err=True)
    return mnist


def data(
    source: Path | None = typer.Option(
        None, "--source", help="A directory of IDX files (raw or .gz) or an mnist.npz."
    ),
    show_samples: Path | None = typer.Option(
        None, "--show-samples", help="Write a labelled grid of training digits to this PNG."
    ),
    samples: int = typer.Option(32, "--samples", min=1, max=200, help="Digits in the grid."),
) -> None:
    """Fetch (or read the cache), verify by checksum, and print the four IDX checksums."""
    from rich.console import Console

    from mnistedge.data import CANONICAL_CHECKSUMS

    console = Console()
    started = time.perf_counter()
    mnist = load_for_cli(source)
    elapsed = time.perf_counter() - started

    console.print(f"source:    {mnist.source}")
    console.print(f"cache:     {mnist.cache_path or '(not cached: explicit source)'}")
    console.print(f"train:     {mnist.x_train.shape[0]} images   test: {mnist.x_test.shape[0]} images")
    console.print(f"canonical: {'yes' if mnist.canonical else 'no'}   time: {elapsed:.2f} s")
    # Plain lines, never a table: full checksums must survive a narrow terminal and copy-paste.
    for stream, sums in mnist.checksums.items():
        mark = "[green]canonical[/]" if sums == CANONICAL_CHECKSUMS[stream] else "[red]differs[/]"
        console.print(f"{stream:<13} md5 {sums['md5']}  {mark}", soft_wrap=True)
        console.print(f"{'':<13} sha256 {sums['sha256']}", soft_wrap=True)

    if show_samples is not None:
        from mnistedge.core.grid import save_digit_grid

        n = min(samples, mnist.x_train.shape[0])
        save_digit_grid(
            mnist.x_train[:n],
            [f"label {int(y)}" for y in mnist.y_train[:n]],
            show_samples,
            suptitle=f"First {n} training digits ({mnist.source.split(':')[0]})",
        )
        console.print(f"samples:   {show_samples}")

"""The `mnistedge` command line. Every command is registered here, in one place.

Each command lives beside the code it drives (``mnistedge/<area>/_cli.py``) and
imports heavy libraries (TensorFlow, matplotlib) inside the function body, so
``mnistedge --help`` stays fast and works on a runtime-only install.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from typing import Any

import typer

# TensorFlow's C++ start-up chatter drowns the CLI's own output; users can still override it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mnistedge import __version__
from mnistedge._deps import MissingDependencyError

app = typer.Typer(
    name="mnistedge",
    help="Train an MNIST classifier, export it to TFLite/ONNX, and measure every format.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# name -> "module:function". Order is the order `--help` lists them.
COMMANDS: dict[str, str] = {
    "data": "mnistedge._data_cli:data",
    "train": "mnistedge.train._cli:train",
    "export": "mnistedge.export._cli:export",
    "bench": "mnistedge.bench._cli:bench",
    "run": "mnistedge.bench._run_cli:run",
    "predict": "mnistedge.runtime._cli:predict",
    "inspect": "mnistedge.runtime._cli:inspect",
}


def _friendly_missing_deps(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a missing optional dependency into exit code 1 and the pip command."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MissingDependencyError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from exc

    return wrapper


def _register() -> None:
    for name, target in COMMANDS.items():
        module_name, func_name = target.split(":")
        func = getattr(importlib.import_module(module_name), func_name)
        app.command(name)(_friendly_missing_deps(func))


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mnistedge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """mnistedge: from a Keras MNIST model to measured edge artifacts."""


_register()


def main() -> None:
    """Console-script entry point."""
    app()

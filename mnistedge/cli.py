"""The `mnistedge` command line. Every command is registered here, in one place.

Each command lives beside the code it drives (``mnistedge/<area>/_cli.py``) and
imports heavy libraries (TensorFlow, matplotlib) inside the function body, so
``mnistedge --help`` stays fast and works on a runtime-only install.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import typer

from mnistedge import __version__
from mnistedge.core.deps import MissingDependencyError
from mnistedge.core.logs import quiet_engines, set_verbose

app = typer.Typer(
    name="mnistedge",
    help="Train an MNIST classifier, export it to TFLite/ONNX, and measure every format.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich help prints "<bool>" beside every flag (typer 0.29).
    rich_markup_mode=None,
)

# name -> "module:function". Order is the order `--help` lists them.
COMMANDS: dict[str, str] = {
    "data": "mnistedge.data._cli:data",
    "train": "mnistedge.train._cli:train",
    "export": "mnistedge.export._cli:export",
    "quant-debug": "mnistedge.export.debug._cli:quant_debug",
    "sweep": "mnistedge.export._sweep_cli:sweep",
    "bench": "mnistedge.bench._cli:bench",
    "run": "mnistedge.bench._run_cli:run",
    "predict": "mnistedge.runtime._cli:predict",
    "inspect": "mnistedge.runtime._cli:inspect",
    "serve": "mnistedge.export.web._serve_cli:serve",
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
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show the engines' own logs (TensorFlow, LiteRT, ONNX Runtime)."
    ),
) -> None:
    """mnistedge: from a Keras MNIST model to measured edge artifacts."""
    set_verbose(verbose)
    quiet_engines()


_register()


def main() -> None:
    """Console-script entry point."""
    app()

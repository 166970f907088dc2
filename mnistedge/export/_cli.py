"""`mnistedge export`: write edge artifacts, check each against the Keras model, print the figures."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any

import typer

from mnistedge.core.formats import BUNDLES, resolve
from mnistedge.core.manifest import MANIFEST_NAME
from mnistedge.core.tensors import Quantization
from mnistedge.export.api import DEFAULT_MODEL, DEFAULT_OUT
from mnistedge.export.artifact import Artifact, FidelityError
from mnistedge.export.calibration import CALIBRATION_METHODS
from mnistedge.export.fidelity import DEFAULT_THRESHOLDS
from mnistedge.export.onnx import DEFAULT_OPSET
from mnistedge.export.registry import EXPORTERS
from mnistedge.export.tflite import IO_TYPES

ALL = "all"
# Choices come from the registry, so a new format needs no change here.
FormatChoice = enum.StrEnum("FormatChoice", {name: name for name in (*EXPORTERS, *BUNDLES, ALL)})
IOTypeChoice = enum.StrEnum("IOTypeChoice", {name: name for name in IO_TYPES})
MethodChoice = enum.StrEnum("MethodChoice", {name: name for name in CALIBRATION_METHODS})
_QUANTIZE_HELP = "Default: none. " + "; ".join(
    f"{name}: {', '.join(q.value for q in exporter.quantizations)}" for name, exporter in EXPORTERS.items()
)


def _table(artifacts: list[Artifact]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(
        title="Fidelity vs the Keras model", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    for column in ("file", "KiB", "acc", "Δ pp", "agree", "flips", "max|Δp|", "status"):
        table.add_column(column, justify="left" if column in ("file", "status") else "right", no_wrap=True)
    table.columns[-1].min_width = len("unverified")
    for a in artifacts:
        f = a.fidelity
        figures = (
            [f"{f.accuracy:.2%}", f"{f.accuracy_delta_pp:+.2f}", f"{f.agreement:.2%}", str(f.flipped_count),
             f"{f.max_abs_prob_diff:.1e}"]
            if f else ["-"] * 5
        )  # fmt: skip
        colour = {"ok": "green", "failed": "red"}.get(a.status.value, "yellow")
        table.add_row(a.file, f"{a.size_bytes / 1024:.1f}", *figures, f"[{colour}]{a.status.value}[/]")
    return table


def _plan(fmt: str, quantize: Quantization | None, calibration: Any, thresholds: dict, options: dict) -> list:
    """Check the request with the API's own checks; a bad one exits 2 before any work."""
    from mnistedge.export.api import plan_artifact, plan_edge_artifacts

    valid = "; ".join(f"{n}: {', '.join(q.value for q in e.quantizations)}" for n, e in EXPORTERS.items())
    try:
        if fmt == ALL:
            if quantize is not None:
                raise ValueError(
                    "--format all writes the nine edge artifacts (each format's own quantizations); "
                    "drop --quantize, or pick one --format."
                )
            return plan_edge_artifacts(calibration, thresholds, **options)
        q = quantize or Quantization.NONE
        return [plan_artifact(fmt, q, calibration, thresholds[q.value], **options)]
    except ValueError as exc:
        raise typer.BadParameter(f"{exc} Valid --format/--quantize combinations: {valid}.") from exc


def _flag(option: str) -> str:
    return f"--{option.replace('_', '-')}"


def _bundle_options(name: str, quantize: Quantization | None, options: dict, calibration: Any) -> dict:
    """The options bundle ``name`` takes; per-artifact flags it does not take are refused (exit 2)."""
    takes = BUNDLES[name].options
    refused = [_flag(option) for option in options if option not in takes]
    if quantize is not None:
        refused.insert(0, "--quantize")
    if calibration.method != "minmax":
        refused.append("--calibration-method")
    if refused:
        raise typer.BadParameter(
            f"--format {name} picks its own models (see `mnistedge export --help`); "
            f"drop {', '.join(refused)}, or export that artifact with its own --format."
        )
    return {option: value for option, value in options.items() if option in takes}


def _export_bundle(
    console: Any,
    name: str,
    model: Path,
    out: Path,
    source: Path | None,
    verify: bool,
    calibration: Any,
    options: dict,
) -> None:
    data = None
    try:
        if source is not None:
            from mnistedge.data import load_mnist

            data = load_mnist(source)
        bundle = resolve(BUNDLES[name].builder)(
            model, out_dir=out, data=data, verify=verify,
            calibration_samples=calibration.samples, calibration_seed=calibration.seed, **options,
        )  # fmt: skip
    except FidelityError as exc:
        console.print(_table(list(exc.exported)))
        typer.echo(f"Error: {exc} The previous {name} bundle, if any, is unchanged.", err=True)
        raise typer.Exit(1) from exc
    except (ValueError, OSError, RuntimeError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if bundle.models:  # the artifacts it exported and checked on the way (none for a given .tflite)
        console.print(_table(list(bundle.models)))
    for line in bundle.describe():
        console.print(line)
    console.print(f"manifest: {out / MANIFEST_NAME}")


def export(
    format: FormatChoice = typer.Option(
        ...,
        "--format",
        "-f",
        help="What to write; 'all' = nine edge artifacts; "
        + "; ".join(f"'{b.name}' = {b.summary} (needs {b.tools})" for b in BUNDLES.values())
        + ".",
    ),
    quantize: Quantization | None = typer.Option(None, "--quantize", "-q", help=_QUANTIZE_HELP),
    io_type: IOTypeChoice | None = typer.Option(
        None, "--io-type", help="int8 TFLite I/O type (default int8)."
    ),
    calibration_samples: int = typer.Option(
        500, "--calibration-samples", min=1, help="int8 / int16x8 calibration images."
    ),
    calibration_seed: int = typer.Option(0, "--calibration-seed", help="Seed of the balanced draw."),
    calibration_method: MethodChoice = typer.Option(
        "minmax", "--calibration-method", help="ONNX int8 ranges."
    ),
    opset: int | None = typer.Option(None, "--opset", help=f"ONNX opset (default {DEFAULT_OPSET})."),
    batch: int | None = typer.Option(
        None, "--batch", min=1, help="TFLite: fix the batch dimension (LiteRT.js needs it). Default: dynamic."
    ),
    c_name: str | None = typer.Option(
        None,
        "--name",
        help="tflm, c: the C name (tflm: g_NAME, NAME_register_ops; c: NAME.h, NAME_invoke). "
        "Default: mnist_model.",
    ),
    qemu_images: int | None = typer.Option(
        None,
        "--qemu-images",
        min=0,
        help="c: test images run on the Cortex-M4 under QEMU (0 skips). Default: 1000.",
    ),
    model: Path = typer.Option(
        DEFAULT_MODEL, "--model", help="The trained Keras model (tflm, c: or an int8 .tflite)."
    ),
    out: Path = typer.Option(
        DEFAULT_OUT,
        "--out",
        help="Export root: files + manifest.json; folder formats in OUT/<name>/.",
    ),
    source: Path | None = typer.Option(
        None, "--source", help="MNIST IDX directory or .npz (default: cache)."
    ),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check each artifact on the test set."),
    min_agreement: float | None = typer.Option(None, "--min-agreement", min=0, max=1, help="Override, 0-1."),
    max_prob_diff: float | None = typer.Option(None, "--max-prob-diff", min=0, help="Override max|Δp|."),
    max_accuracy_drop: float | None = typer.Option(None, "--max-accuracy-drop", min=0, help="Override, pp."),
) -> None:
    """Export to TFLite/ONNX/SavedModel or an edge bundle (web, tflm, c); prove each matches Keras."""
    from rich.console import Console

    from mnistedge.export.api import run_jobs
    from mnistedge.export.calibration import CalibrationConfig

    overrides = {
        k: v
        for k, v in {"min_agreement": min_agreement, "max_abs_prob_diff": max_prob_diff,
                     "max_accuracy_drop_pp": max_accuracy_drop}.items()
        if v is not None
    }  # fmt: skip
    thresholds = {q.value: dataclasses.replace(t, **overrides) for q, t in DEFAULT_THRESHOLDS.items()}
    given = {"opset": opset, "io_type": io_type and io_type.value, "batch": batch, "name": c_name}
    given["qemu_images"] = qemu_images
    options = {k: v for k, v in given.items() if v is not None}
    calibration = CalibrationConfig(calibration_samples, calibration_seed, calibration_method.value)
    console = Console()
    if format.value in BUNDLES:
        own = _bundle_options(format.value, quantize, options, calibration)
        _export_bundle(console, format.value, model, out, source, verify, calibration, own)
        return
    for option, value in (("name", c_name), ("qemu_images", qemu_images)):
        if value is not None:
            takes = [n for n, b in BUNDLES.items() if option in b.options]
            raise typer.BadParameter(f"{_flag(option)} applies to --format {' or '.join(takes)} only.")
    jobs = _plan(format.value, quantize, calibration, thresholds, options)
    try:
        data = None
        if source is not None:
            from mnistedge.data import load_mnist

            data = load_mnist(source)
        artifacts = run_jobs(jobs, model, out, data, verify)
    except FidelityError as exc:
        console.print(_table(list(exc.exported)))
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except (ValueError, OSError, RuntimeError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    console.print(_table(artifacts))
    console.print(f"manifest: {out / MANIFEST_NAME}")

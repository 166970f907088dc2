"""`mnistedge export`: write edge artifacts, check each against the Keras model, print the figures."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any

import typer

from mnistedge.export.artifact import Artifact, Quantization
from mnistedge.export.calibration import CALIBRATION_METHODS
from mnistedge.export.fidelity import DEFAULT_THRESHOLDS, Thresholds
from mnistedge.export.registry import EDGE_ARTIFACTS, EXPORTERS
from mnistedge.export.tflite import IO_TYPES

ALL = "all"
# Choices come from the registry, so a new format needs no change here.
FormatChoice = enum.StrEnum("FormatChoice", {name: name for name in (*EXPORTERS, ALL)})
IOTypeChoice = enum.StrEnum("IOTypeChoice", {name: name for name in IO_TYPES})
MethodChoice = enum.StrEnum("MethodChoice", {name: name for name in CALIBRATION_METHODS})


def _selection(fmt: str, quantize: Quantization | None) -> list[tuple[str, Quantization]]:
    if fmt == ALL:
        if quantize is not None:
            raise typer.BadParameter(
                "--format all writes the six edge artifacts (each format's own quantizations); "
                "drop --quantize, or pick one --format.",
                param_hint="--quantize",
            )
        return list(EDGE_ARTIFACTS)
    return [(fmt, quantize or Quantization.NONE)]


def _check(selection: list[tuple[str, Quantization]], options: dict[str, Any], method: str) -> None:
    """Reject bad combinations with exit 2 before any data is loaded or model converted."""
    if options.get("io_type") is not None and not any(
        "io_type" in EXPORTERS[f].options for f, _ in selection
    ):
        raise typer.BadParameter("--io-type applies to --format tflite only.", param_hint="--io-type")
    valid = "; ".join(f"{n}: {', '.join(q.value for q in e.quantizations)}" for n, e in EXPORTERS.items())
    for fmt, quantization in selection:
        exporter = EXPORTERS[fmt]
        try:
            exporter.resolve(quantization, _own(fmt, options))
        except ValueError as exc:
            raise typer.BadParameter(f"{exc} Valid --format/--quantize combinations: {valid}.") from exc
        if (
            len(selection) == 1
            and quantization is Quantization.INT8
            and method not in exporter.calibration_methods
        ):
            raise typer.BadParameter(
                f"{fmt} int8 calibrates with {', '.join(exporter.calibration_methods)} only, not {method!r}.",
                param_hint="--calibration-method",
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


def export(
    format: FormatChoice = typer.Option(
        ..., "--format", "-f", help="What to write; 'all' = six edge artifacts."
    ),
    quantize: Quantization | None = typer.Option(None, "--quantize", "-q", help="Default: none."),
    io_type: IOTypeChoice | None = typer.Option(
        None, "--io-type", help="int8 TFLite I/O type (default int8)."
    ),
    calibration_samples: int = typer.Option(
        500, "--calibration-samples", min=1, help="int8 calibration images."
    ),
    calibration_seed: int = typer.Option(0, "--calibration-seed", help="Seed of the balanced draw."),
    calibration_method: MethodChoice = typer.Option(
        "minmax", "--calibration-method", help="ONNX int8 ranges."
    ),
    opset: int = typer.Option(17, "--opset", help="ONNX opset (13-18)."),
    model: Path = typer.Option(Path("artifacts/model.keras"), "--model", help="The trained Keras model."),
    out: Path = typer.Option(Path("artifacts/export"), "--out", help="Artifacts and manifest.json go here."),
    source: Path | None = typer.Option(
        None, "--source", help="MNIST IDX directory or .npz (default: cache)."
    ),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check each artifact on the test set."),
    min_agreement: float | None = typer.Option(None, "--min-agreement", min=0, max=1, help="Override, 0-1."),
    max_prob_diff: float | None = typer.Option(None, "--max-prob-diff", min=0, help="Override max|Δp|."),
    max_accuracy_drop: float | None = typer.Option(None, "--max-accuracy-drop", min=0, help="Override, pp."),
) -> None:
    """Export the Keras model to TFLite/ONNX/SavedModel and prove each artifact matches it."""
    from rich.console import Console

    from mnistedge.export import FidelityError, export_all, export_artifact

    selection = _selection(format.value, quantize)
    options: dict[str, Any] = {"opset": opset, "io_type": io_type.value if io_type else None}
    _check(selection, options, calibration_method.value)

    overrides = {
        k: v
        for k, v in {"min_agreement": min_agreement, "max_abs_prob_diff": max_prob_diff,
                     "max_accuracy_drop_pp": max_accuracy_drop}.items()
        if v is not None
    }  # fmt: skip
    thresholds: dict[str, Thresholds] = {
        q.value: dataclasses.replace(DEFAULT_THRESHOLDS[q], **overrides) for _, q in selection
    }
    common: dict[str, Any] = {
        "out_dir": out,
        "verify": verify,
        "calibration_samples": calibration_samples,
        "calibration_seed": calibration_seed,
        "calibration_method": calibration_method.value,
    }
    console = Console()
    try:
        if source is not None:
            from mnistedge.data import load_mnist

            common["data"] = load_mnist(source)
        if format.value == ALL:
            artifacts = export_all(model, thresholds=thresholds, **common, **options)
        else:
            fmt, q = selection[0]
            artifacts = [
                export_artifact(model, fmt, quantize=q, thresholds=thresholds[q.value], **common,
                                **_own(fmt, options))
            ]  # fmt: skip
    except FidelityError as exc:
        console.print(_table(list(exc.exported)))
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except (ValueError, OSError, RuntimeError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    console.print(_table(artifacts))
    console.print(f"manifest: {out / 'manifest.json'}")


def _own(fmt: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options that ``fmt`` takes (``--opset`` always has a value; only ONNX uses it)."""
    return {k: v for k, v in options.items() if k in EXPORTERS[fmt].options}

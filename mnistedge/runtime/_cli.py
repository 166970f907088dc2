"""`mnistedge predict` and `mnistedge inspect`: the runtime from the command line."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import typer

__all__ = ["MEAN_OPTION", "OUTPUT_OPTION", "SCALE_OPTION", "STD_OPTION", "inspect", "predict"]

_PROVIDER_HELP = "auto, cpu, cuda, tensorrt, openvino, coreml, directml, xnnpack, or an ORT name."
_NORM_HELP = "Model input = (pixel * scale - mean) / std for 0-255 pixels; default: manifest.json, else "


def _number(value: str | None) -> float | None:
    """A float or a fraction ("0.00392156862745098", "1/255"), for --scale/--mean/--std."""
    if value is None:
        return None
    try:
        return float(Fraction(value.strip()))
    except (ValueError, ZeroDivisionError):
        raise typer.BadParameter(
            f"{value!r} is not a number; give a float like 0.00392156862745098 or a fraction like 1/255"
        ) from None


def _output_kind(value: str | None) -> str | None:
    from mnistedge.core.contract import check_output_kind

    try:
        return check_output_kind(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


# How load() feeds a model (--scale/--mean/--std/--output); bench uses them for --extra-model too.
SCALE_OPTION = typer.Option(
    None, "--scale", callback=_number, help=_NORM_HELP + "1 (1/255 for a [0, 1] model)."
)
MEAN_OPTION = typer.Option(
    None, "--mean", callback=_number, help=_NORM_HELP + "0 (torchvision's MNIST: 0.1307)."
)
STD_OPTION = typer.Option(
    None, "--std", callback=_number, help=_NORM_HELP + "1 (torchvision's MNIST: 0.3081)."
)
OUTPUT_OPTION = typer.Option(
    None,
    "--output",
    callback=_output_kind,
    help="probabilities | logits (softmax applied); default: probabilities if the graph ends in Softmax.",
)


@contextlib.contextmanager
def _engines_quiet() -> Iterator[None]:
    """Hold back what engines print from C++ while loading (LiteRT's "Created TensorFlow Lite
    XNNPACK delegate" line), but still show Python warnings (provider fallback, a failed artifact)."""
    from mnistedge.core.logs import native_stderr_silenced

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught, native_stderr_silenced():
            yield
    finally:
        for warning in caught:
            typer.echo(f"Warning: {warning.message}", err=True)


def _images(path: Path, raw: bool) -> list[tuple[str, np.ndarray]]:
    """(label, 28x28 uint8) for one file; a .npy may hold a batch (N, H, W)."""
    from mnistedge.runtime.preprocess import IMAGE_SUFFIXES, load_image, preprocess_file

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unsupported image type; use one of {', '.join(IMAGE_SUFFIXES)}")
    if path.suffix.lower() == ".npy":
        array = np.load(path, allow_pickle=False)
        if array.ndim == 4 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim == 3 and array.shape[-1] not in (1, 3, 4):  # a batch of grayscale images
            return [(f"{path}[{i}]", _one(array[i], f"{path}[{i}]", raw)) for i in range(len(array))]
        return [(str(path), _one(array, str(path), raw))]
    if raw:
        return [(str(path), _one(load_image(path), str(path), raw=True))]
    return [(str(path), preprocess_file(path))]


def _one(array: np.ndarray, label: str, raw: bool) -> np.ndarray:
    from mnistedge.runtime.preprocess import gray_from_array, to_mnist

    gray = gray_from_array(np.asarray(array), label)
    if raw:
        if gray.shape != (28, 28):
            raise ValueError(f"{label}: --raw needs a 28x28 image, got {gray.shape}")
        return np.rint(gray).astype(np.uint8)
    try:
        return to_mnist(gray)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None


def _show_path(image_path: Path, index: int | None) -> Path:
    stem = image_path.stem if index is None else f"{image_path.stem}_{index}"
    return image_path.with_name(f"{stem}.mnist.png")


def predict(
    model: Path = typer.Argument(..., help="A .tflite or .onnx model."),
    images: list[Path] = typer.Argument(..., help="PNG/JPEG/... photos or scans, or .npy arrays."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one object) instead of text."),
    show: bool = typer.Option(
        False, "--show", help="Write the preprocessed 28x28 beside each image (<name>.mnist.png)."
    ),
    raw: bool = typer.Option(False, "--raw", help="Images are already MNIST-style 28x28: no preprocessing."),
    provider: str = typer.Option("auto", "--provider", help=_PROVIDER_HELP),
    threads: int | None = typer.Option(None, "--threads", min=1, help="Engine threads."),
    scale: str | None = SCALE_OPTION,  # a float by the time the body runs (the callback parses it)
    mean: str | None = MEAN_OPTION,
    std: str | None = STD_OPTION,
    output: str | None = OUTPUT_OPTION,
) -> None:
    """Classify handwritten digits: MNIST-style preprocessing, then the digit and top-3."""
    from mnistedge.core.io import atomic_write_bytes
    from mnistedge.runtime import load
    from mnistedge.runtime.preprocess import to_png_bytes

    try:
        with _engines_quiet():
            convention = {"scale": scale, "mean": mean, "std": std, "output": output}
            clf = load(model, provider=provider, threads=threads, **convention)
        batch: list[tuple[str, Path, int | None, np.ndarray]] = []
        for path in images:
            found = _images(path, raw)
            for i, (label, image) in enumerate(found):
                batch.append((label, path, i if len(found) > 1 else None, image))
    except (ValueError, OSError, RuntimeError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    probabilities = clf.predict_proba(np.stack([image for *_, image in batch]))
    results: list[dict[str, Any]] = []
    for (label, path, index, image), proba in zip(batch, probabilities, strict=True):
        top = np.argsort(proba)[::-1][:3]
        result: dict[str, Any] = {
            "image": label,
            "digit": int(top[0]),
            "top3": [{"digit": int(d), "probability": round(float(proba[d]), 6)} for d in top],
            "probabilities": [round(float(p), 6) for p in proba],
        }
        if show:
            out = _show_path(path, index)
            atomic_write_bytes(out, to_png_bytes(image))
            result["preprocessed"] = str(out)
        results.append(result)
    if as_json:
        typer.echo(json.dumps({"model": str(model), "info": clf.info.to_dict(), "results": results}))
        return
    for r in results:
        top3 = ", ".join(f"{t['digit']}: {t['probability']:.3f}" for t in r["top3"])
        shown = f"  -> {r['preprocessed']}" if "preprocessed" in r else ""
        typer.echo(f"{r['image']}: {r['digit']}   (top-3 {top3}){shown}")


def inspect(
    model: Path = typer.Argument(..., help="A .tflite or .onnx model."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    provider: str = typer.Option("auto", "--provider", help=_PROVIDER_HELP),
    scale: str | None = SCALE_OPTION,
    mean: str | None = MEAN_OPTION,
    std: str | None = STD_OPTION,
    output: str | None = OUTPUT_OPTION,
) -> None:
    """Show a model's format, I/O tensors, convention, quantization, ops, size, sha256 and manifest match."""
    from mnistedge.runtime.inspect import inspect_model

    try:
        with _engines_quiet():
            report = inspect_model(model, provider=provider, scale=scale, mean=mean, std=std, output=output)
    except (ValueError, OSError, RuntimeError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=str(model), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    manifest = report.manifest
    if report.manifest == "mismatch":
        manifest += f" (manifest expects {report.manifest_sha256})"
    rows = {
        "format": f"{report.format} ({report.quantization})",
        "engine": f"{report.engine} / {report.provider}",
        "size": f"{report.size_bytes:,} bytes",
        "sha256": report.sha256,
        "manifest": manifest,
        "input": _spec_text(report.input),
        "output": _spec_text(report.output),
        "convention": _convention_text(report.convention),
        "ops": ", ".join(f"{k} x{v}" for k, v in report.op_counts.items())
        if report.op_counts is not None
        else str(report.op_counts_note),
    }
    for key, value in rows.items():
        table.add_row(key, value)
    Console().print(table)


def _convention_text(convention: Any) -> str:
    n = convention.normalization
    batch = "any batch" if convention.batch is None else f"fixed batch {convention.batch}"
    kind = "logits (softmax applied)" if convention.output == "logits" else "probabilities"
    return f"{convention.layout}, {batch}, {kind}; input = (pixel * {n.scale:g} - {n.mean:g}) / {n.std:g}"


def _spec_text(spec: Any) -> str:
    quant = f", scale {spec.scale:g}, zero-point {spec.zero_point}" if spec.quantized else ""
    return f"{spec.name!r} {list(spec.shape)} {spec.dtype}{quant}"

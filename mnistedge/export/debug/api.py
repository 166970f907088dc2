"""``debug_quantization``: where the int8 artifacts of a Keras model lose accuracy, layer by layer."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.contract import MODEL_INPUT_SHAPE
from mnistedge.core.io import sha256_file
from mnistedge.core.manifest import MANIFEST_NAME, read_manifest
from mnistedge.export.calibration import CalibrationConfig, Dataset, calibration_set
from mnistedge.export.debug.layers import KerasLayer, assign_layers, keras_layers
from mnistedge.export.debug.stats import EngineDebug, engine_debug

__all__ = ["INT8_FILES", "DebugReport", "debug_quantization", "int8_entries"]

PathLike = str | os.PathLike[str]
# The int8 artifact each engine's debugger reads: what `mnistedge export` names it by default.
INT8_FILES = {"tflite": "model_int8.tflite", "onnx": "model_int8.onnx"}
DEFAULT_IMAGES = 1000


@dataclass(frozen=True)
class DebugReport:
    """Both engines' int8 artifacts against float, per layer of one Keras model."""

    model: str  # the .keras file
    export_dir: str
    n_images: int  # test images the activations were compared on (seeded sample)
    keras_layers: tuple[KerasLayer, ...]
    engines: tuple[EngineDebug, ...]
    missing: tuple[str, ...]  # engines whose int8 artifact is not in the export folder

    def engine(self, name: str) -> EngineDebug | None:
        return next((e for e in self.engines if e.engine == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "export_dir": self.export_dir,
            "n_images": self.n_images,
            "metric": "sqnr_db = 20 log10(|float| / |float - int8|) per activation, int8 upstream; "
            "own_sqnr_db = SQNR of the noise a layer adds (its output noise power minus its input's)",
            "keras_layers": [layer.to_dict() for layer in self.keras_layers],
            "engines": {e.engine: e.to_dict() for e in self.engines},
            "missing": list(self.missing),
        }


def _export_hint(model: Path, out: Path, fmt: str) -> str:
    return f"mnistedge export --format {fmt} --quantize int8 --model {model} --out {out}"


def _check_model_path(model: Path, out: Path) -> None:
    """A .tflite/.onnx given as --model gets told what to pass instead."""
    if model.suffix.lower() not in (".tflite", ".onnx"):
        if not model.is_file():
            raise FileNotFoundError(
                f"No Keras model at {model}. Train one with `mnistedge train`, or pass --model PATH."
            )
        return
    entry = read_manifest(model.parent)["artifacts"].get(model.name, {}) if model.is_file() else {}
    fmt = "tflite" if model.suffix.lower() == ".tflite" else "onnx"
    if entry.get("quantization", "int8" if "int8" in model.name else "none") != "int8":
        raise ValueError(
            f"{model} is a float artifact: quant-debug compares an int8 artifact with the Keras model "
            "it came from. Export the int8 one first: "
            f"`{_export_hint(Path('MODEL.keras'), model.parent, fmt)}`, then pass the .keras model as "
            "--model and that folder as --out."
        )
    source = entry.get("source_model", {}).get("file", "model.keras")
    raise ValueError(
        f"{model} is an int8 artifact; quant-debug needs the Keras model it came from ({source}) as "
        f"--model and the folder holding {model.name} and manifest.json as --out."
    )


def int8_entries(model: Path, out: Path) -> tuple[dict[str, dict[str, Any]], tuple[str, ...]]:
    """The int8 manifest entries quant-debug reads (engine -> entry) and the engines missing one.

    Raises:
        ValueError: neither int8 artifact is there (the message says how to export them), or one
            was exported from another model.
    """
    _check_model_path(model, out)
    artifacts = read_manifest(out)["artifacts"] if (out / MANIFEST_NAME).is_file() else {}
    found = {
        engine: artifacts[name]
        for engine, name in INT8_FILES.items()
        if name in artifacts and (out / name).is_file()
    }
    if not found:
        present = ", ".join(sorted(artifacts)) or "nothing"
        raise ValueError(
            f"No int8 artifact in {out} (it holds: {present}). quant-debug compares the int8 TFLite "
            f"and ONNX artifacts with float: export them first, `{_export_hint(model, out, 'tflite')}` "
            f"and `{_export_hint(model, out, 'onnx')}` (or --format all)."
        )
    digest = sha256_file(model)
    for engine, entry in found.items():
        source = entry.get("source_model", {})
        if source.get("sha256") not in (None, digest):
            raise ValueError(
                f"{out / INT8_FILES[engine]} was exported from another model ({source.get('file')}, "
                f"sha256 {str(source.get('sha256'))[:12]}…), not {model}. Re-export it: "
                f"`{_export_hint(model, out, engine)}`, or pass the right --model."
            )
    return found, tuple(engine for engine in INT8_FILES if engine not in found)


def calibration_of(entry: dict[str, Any]) -> CalibrationConfig:
    """The calibration an int8 entry was exported with (its manifest record)."""
    recorded = entry.get("calibration") or {}
    return CalibrationConfig(
        samples=int(recorded.get("samples", 500)),
        seed=int(recorded.get("seed", 0)),
        method=str(recorded.get("method", "minmax")),
    )


def debug_images(data: Dataset, n: int, seed: int = 0) -> np.ndarray:
    """A seeded sample of ``n`` test images as float32 model input (all of them when n >= 10k)."""
    x = data.x_test
    chosen = (
        np.arange(len(x)) if n >= len(x) else np.sort(np.random.default_rng(seed).choice(len(x), n, False))
    )
    return x[chosen].reshape(-1, *MODEL_INPUT_SHAPE).astype(np.float32)


def _debug_tflite(keras_model: Any, layers: list[KerasLayer], entry: dict, out: Path, data: Dataset,
                  images: np.ndarray) -> EngineDebug:  # fmt: skip
    from mnistedge.export.debug.engines import TFLITE_WEIGHTED, tflite_activations, tflite_calibrated

    calibration = calibration_set(data, calibration_of(entry)).images
    calibrated = tflite_calibrated(keras_model, calibration)
    acts = tflite_activations(calibrated, (out / INT8_FILES["tflite"]).read_bytes(), images)
    nodes = assign_layers(acts.nodes, layers, keras_model.name, TFLITE_WEIGHTED)
    acts = type(acts)(tuple(nodes), acts.float, acts.quantized, acts.grids)
    return engine_debug("tflite", INT8_FILES["tflite"], acts, layers)


def _debug_onnx(keras_model: Any, layers: list[KerasLayer], entry: dict, out: Path,
                images: np.ndarray) -> EngineDebug:  # fmt: skip
    from mnistedge.export.debug.onnx_engine import ONNX_WEIGHTED, onnx_activations, onnx_prepared
    from mnistedge.export.onnx import DEFAULT_OPSET

    opset = int((entry.get("converter") or {}).get("opset") or DEFAULT_OPSET)
    with tempfile.TemporaryDirectory(prefix="mnistedge-debug-") as tmp:
        work = Path(tmp)
        prepared = onnx_prepared(keras_model, opset, work)
        acts = onnx_activations(prepared, out / INT8_FILES["onnx"], images, work)
    nodes = assign_layers(acts.nodes, layers, keras_model.name, ONNX_WEIGHTED)
    acts = type(acts)(tuple(nodes), acts.float, acts.quantized, acts.grids)
    return engine_debug("onnx", INT8_FILES["onnx"], acts, layers)


def debug_quantization(
    model: PathLike,
    out_dir: PathLike,
    *,
    data: Dataset | None = None,
    images: int = DEFAULT_IMAGES,
    seed: int = 0,
) -> DebugReport:
    """Compare each int8 artifact in ``out_dir`` with float, activation by activation.

    Args:
        model: the ``.keras`` file the artifacts were exported from.
        out_dir: the export folder (``model_int8.tflite`` / ``model_int8.onnx`` and manifest.json).
        data: MNIST or look-alike: calibration draws from ``x_train`` as the export did, the
            comparison runs on a seeded sample of ``images`` test images. Default: ``load_mnist()``.

    Raises:
        FileNotFoundError / ValueError: no Keras model, no int8 artifact (the message names the
            export command), an artifact from another model, or ``images`` < 1.
    """
    model_path, out = Path(model), Path(out_dir)
    if images < 1:
        raise ValueError(f"images must be >= 1, got {images}. Try {DEFAULT_IMAGES}.")
    entries, missing = int8_entries(model_path, out)
    if data is None:
        from mnistedge.data import load_mnist

        data = load_mnist()
    from mnistedge.export._graph import load_keras_model

    keras_model = load_keras_model(model_path)
    layers = keras_layers(keras_model)
    sample = debug_images(data, images, seed)
    engines = []
    if "tflite" in entries:
        engines.append(_debug_tflite(keras_model, layers, entries["tflite"], out, data, sample))
    if "onnx" in entries:
        engines.append(_debug_onnx(keras_model, layers, entries["onnx"], out, sample))
    return DebugReport(
        model=str(model_path),
        export_dir=str(out),
        n_images=len(sample),
        keras_layers=tuple(layers),
        engines=tuple(engines),
        missing=missing,
    )

"""``export_tflm``: the full-int8 model as TFLM sources, with its arena, board fit and fidelity measured.

``<export root>/tflm/`` holds ``model_data.h``/``.cc`` (the flatbuffer as a C array),
``model_ops.h`` (a ``MicroMutableOpResolver`` registering exactly the model's ops) and
``tflm.json`` (ops, I/O quantization, flash bytes, the host-measured minimum and recommended
arena, the board-fit table and TFLM's fidelity against LiteRT). It is written to a temporary
folder and swapped in: a failed export leaves the previous one as it was.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge import __version__
from mnistedge.core.io import atomic_directory, atomic_write_json, atomic_write_text, digest
from mnistedge.core.manifest import update_manifest
from mnistedge.core.tensors import Quantization, Status
from mnistedge.export.api import DEFAULT_OUT, plan_artifact, run_jobs
from mnistedge.export.artifact import Artifact
from mnistedge.export.calibration import CalibrationConfig, Dataset
from mnistedge.export.fidelity import DEFAULT_THRESHOLDS

__all__ = [
    "DEFAULT_NAME",
    "SCHEMA_VERSION",
    "TFLM_FOLDER",
    "TflmBundle",
    "export_tflm",
    "int8_artifact",
    "int8_source",
]

TFLM_FOLDER = "tflm"
DEFAULT_NAME = "mnist_model"
SCHEMA_VERSION = 2  # 2: fidelity entries name the engine's accuracy "accuracy" (was "tflm_accuracy")
INT8_HINT = (
    "--format tflm and --format c need the full-int8 TFLite artifact with int8 input and output: "
    "model_int8.tflite (mnistedge export --format tflite --quantize int8), or pass the Keras model and "
    "it is exported first"
)


@dataclass(frozen=True)
class TflmBundle:
    """A written ``tflm/`` folder and what was measured for it."""

    path: Path
    models: tuple[Artifact, ...]  # the int8 source artifact (exported now, or the one given)
    record: dict[str, Any]  # tflm.json

    def describe(self) -> list[str]:
        arena, record = self.record["arena"], self.record
        lines = [
            f"ops ({record['op_count']}): {', '.join(record['ops'])}",
            f"model flash: {record['flash_bytes']:,} bytes; arena (host-measured): minimum "
            f"{arena['minimum_bytes']:,} bytes, recommended {arena['recommended_bytes']:,} bytes "
            f"(≈{arena['estimated_32bit_bytes']:,} on a 32-bit MCU, estimated)",
        ]
        for c in record.get("fidelity") or []:
            lines.append(
                f"TFLM vs {c['description']}: {100 * c['label_agreement']:.2f} % labels agree, "
                f"{c['outputs_differing']} int8 outputs differ (max {c['max_lsb']} LSB) on {c['n']:,} images"
            )
        fits = [b["board"] for b in record["boards"] if b["fits"]]
        lines.append(f"fits: {', '.join(fits) if fits else 'none of the listed boards'}")
        lines.append(f"sources: {self.path}")
        return lines


def int8_source(path: Path) -> dict[str, Any]:
    """Check that ``path`` is a full-int8 TFLite file with int8 I/O; return its I/O specs.

    Raises:
        ValueError: not a TFLite flatbuffer, or float / uint8 I/O (the message names the artifact to use).
    """
    from ai_edge_litert.interpreter import Interpreter

    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(f"{path} is not a TFLite flatbuffer (no 'TFL3' identifier). {INT8_HINT}.")
    try:
        interpreter = Interpreter(model_content=data)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"{path}: LiteRT cannot read it ({exc}). {INT8_HINT}.") from None
    specs = {}
    for side, detail in (
        ("input", interpreter.get_input_details()[0]),
        ("output", interpreter.get_output_details()[0]),
    ):
        dtype = np.dtype(detail["dtype"]).name
        if dtype != "int8":
            kind = "a float model" if dtype.startswith("float") else f"a model with {dtype} {side}"
            raise ValueError(f"{path} is {kind} ({side} {dtype}). {INT8_HINT}.")
        scale, zero_point = detail["quantization"]
        shape = [int(d) for d in detail["shape"]]
        specs[side] = {"name": str(detail["name"]), "shape": shape, "dtype": dtype,
                       "scale": float(scale), "zero_point": int(zero_point)}  # fmt: skip
    return specs


def int8_artifact(
    model: Path,
    out: Path,
    data: Dataset | None,
    verify: bool,
    calibration: CalibrationConfig,
    fmt: str = "tflm",
) -> tuple[Path, tuple[Artifact, ...]]:
    """The int8 .tflite to compile: the given one, or the Keras model exported (and checked) now."""
    if model.suffix == ".tflite":
        if not model.is_file():
            raise FileNotFoundError(f"no file at {model}. {INT8_HINT}.")
        return model, ()
    if model.suffix != ".keras":
        raise ValueError(
            f"{model}: --model for --format {fmt} is a .keras model or an int8 .tflite. {INT8_HINT}."
        )
    job = plan_artifact("tflite", Quantization.INT8, calibration, DEFAULT_THRESHOLDS[Quantization.INT8])
    artifacts = run_jobs([job], model, out, data, verify)
    return artifacts[0].path, tuple(artifacts)


def _fidelity(path: Path, data: Dataset, arena_bytes: int) -> list[dict[str, Any]]:
    """TFLM, run with exactly the recommended arena, against LiteRT's two kernel sets on the test set."""
    from mnistedge.export.tflm.arena import run_with_arena
    from mnistedge.export.tflm.fidelity import compare_with_litert

    _, comparisons = compare_with_litert(
        path, data.x_test, data.y_test, lambda tensors: run_with_arena(path, arena_bytes, tensors)
    )
    return [c.to_dict() for c in comparisons]


def export_tflm(
    model: str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str] = DEFAULT_OUT,
    data: Dataset | None = None,
    verify: bool = True,
    calibration_samples: int = 500,
    calibration_seed: int = 0,
    name: str = DEFAULT_NAME,
) -> TflmBundle:
    """Write ``out_dir/tflm/`` for a Keras model (exported to int8 first) or an int8 ``.tflite``.

    Args:
        model: a ``.keras`` file, or a full-int8 ``.tflite`` with int8 input and output.
        name: the C name stem: ``g_<name>``, ``<name>_register_ops``.
        verify: run TFLM on the 10,000 test images and compare with LiteRT (reference, optimized
            and XNNPACK kernels); the Keras model's own export check runs too when it is Keras.

    Raises:
        ValueError: a bad name, a float or non-TFLite model (the message names the artifact to
            use), an op TFLM cannot register, or an arena that cannot be found.
        MissingDependencyError: tflite-micro is not installed (``pip install 'mnistedge[micro]'``).
    """
    from mnistedge.core.deps import require
    from mnistedge.export.tflm.arena import measure_arena
    from mnistedge.export.tflm.boards import TFLM_RUNTIME_ESTIMATE, board_fit
    from mnistedge.export.tflm.sources import c_identifier, model_data_sources, model_ops, model_ops_header

    name = c_identifier(name)
    require("tflite_micro", "micro", package="tflite-micro")  # before any conversion
    out, model = Path(out_dir), Path(model)
    calibration = CalibrationConfig(calibration_samples, calibration_seed, "minmax")
    source_path, exported = int8_artifact(model, out, data, verify, calibration)
    specs = int8_source(source_path)
    flatbuffer = source_path.read_bytes()
    size, sha256 = digest(source_path)
    ops = model_ops(flatbuffer)
    arena = measure_arena(flatbuffer)
    fidelity = None
    if verify:
        if data is None:
            from mnistedge.data import load_mnist

            data = load_mnist()
        fidelity = _fidelity(source_path, data, arena.recommended_bytes)
    boards = board_fit(size, arena.recommended_bytes)
    record = {
        "schema_version": SCHEMA_VERSION,
        "generator": f"mnistedge {__version__}",
        "name": name,
        "source": {"file": source_path.name, "sha256": sha256, "size_bytes": size},
        "input": specs["input"],
        "output": specs["output"],
        "ops": ops,
        "op_count": len(ops),
        "flash_bytes": size,
        "arena": {**arena.to_dict(), "host_measured": True},
        "runtime_estimate": TFLM_RUNTIME_ESTIMATE.to_dict(),
        "boards": [fit.to_dict() for fit in boards],
        "fidelity": fidelity,  # None with verify=False
        "host": f"{platform.machine()} {platform.system()}",
    }
    source_info = {"file": source_path.name, "sha256": sha256, "size_bytes": size, **specs}
    with atomic_directory(out / TFLM_FOLDER) as tmp:
        for file, text in model_data_sources(flatbuffer, name=name, source=source_info).items():
            atomic_write_text(tmp / file, text)
        atomic_write_text(tmp / "model_ops.h", model_ops_header(ops, name=name))
        atomic_write_json(tmp / "tflm.json", record)
        # The flatbuffer itself too: the bench runs it in TFLM, and a user can diff it with the array.
        (tmp / source_path.name).write_bytes(flatbuffer)
    final = out / TFLM_FOLDER
    failed = any(c["label_agreement"] < 0.999 for c in fidelity or [] if c["against"] == "reference")
    status = Status.UNVERIFIED if fidelity is None else (Status.FAILED if failed else Status.OK)
    update_manifest(out, {
        "file": TFLM_FOLDER, "format": "tflm", "status": status.value, "source": record["source"],
        "name": name, "ops": ops, "flash_bytes": size, "arena_recommended_bytes": arena.recommended_bytes,
    })  # fmt: skip
    return TflmBundle(path=final, models=exported, record=record)

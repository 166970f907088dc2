"""TensorFlow SavedModel export (Keras ``ExportArchive``), for completeness: servers, not edges."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.contract import INPUT_NAME, MODEL_INPUT_SHAPE, NUM_CLASSES, OUTPUT_NAME
from mnistedge.core.deps import require
from mnistedge.core.env import library_versions
from mnistedge.core.formats import FORMATS
from mnistedge.core.io import atomic_directory
from mnistedge.core.tensors import Quantization, TensorSpec
from mnistedge.export._exporter import Exporter, Written
from mnistedge.export._graph import as_model_input, write_saved_model
from mnistedge.export.calibration import CalibrationSet

__all__ = ["EXPORTER", "saved_model_probabilities", "write_saved_model_artifact"]


def write_saved_model_artifact(
    model: Any, path: Path, quantization: Quantization, calibration: CalibrationSet | None = None
) -> Written:
    """Write ``model`` as a SavedModel directory at ``path`` with a ``serve`` endpoint."""
    require("tensorflow", "export")
    with atomic_directory(path) as tmp:
        write_saved_model(model, tmp)
    return Written(
        input=TensorSpec(INPUT_NAME, (-1, *MODEL_INPUT_SHAPE), "float32"),
        output=TensorSpec(OUTPUT_NAME, (-1, NUM_CLASSES), "float32"),
        converter={
            "name": "keras.export.ExportArchive",
            "opset": None,
            "versions": library_versions("tensorflow", "keras"),
        },
    )


def saved_model_probabilities(path: Path, images: np.ndarray) -> np.ndarray:
    """Run the SavedModel's ``serve`` endpoint with TensorFlow (mnistedge.runtime is TF-free)."""
    tf = require("tensorflow", "export")
    loaded = tf.saved_model.load(str(path))
    return np.asarray(loaded.serve(tf.constant(as_model_input(images)))[OUTPUT_NAME], dtype=np.float32)


def _filename(quantization: Quantization, options: Mapping[str, Any]) -> str:
    return str(FORMATS["saved_model"].folder)  # a folder format's place under the export root


EXPORTER = Exporter(
    format="saved_model",
    write=write_saved_model_artifact,
    filename=_filename,
    predict_proba=saved_model_probabilities,
)

"""TensorFlow SavedModel export (Keras ``ExportArchive``), for completeness: servers, not edges."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge._deps import require
from mnistedge.contract import INPUT_NAME, MODEL_INPUT_SHAPE, NUM_CLASSES, OUTPUT_NAME
from mnistedge.export._exporter import Exporter, Written
from mnistedge.export._graph import as_model_input, write_saved_model
from mnistedge.export.artifact import Quantization, TensorSpec
from mnistedge.export.calibration import CalibrationSet
from mnistedge.export.manifest import library_versions

__all__ = ["EXPORTER", "atomic_directory", "saved_model_probabilities", "write_saved_model_artifact"]


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; swap it in for ``path`` on success.

    Directories cannot be renamed over non-empty ones, so an old ``path`` is first renamed
    aside, then the new one renamed in, then the old one removed. On any exception the
    temporary directory is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; a finished directory gets the usual mode
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
    return "saved_model"


EXPORTER = Exporter(
    format="saved_model",
    quantizations=(Quantization.NONE,),
    write=write_saved_model_artifact,
    filename=_filename,
    predict_proba=saved_model_probabilities,
)

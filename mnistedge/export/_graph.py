"""The Keras model as converters see it: loading, the serving signature, the SavedModel, references.

Keras 3 models go to TensorFlow graphs one way that works for every converter here: a
``tf.function`` with an explicit ``input_signature`` (tf2onnx), or a SavedModel written by
``keras.export.ExportArchive`` (the TFLite converter; a bare concrete function leaves the
weights as uninitialised resource variables in the .tflite).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.contract import INPUT_NAME, MODEL_INPUT_SHAPE, NUM_CLASSES, OUTPUT_NAME
from mnistedge.core.deps import require

__all__ = [
    "input_signature",
    "load_keras_model",
    "reference_probabilities",
    "serving_function",
    "write_saved_model",
]

REFERENCE_BATCH = 1000


def load_keras_model(path: Path) -> Any:
    """Load a ``.keras`` model and check it follows ``mnistedge.core.contract``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the model does not take (N, 28, 28, 1) and return (N, 10).
    """
    if not path.is_file():
        raise FileNotFoundError(
            f"No Keras model at {path}. Train one with `mnistedge train`, or pass --model PATH."
        )
    keras = require("keras", "export")
    model = keras.models.load_model(path, compile=False)
    input_shape, output_shape = tuple(model.input_shape), tuple(model.output_shape)
    if input_shape[1:] != MODEL_INPUT_SHAPE or output_shape[1:] != (NUM_CLASSES,):
        raise ValueError(
            f"{path} takes {input_shape} and returns {output_shape}; mnistedge exports models that take "
            f"raw pixels (None, 28, 28, 1) and return softmax probabilities (None, {NUM_CLASSES}) "
            "(see mnistedge.core.contract)."
        )
    return model


def input_signature(batch: int | None = None) -> list[Any]:
    """The serving input: (batch, 28, 28, 1) float32 pixels; ``batch`` None is dynamic."""
    tf = require("tensorflow", "export")
    return [tf.TensorSpec([batch, *MODEL_INPUT_SHAPE], tf.float32, name=INPUT_NAME)]


def _serve(model: Any) -> Any:
    def serve(pixels: Any) -> dict[str, Any]:
        return {OUTPUT_NAME: model(pixels, training=False)}

    return serve


def serving_function(model: Any) -> Any:
    """``model`` as a ``tf.function``: ``pixels`` (None, 28, 28, 1) -> {"probabilities": (None, 10)}."""
    tf = require("tensorflow", "export")
    return tf.function(_serve(model), input_signature=input_signature())


def write_saved_model(model: Any, directory: Path, batch: int | None = None) -> None:
    """Write ``model`` as a SavedModel whose ``serve`` endpoint is the serving signature.

    ``batch`` fixes the batch dimension (runtimes such as LiteRT.js reject a dynamic one).
    """
    keras = require("keras", "export")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", _serve(model), input_signature=input_signature(batch))
    archive.write_out(str(directory), verbose=False)


def as_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) raw pixels -> float32 (N, 28, 28, 1), the contract's input."""
    return np.asarray(images, dtype=np.float32).reshape(-1, *MODEL_INPUT_SHAPE)


def reference_probabilities(model: Any, images: np.ndarray) -> np.ndarray:
    """The Keras model's probabilities (N, 10) float32: what every artifact is compared with."""
    x = as_model_input(images)
    chunks = [
        np.asarray(model(x[i : i + REFERENCE_BATCH], training=False), dtype=np.float32)
        for i in range(0, x.shape[0], REFERENCE_BATCH)
    ]
    return np.concatenate(chunks, axis=0)

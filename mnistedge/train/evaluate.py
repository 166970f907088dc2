"""Test-set evaluation of a saved model, computed from its own probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core import metrics
from mnistedge.core.deps import require

__all__ = ["Evaluation", "evaluate_probabilities", "evaluate_saved_model"]

_EPSILON = 1e-7  # Keras clips probabilities the same way in its cross-entropy


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    loss: float  # mean cross-entropy of the true digit
    per_class_accuracy: dict[str, float]
    confusion_matrix: list[list[int]]
    probabilities: np.ndarray  # float32 (N, 10)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "per_class_accuracy": self.per_class_accuracy,
            "confusion_matrix": self.confusion_matrix,
        }


def evaluate_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Accuracy, cross-entropy, per-class accuracy and confusion matrix of predictions."""
    labels = labels.astype(np.int64)
    predicted = probabilities.argmax(axis=1)
    true_prob = np.clip(probabilities[np.arange(len(labels)), labels], _EPSILON, 1.0)
    per_class = {
        str(d): value or 0.0 for d, value in enumerate(metrics.per_class_accuracy(predicted, labels))
    }
    return Evaluation(
        accuracy=metrics.accuracy(predicted, labels),
        loss=float(-np.log(true_prob).mean()),
        per_class_accuracy=per_class,
        confusion_matrix=metrics.confusion_matrix(predicted, labels).tolist(),
        probabilities=probabilities,
    )


def evaluate_saved_model(path: str | Path, x_test: np.ndarray, y_test: np.ndarray) -> Evaluation:
    """Load ``path`` with ``keras.models.load_model`` and evaluate it on uint8 test images."""
    keras = require("keras", "train", package="tensorflow")
    model = keras.models.load_model(path)
    probabilities = model.predict(x_test.astype(np.float32)[..., None], batch_size=1000, verbose=0)
    return evaluate_probabilities(np.asarray(probabilities, dtype=np.float32), y_test)

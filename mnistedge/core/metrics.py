"""Classification figures, computed one way for train.json, the manifest's fidelity and bench.

Accuracies come from integer counts, so 3 more right out of 10,000 is exactly +0.03 pp.
"""

from __future__ import annotations

import numpy as np

from mnistedge.core.contract import NUM_CLASSES

__all__ = [
    "accuracy",
    "accuracy_delta_pp",
    "agreement",
    "confusion_matrix",
    "flipped_indices",
    "max_abs_diff",
    "per_class_accuracy",
    "per_class_delta_pp",
]


def _labels(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of digits, got shape {array.shape}.")
    return array.astype(np.int64, copy=False)


def _pair(pred: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, labels = _labels(pred, "predictions"), _labels(labels, "labels")
    if pred.shape != labels.shape:
        raise ValueError(f"predictions {pred.shape} and labels {labels.shape} must be the same length.")
    return pred, labels


def accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Share of predictions equal to the labels, in [0, 1]."""
    pred, labels = _pair(pred, labels)
    return int(np.count_nonzero(pred == labels)) / labels.size


def accuracy_delta_pp(pred: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> float:
    """(accuracy of ``pred`` - accuracy of ``reference``) in percentage points, from counts."""
    pred, labels = _pair(pred, labels)
    reference, _ = _pair(reference, labels)
    diff = int(np.count_nonzero(pred == labels)) - int(np.count_nonzero(reference == labels))
    return 100.0 * diff / labels.size


def confusion_matrix(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """int64 (10, 10): rows the true digit, columns the predicted one."""
    pred, labels = _pair(pred, labels)
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(matrix, (labels, pred), 1)
    return matrix


def per_class_accuracy(pred: np.ndarray, labels: np.ndarray) -> list[float | None]:
    """Accuracy on each digit's images, 0..9; None for a digit absent from ``labels``."""
    matrix = confusion_matrix(pred, labels)
    totals = matrix.sum(axis=1)
    return [float(matrix[d, d] / totals[d]) if totals[d] else None for d in range(NUM_CLASSES)]


def per_class_delta_pp(pred: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> list[float | None]:
    """Per-digit (accuracy - reference accuracy) in percentage points."""
    ours, ref = per_class_accuracy(pred, labels), per_class_accuracy(reference, labels)
    return [None if a is None or b is None else 100.0 * (a - b) for a, b in zip(ours, ref, strict=True)]


def flipped_indices(pred: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Indices where the top-1 label differs from the reference's."""
    pred, reference = _pair(pred, reference)
    return np.flatnonzero(pred != reference)


def agreement(pred: np.ndarray, reference: np.ndarray) -> float:
    """Share of images whose top-1 label equals the reference's, in [0, 1]."""
    pred, reference = _pair(pred, reference)
    return int(np.count_nonzero(pred == reference)) / pred.size


def max_abs_diff(probabilities: np.ndarray, reference: np.ndarray) -> float:
    """max |p - p_ref| over all images and classes; inf when either holds NaN/inf."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    if probabilities.shape != reference.shape:
        raise ValueError(f"cannot compare probabilities {probabilities.shape} with {reference.shape}.")
    value = float(np.max(np.abs(probabilities - reference)))
    return value if np.isfinite(value) else float("inf")

"""Accuracy figures: overall, per class, and against the Keras reference."""

from __future__ import annotations

import numpy as np

from mnistedge.contract import NUM_CLASSES

__all__ = ["accuracy_figures", "agreement_figures"]


def _check(pred: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, labels = np.asarray(pred).ravel(), np.asarray(labels).ravel()
    if pred.shape != labels.shape or pred.size == 0:
        raise ValueError(
            f"predictions {pred.shape} and labels {labels.shape} must be the same, non-empty length."
        )
    return pred.astype(np.int64), labels.astype(np.int64)


def _per_class(pred: np.ndarray, labels: np.ndarray) -> list[float | None]:
    out: list[float | None] = []
    for digit in range(NUM_CLASSES):
        mask = labels == digit
        out.append(float(np.mean(pred[mask] == digit)) if mask.any() else None)
    return out


def accuracy_figures(pred: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 accuracy and per-class accuracy (None for a digit absent from ``labels``)."""
    pred, labels = _check(pred, labels)
    return {
        "n_test": int(labels.size),
        "accuracy": float(np.mean(pred == labels)),
        "per_class_accuracy": _per_class(pred, labels),
    }


def agreement_figures(pred: np.ndarray, reference_pred: np.ndarray, labels: np.ndarray) -> dict:
    """Delta (pp), top-1 agreement, flipped count and per-class delta of ``pred`` vs a reference."""
    pred, labels = _check(pred, labels)
    reference_pred, _ = _check(reference_pred, labels)
    ours, ref = _per_class(pred, labels), _per_class(reference_pred, labels)
    same = pred == reference_pred
    return {
        "accuracy_delta_pp": 100.0 * float(np.mean(pred == labels) - np.mean(reference_pred == labels)),
        "agreement": float(np.mean(same)),
        "flipped": int(np.count_nonzero(~same)),
        "per_class_delta_pp": [
            None if a is None or b is None else 100.0 * (a - b) for a, b in zip(ours, ref, strict=True)
        ],
    }

"""Does an exported artifact still do what the Keras model did? Figures, thresholds, verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mnistedge.core import metrics
from mnistedge.core.tensors import Quantization

__all__ = ["DEFAULT_THRESHOLDS", "Fidelity", "Thresholds", "compute_fidelity"]

MAX_FLIPPED_RECORDED = 1000  # the manifest lists at most this many flipped indices


@dataclass(frozen=True)
class Thresholds:
    """What an artifact must reach against the Keras model; None disables a check."""

    min_agreement: float  # fraction of images whose top-1 label matches Keras
    max_abs_prob_diff: float | None = None  # largest |p_artifact - p_keras| over all images and classes
    max_accuracy_drop_pp: float | None = None  # Keras accuracy minus artifact accuracy, percentage points

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ValueError(f"min_agreement is a fraction in [0, 1], got {self.min_agreement}.")
        for name in ("max_abs_prob_diff", "max_accuracy_drop_pp"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 (or None to skip the check), got {value}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_agreement": self.min_agreement,
            "max_abs_prob_diff": self.max_abs_prob_diff,
            "max_accuracy_drop_pp": self.max_accuracy_drop_pp,
        }


DEFAULT_THRESHOLDS: dict[Quantization, Thresholds] = {
    Quantization.NONE: Thresholds(min_agreement=1.0, max_abs_prob_diff=1e-5),
    Quantization.FP16: Thresholds(min_agreement=0.999),
    Quantization.DYNAMIC: Thresholds(min_agreement=0.995, max_accuracy_drop_pp=0.3),
    Quantization.INT8: Thresholds(min_agreement=0.995, max_accuracy_drop_pp=0.3),
    # Measured on the default cnn (10k test images): TFLite int16x8 agreed on 99.98 % (2 flips,
    # accuracy unchanged, max|Δp| 0.027), so 20 flips or 0.1 pp is a wide margin for a
    # 16-bit-activation model that is meant to track float closely.
    Quantization.INT16X8: Thresholds(min_agreement=0.998, max_accuracy_drop_pp=0.1),
}


@dataclass(frozen=True)
class Fidelity:
    """An artifact's predictions compared with the Keras model's on the same test images."""

    accuracy: float  # artifact top-1 accuracy on the labels
    reference_accuracy: float  # Keras top-1 accuracy on the same images
    accuracy_delta_pp: float  # accuracy - reference_accuracy, in percentage points
    agreement: float  # fraction of images with the same top-1 label as Keras
    max_abs_prob_diff: float  # max |p_artifact - p_keras|
    flipped_indices: tuple[int, ...]  # test indices whose top-1 label differs from Keras (first 1000)
    flipped_count: int  # all of them
    n: int  # test images compared
    thresholds: Thresholds
    failures: tuple[str, ...]  # one line per missed threshold; empty when passed

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        return (
            f"accuracy {self.accuracy:.2%} (Keras {self.reference_accuracy:.2%}, "
            f"delta {self.accuracy_delta_pp:+.2f} pp), agreement {self.agreement:.2%} "
            f"({self.flipped_count} of {self.n} flipped), max|Δp| {self.max_abs_prob_diff:.2e}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "reference_accuracy": self.reference_accuracy,
            "accuracy_delta_pp": self.accuracy_delta_pp,
            "agreement": self.agreement,
            "max_abs_prob_diff": self.max_abs_prob_diff,
            "flipped_indices": list(self.flipped_indices),
            "flipped_count": self.flipped_count,
            "n": self.n,
            "thresholds": self.thresholds.to_dict(),
            "failures": list(self.failures),
            "passed": self.passed,
        }


def compute_fidelity(
    probabilities: np.ndarray, reference: np.ndarray, labels: np.ndarray, thresholds: Thresholds
) -> Fidelity:
    """Compare an artifact's probabilities (N, 10) with the Keras model's on the same images."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    labels = np.asarray(labels).astype(np.int64)
    if probabilities.shape != reference.shape or probabilities.shape[0] != labels.shape[0]:
        raise ValueError(
            f"cannot compare probabilities {probabilities.shape} with reference {reference.shape} "
            f"and labels {labels.shape}: all must describe the same N images."
        )
    n = int(labels.shape[0])
    predicted, expected = probabilities.argmax(axis=1), reference.argmax(axis=1)
    flipped = metrics.flipped_indices(predicted, expected)
    accuracy, reference_accuracy = metrics.accuracy(predicted, labels), metrics.accuracy(expected, labels)
    delta_pp = metrics.accuracy_delta_pp(predicted, expected, labels)
    agreement = metrics.agreement(predicted, expected)
    max_diff = metrics.max_abs_diff(probabilities, reference)

    failures = []
    if agreement < thresholds.min_agreement:
        failures.append(f"agreement {agreement:.4%} < {thresholds.min_agreement:.4%}")
    if thresholds.max_abs_prob_diff is not None and not max_diff <= thresholds.max_abs_prob_diff:
        failures.append(f"max|Δp| {max_diff:.3e} > {thresholds.max_abs_prob_diff:.3e}")
    if thresholds.max_accuracy_drop_pp is not None and -delta_pp > thresholds.max_accuracy_drop_pp:
        failures.append(f"accuracy drop {-delta_pp:.2f} pp > {thresholds.max_accuracy_drop_pp:.2f} pp")
    return Fidelity(
        accuracy=accuracy,
        reference_accuracy=reference_accuracy,
        accuracy_delta_pp=delta_pp,
        agreement=agreement,
        max_abs_prob_diff=max_diff,
        flipped_indices=tuple(int(i) for i in flipped[:MAX_FLIPPED_RECORDED]),
        flipped_count=int(flipped.size),
        n=n,
        thresholds=thresholds,
        failures=tuple(failures),
    )

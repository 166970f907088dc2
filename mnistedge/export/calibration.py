"""The representative set that int8 quantization calibrates on, and the data checks before export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mnistedge.core.contract import IMAGE_SHAPE, MODEL_INPUT_SHAPE

__all__ = [
    "CALIBRATION_METHODS",
    "CalibrationConfig",
    "CalibrationSet",
    "Dataset",
    "calibration_set",
    "check_images",
]

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


class Dataset(Protocol):
    """What export needs from data: ``mnistedge.data.MNIST`` or anything shaped like it."""

    x_train: np.ndarray  # uint8 (N, 28, 28)
    y_train: np.ndarray  # (N,)
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class CalibrationConfig:
    """How the int8 representative set is drawn (recorded in the manifest)."""

    samples: int = 500  # images, balanced over the ten classes
    seed: int = 0  # seeds the balanced draw
    method: str = "minmax"  # range estimator; TFLite's converter always uses minmax
    source: str = "train"  # calibration never sees the test images fidelity is measured on

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"calibration samples must be >= 1, got {self.samples}. Try 500.")
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(
                f"Unknown calibration method {self.method!r}. "
                f"Valid methods are: {', '.join(CALIBRATION_METHODS)}."
            )

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "seed": self.seed, "method": self.method, "source": self.source}


def check_images(images: Any, labels: Any, what: str) -> None:
    """Raise ``ValueError`` unless ``images`` are uint8 (N, 28, 28) with N matching labels."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise ValueError(
            f"data.x_{what} must be uint8 raw-pixel images of shape (N, 28, 28); got {got}. "
            "Pass an mnistedge.data.MNIST (mnistedge.data.load_mnist()) or arrays in that layout."
        )
    n_labels = np.shape(labels)[0] if np.ndim(labels) == 1 else None
    if images.shape[0] == 0 or n_labels != images.shape[0]:
        raise ValueError(
            f"data.x_{what} has {images.shape[0]} images but data.y_{what} has shape {np.shape(labels)}; "
            "need one label per image and at least one image."
        )


@dataclass(frozen=True)
class CalibrationSet:
    """The representative images and how they were drawn."""

    config: CalibrationConfig
    images: np.ndarray  # float32 raw pixels (samples, 28, 28, 1), the model's input contract


def calibration_set(data: Dataset | None, config: CalibrationConfig) -> CalibrationSet:
    """Draw the balanced, seeded representative set from the training images.

    Raises:
        ValueError: the training data is missing, malformed, or smaller than ``config.samples``.
    """
    from mnistedge.data import representative_indices

    x_train, y_train = getattr(data, "x_train", None), getattr(data, "y_train", None)
    if x_train is None or y_train is None:
        raise ValueError(
            "int8 quantization needs calibration data (data.x_train / data.y_train) and none was given. "
            "Pass data=mnistedge.data.load_mnist() (CLI: --source PATH) or pick another quantization."
        )
    check_images(x_train, y_train, "train")
    if config.samples > x_train.shape[0]:
        raise ValueError(
            f"calibration samples ({config.samples}) exceed the {x_train.shape[0]} training images; "
            f"lower --calibration-samples to at most {x_train.shape[0]}."
        )
    indices = representative_indices(y_train, config.samples, seed=config.seed)
    return CalibrationSet(config, x_train[indices].reshape(-1, *MODEL_INPUT_SHAPE).astype(np.float32))

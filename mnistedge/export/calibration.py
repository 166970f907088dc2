"""The representative set that int8 quantization calibrates on, and the data checks before export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mnistedge.core.contract import MODEL_INPUT_SHAPE
from mnistedge.core.images import check_labeled_images

__all__ = [
    "CALIBRATION_METHODS",
    "CalibrationConfig",
    "CalibrationSet",
    "Dataset",
    "calibration_set",
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
    check_labeled_images(x_train, y_train, "train", where="data.")
    if config.samples > x_train.shape[0]:
        raise ValueError(
            f"calibration samples ({config.samples}) exceed the {x_train.shape[0]} training images; "
            f"lower --calibration-samples to at most {x_train.shape[0]}."
        )
    indices = representative_indices(y_train, config.samples, seed=config.seed)
    return CalibrationSet(config, x_train[indices].reshape(-1, *MODEL_INPUT_SHAPE).astype(np.float32))

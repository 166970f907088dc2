"""TrainConfig: what the caller asks for; ``None`` means the architecture's preset."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mnistedge.train.archs import Preset, get_arch

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Fields left ``None`` take the arch's preset (see ``resolve``)."""

    arch: str = "cnn"  # a name in ARCHS
    epochs: int | None = None  # full passes over the training split
    batch_size: int | None = None  # images per gradient step
    learning_rate: float | None = None  # peak rate when the arch's schedule is one-cycle
    seed: int = 0  # weights, shuffling, augmentation and the validation split
    validation_split: float | None = None  # fraction of train held out for curves; 0 = none

    def __post_init__(self) -> None:
        get_arch(self.arch)  # raises ValueError listing the known archs
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs < 1):
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}.")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}.")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(
                f"learning_rate must be > 0, got {self.learning_rate!r}. "
                "Try the arch's preset (leave it unset) or `mnistedge train --lr-find`."
            )
        if self.validation_split is not None and not 0.0 <= self.validation_split < 1.0:
            raise ValueError(
                f"validation_split must be in [0, 1), got {self.validation_split!r} "
                "(0.1 holds out 10 % of the training images)."
            )
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}.")

    @property
    def preset(self) -> Preset:
        return get_arch(self.arch).preset

    def resolve(self) -> TrainConfig:
        """A copy with every ``None`` replaced by the arch's preset value."""
        preset = self.preset
        return dataclasses.replace(
            self,
            epochs=self.epochs if self.epochs is not None else preset.epochs,
            batch_size=self.batch_size if self.batch_size is not None else preset.batch_size,
            learning_rate=(self.learning_rate if self.learning_rate is not None else preset.learning_rate),
            validation_split=(
                self.validation_split if self.validation_split is not None else preset.validation_split
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

"""An accuracy target: the figure a trained model should reach, in its source's own words.

train records it in train.json (with the run's value and whether it was met); bench reads it
back from there to state the model's own goal instead of a fixed one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["TARGET_METRICS", "Target"]


# What Target.metric can name: where the figure of a finished run comes from.
TARGET_METRICS: dict[str, str] = {
    "test_accuracy": "test accuracy",  # the saved model, reloaded, on the 10k test images
    "train_accuracy": "training accuracy",  # Keras's accuracy over the last epoch, as fit() prints it
}


@dataclass(frozen=True)
class Target:
    """The accuracy a run of the preset should land in, as the arch's source states it.

    A "~" figure or range is read as within one percentage point of it.
    ``train()`` records whether the run met it (train.json ``target``); it never
    fails a run that misses, since overriding the preset is a legitimate choice.
    """

    stated: str  # the source's own words, e.g. "~90 %" or "> 95 %"
    metric: str  # a key of TARGET_METRICS
    low: float  # the lowest accuracy that counts as met
    high: float = 1.0
    low_inclusive: bool = True  # False for "> 95 %": exactly 0.95 misses

    def met(self, value: float) -> bool:
        above = value >= self.low if self.low_inclusive else value > self.low
        return above and value <= self.high

    def describe(self) -> str:
        """E.g. '> 95 % training accuracy'."""
        return f"{self.stated} {TARGET_METRICS[self.metric]}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        """The Target inside a train.json ``target`` record (extra keys are ignored)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

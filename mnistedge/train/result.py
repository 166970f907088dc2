"""TrainResult: everything a run produced, exactly what train.json holds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["SCHEMA_VERSION", "TrainResult"]

SCHEMA_VERSION = 1


def _macs(macs: int) -> str:
    """3.79M for the cnn, 8.1k for a tutorial model (not 0.01M)."""
    return f"{macs / 1e6:.2f}M" if macs >= 1e6 else f"{macs / 1e3:.1f}k"


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`mnistedge.train.train`; ``to_dict()`` is train.json."""

    arch: str
    source: str  # where the architecture comes from (tutorial or design note)
    model_path: str  # the saved model.keras
    params: int
    macs: int  # multiply-accumulates per image (Conv2D + Dense)
    epochs: int
    batch_size: int
    seed: int
    optimizer: str
    learning_rate: float  # peak rate for the one-cycle schedule
    schedule: str
    loss: str  # "sparse_categorical_crossentropy" or "categorical_crossentropy"
    label_smoothing: float  # 0 = plain one-hot (or integer) targets
    validation_split: float
    augmentation: dict[str, float] | None  # jitter ranges and how many epochs used them
    test_accuracy: float  # of the saved-and-reloaded model on the test set
    test_loss: float
    target: dict[str, Any]  # the arch's Target, the run's value of its metric, met, preset overrides
    per_class_accuracy: dict[str, float]  # digit -> accuracy on that digit's test images
    confusion_matrix: list[list[int]]  # rows: true digit, columns: predicted digit
    history: dict[str, list[float]]  # Keras history per epoch, plus epoch_seconds
    wall_seconds: float  # the whole train() call: fit, save, reload, evaluate, plots
    fit_seconds: float
    device: dict[str, Any]
    data: dict[str, Any]
    env: dict[str, Any]  # core.env: machine, library versions, providers (same block as bench, manifest)
    preprocessing: dict[str, Any]
    plots: dict[str, str]  # plot name -> png path

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(self)}

    def summary_line(self) -> str:
        epoch_seconds = self.history.get("epoch_seconds") or [self.fit_seconds]
        mean_epoch = sum(epoch_seconds) / len(epoch_seconds)
        return (
            f"{self.arch}: test accuracy {self.test_accuracy:.2%} (loss {self.test_loss:.4f}), "
            f"{self.params:,} params, {_macs(self.macs)} MACs, {self.epochs} epochs "
            f"({mean_epoch:.1f} s each), {self.wall_seconds:.0f} s total on "
            f"{self.device['type']} -> {self.model_path}; {self.target_verdict()}"
        )

    def timing_line(self) -> str:
        """E.g. 'time per epoch: 11.2 10.9 10.8 10.9 11.0 10.4 s, fit 66 s, total 73 s (CPU, 2 threads)'."""
        epoch_seconds = self.history.get("epoch_seconds") or []
        each = " ".join(f"{s:.1f}" for s in epoch_seconds)
        threads = self.device.get("intra_op_threads")
        where = f"{self.device['type']}" + (f", {threads} threads" if threads else "")
        return (
            f"time per epoch: {each} s, fit {self.fit_seconds:.0f} s, "
            f"total {self.wall_seconds:.0f} s ({where})"
        )

    def target_verdict(self) -> str:
        """E.g. 'target > 95 % training accuracy: 95.23%, met'."""
        t = self.target
        verdict = "met" if t["met"] else "missed"
        if not t["met"] and t["preset_overrides"]:
            verdict += f" (preset overridden: {', '.join(t['preset_overrides'])})"
        return f"target {t['description']}: {t['value']:.2%}, {verdict}"

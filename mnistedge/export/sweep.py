"""Calibration sweep: which int8 calibration keeps the model closest to float, at what size.

ONNX Runtime: range method x calibration-set size x per-channel weights; TFLite: the
representative-set size (its converter always takes min/max ranges). Every point is scored on a
seeded sample of the test set against the Keras model; the best point of each format is then
confirmed on the whole test set. ORT calibrates each (method, size) once and keeps the ranges in
its calibration cache, so per-channel on/off costs a re-quantization, not a re-calibration.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.images import check_dataset
from mnistedge.export.calibration import CALIBRATION_METHODS, CalibrationConfig, Dataset, calibration_set

__all__ = [
    "SWEEP_FORMATS",
    "SweepConfig",
    "SweepPoint",
    "SweepResult",
    "best_point",
    "is_export_default",
    "run_sweep",
]

SWEEP_FORMATS = ("onnx", "tflite")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SweepConfig:
    """The grid and how it is scored."""

    methods: tuple[str, ...] = CALIBRATION_METHODS  # ORT range estimators (TFLite: minmax only)
    sizes: tuple[int, ...] = (100, 500, 2000)  # calibration images, balanced over classes
    per_channel: tuple[bool, ...] = (True, False)  # ORT weight scales per output channel / per tensor
    formats: tuple[str, ...] = SWEEP_FORMATS
    test_sample: int = 2000  # test images each point is scored on (the chosen points: all of them)
    seed: int = 0  # seeds the calibration draws and the test sample

    def __post_init__(self) -> None:
        if unknown := [m for m in self.methods if m not in CALIBRATION_METHODS]:
            raise ValueError(
                f"Unknown calibration method(s) {unknown}. Valid: {', '.join(CALIBRATION_METHODS)}."
            )
        if unknown := [f for f in self.formats if f not in SWEEP_FORMATS]:
            raise ValueError(f"Unknown sweep format(s) {unknown}. Valid: {', '.join(SWEEP_FORMATS)}.")
        if not self.formats or not self.sizes or not self.methods or not self.per_channel:
            raise ValueError("a sweep needs at least one format, size, method and per-channel setting.")
        if any(isinstance(n, bool) or int(n) != n or n < 1 for n in self.sizes):
            raise ValueError(
                f"calibration sizes must be integers >= 1, got {self.sizes!r}; e.g. 100,500,2000."
            )
        if isinstance(self.test_sample, bool) or self.test_sample < 1:
            raise ValueError(
                f"test_sample must be an int >= 1 (test images per point), got {self.test_sample!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SweepPoint:
    """One calibrated model, scored on the test sample (or, confirmed, on the whole test set)."""

    format: str  # "onnx" | "tflite"
    method: str  # range estimator ("minmax" for TFLite)
    samples: int  # calibration images
    per_channel: bool  # weight scales per output channel (TFLite's converter: always)
    size_bytes: int
    n_test: int  # test images the figures come from
    accuracy: float  # top-1 on those images
    agreement: float  # share whose top-1 matches the Keras model's
    max_abs_prob_diff: float  # largest |p - p_keras| over those images and classes
    mean_abs_prob_diff: float  # mean over images of the largest |p - p_keras|: separates points top-1 ties
    seconds: float  # calibrating + quantizing this point (0 calibration when cached)

    @property
    def label(self) -> str:
        channel = "per-channel" if self.per_channel else "per-tensor"
        return f"{self.format} {self.method} n={self.samples} {channel}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


@dataclass(frozen=True)
class SweepResult:
    """The whole sweep: every point, the chosen point per format confirmed on the full test set."""

    config: SweepConfig
    points: tuple[SweepPoint, ...]
    chosen: tuple[SweepPoint, ...]  # per format, re-scored on every test image
    defaults: tuple[SweepPoint, ...]  # the export's default point per format (if swept), also re-scored
    float_accuracy: float  # Keras on the whole test set
    float_sample_accuracy: float  # Keras on the sample the points are scored on
    wall_seconds: float
    load_average: dict[str, list[float]] = field(default_factory=dict)  # os.getloadavg() at start/end
    model: str = ""

    def spread(self, format: str) -> dict[str, float]:
        """Accuracy and agreement range (max - min, in pp) over ``format``'s points."""
        pts = [p for p in self.points if p.format == format]
        if not pts:
            return {}
        acc, agree = [p.accuracy for p in pts], [p.agreement for p in pts]
        return {"accuracy_pp": 100 * (max(acc) - min(acc)), "agreement_pp": 100 * (max(agree) - min(agree))}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "model": self.model,
            "config": self.config.to_dict(),
            "float_accuracy": self.float_accuracy,
            "float_sample_accuracy": self.float_sample_accuracy,
            "wall_seconds": self.wall_seconds,
            "load_average": self.load_average,
            "spread": {f: self.spread(f) for f in self.config.formats},
            "chosen": [p.to_dict() for p in self.chosen],
            "defaults": [p.to_dict() for p in self.defaults],
            "points": [p.to_dict() for p in self.points],
        }


def best_point(points: Sequence[SweepPoint]) -> SweepPoint:
    """Highest agreement with float, then accuracy, then the closest probabilities, then the smaller file.

    On a sample of a few thousand images most points tie on top-1, so the mean |Δp| decides.
    """
    return max(points, key=lambda p: (p.agreement, p.accuracy, -p.mean_abs_prob_diff, -p.size_bytes))


def is_export_default(point: SweepPoint) -> bool:
    """The point ``mnistedge export --quantize int8`` writes with its default settings."""
    default = CalibrationConfig()
    return point.method == default.method and point.samples == default.samples and point.per_channel


def run_sweep(
    model_path: str | os.PathLike[str],
    data: Dataset | None = None,
    config: SweepConfig | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Calibrate and score every grid point, then confirm each format's best on all test images.

    Raises:
        FileNotFoundError: no model at ``model_path``.
        ValueError: bad config, malformed data, or a calibration size above the training images.
    """
    from mnistedge.core.deps import require
    from mnistedge.export._graph import load_keras_model, reference_probabilities
    from mnistedge.export._sweep_points import BUILDERS, score_artifact

    config, say = config or SweepConfig(), progress or (lambda _: None)
    require("tensorflow", "export")
    started, load_start = time.perf_counter(), list(os.getloadavg())
    if data is None:
        from mnistedge.data import load_mnist

        data = load_mnist()
    check_dataset(data, ("train", "test"))
    # Drawn before anything converts, so a size above the training set fails first.
    calibrations = {n: calibration_set(data, CalibrationConfig(n, config.seed)).images for n in config.sizes}
    model = load_keras_model(Path(model_path))
    images, labels = data.x_test, np.asarray(data.y_test)
    reference = reference_probabilities(model, images)
    sample = np.sort(np.random.default_rng(config.seed).permutation(len(labels))[: config.test_sample])

    def score(path: Path) -> dict[str, Any]:
        return score_artifact(path, images[sample], labels[sample], reference[sample])

    with tempfile.TemporaryDirectory(prefix="mnistedge-sweep-") as tmp:
        scored = [
            (SweepPoint(**fields), path)
            for f in config.formats
            for fields, path in BUILDERS[f](model, calibrations, config, Path(tmp), score, say)
        ]
        chosen, defaults = [], []

        def confirm(point: SweepPoint) -> SweepPoint:
            path = next(path for p, path in scored if p is point)
            say(f"confirming {point.label} on all {len(labels):,} test images")
            return SweepPoint(**{**asdict(point), **score_artifact(path, images, labels, reference)})

        for f in config.formats:
            best = best_point([p for p, _ in scored if p.format == f])
            chosen.append(confirm(best))
            default = next((p for p, _ in scored if p.format == f and is_export_default(p)), None)
            if default is not None:
                defaults.append(chosen[-1] if default is best else confirm(default))
    return SweepResult(
        config=config,
        points=tuple(p for p, _ in scored),
        chosen=tuple(chosen),
        defaults=tuple(defaults),
        float_accuracy=float(np.mean(reference.argmax(axis=1) == labels)),
        float_sample_accuracy=float(np.mean(reference[sample].argmax(axis=1) == labels[sample])),
        wall_seconds=round(time.perf_counter() - started, 1),
        load_average={"start": load_start, "end": list(os.getloadavg())},
        model=str(model_path),
    )

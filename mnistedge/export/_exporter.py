"""The one contract every format module fills in: what it supports and how it writes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.formats import FORMATS
from mnistedge.core.tensors import Quantization, TensorSpec

__all__ = ["Exporter", "Written"]


@dataclass(frozen=True)
class Written:
    """What a format's ``write`` reports about the artifact it just put on disk."""

    input: TensorSpec
    output: TensorSpec
    converter: dict[str, Any]  # {"name", "opset", "versions"}


@dataclass(frozen=True)
class Exporter:
    """One export format.

    ``write(model, path, quantization, calibration, **options)`` converts the Keras model and
    writes the artifact to ``path`` atomically (a killed export leaves nothing under that name).
    """

    format: str  # a key of core.formats.FORMATS: the manifest's "format"
    write: Callable[..., Written]
    filename: Callable[[Quantization, Mapping[str, Any]], str]  # default artifact name
    options: Mapping[str, Any] = field(default_factory=dict)  # format-specific option -> default
    check_options: Callable[[Quantization, Mapping[str, Any]], None] = lambda q, o: None
    calibration_methods: tuple[str, ...] = ("minmax",)  # int8 range estimators it implements
    # How fidelity runs the artifact; None means through mnistedge.runtime.load (the edge path).
    predict_proba: Callable[[Path, np.ndarray], np.ndarray] | None = None

    @property
    def quantizations(self) -> tuple[Quantization, ...]:
        """What --quantize accepts for this format (the format table says)."""
        return FORMATS[self.format].quantizations

    def resolve(self, quantization: Quantization, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check the quantization and options for this format; return options with defaults filled.

        Raises:
            ValueError: an unsupported quantization, unknown option or bad option value.
        """
        if quantization not in self.quantizations:
            valid = ", ".join(q.value for q in self.quantizations)
            raise ValueError(
                f"{self.format} does not support quantization {quantization.value!r}. "
                f"Supported for {self.format}: {valid}."
            )
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = ", ".join(sorted(self.options)) or "none"
            raise ValueError(f"Unknown option(s) {unknown} for {self.format}. Valid options: {valid}.")
        resolved = {**self.options, **options}
        self.check_options(quantization, resolved)
        return resolved

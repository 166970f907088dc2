"""What an export produces: the quantization vocabulary, tensor specs and the Artifact record.

This module is light (numpy-free even): the CLI and the registry import it at start-up.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mnistedge.export.calibration import CalibrationConfig
    from mnistedge.export.fidelity import Fidelity

__all__ = ["Artifact", "Quantization", "Status", "TensorSpec"]


class Quantization(enum.StrEnum):
    """How the weights (and for int8 the activations) are stored. Built straight from CLI strings."""

    NONE = "none"  # float32 as trained
    FP16 = "fp16"  # float16 weights, float32 compute
    DYNAMIC = "dynamic"  # int8 weights, activations quantized on the fly
    INT8 = "int8"  # full integer: int8 weights and activations, calibrated

    @classmethod
    def parse(cls, value: str | Quantization) -> Quantization:
        """``Quantization(value)`` with an error that lists the valid values."""
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(q.value for q in cls)
            raise ValueError(f"Unknown quantization {value!r}. Valid quantizations are: {valid}.") from None


class Status(enum.StrEnum):
    """An artifact's standing in the manifest."""

    OK = "ok"  # written and its fidelity check passed
    FAILED = "failed"  # written, but its fidelity check missed a threshold
    UNVERIFIED = "unverified"  # written, fidelity not checked (``verify=False``) or not yet


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output as its engine sees it (manifest ``input``/``output``)."""

    name: str
    shape: tuple[int, ...]  # -1 marks the dynamic batch dimension
    dtype: str  # numpy dtype name: "float32", "int8", "uint8"
    scale: float | None = None  # quantized tensors only: real = scale * (q - zero_point)
    zero_point: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }


@dataclass(frozen=True)
class Artifact:
    """One exported file (or SavedModel directory) and everything the manifest says about it.

    ``to_dict()`` is exactly the manifest entry; ``path`` (where it lies on this machine) is
    not part of it because the manifest sits beside the artifacts and names them by file.
    """

    path: Path  # the artifact on disk
    format: str  # registry key: "tflite", "onnx", "saved_model"
    quantization: Quantization
    size_bytes: int
    sha256: str  # of the file; for a directory, of its sorted (relative path, file sha256) list
    status: Status
    source_model: dict[str, str]  # {"file": "model.keras", "sha256": ...}
    converter: dict[str, Any]  # {"name", "opset", "versions": {library: version}}
    input: TensorSpec
    output: TensorSpec
    preprocessing: dict[str, Any]  # mnistedge.contract.PREPROCESSING
    calibration: CalibrationConfig | None = None  # int8 only
    fidelity: Fidelity | None = field(default=None)  # None when not verified

    @property
    def file(self) -> str:
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "quantization": self.quantization.value,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "status": self.status.value,
            "source_model": dict(self.source_model),
            "converter": dict(self.converter),
            "input": self.input.to_dict(),
            "output": self.output.to_dict(),
            "preprocessing": dict(self.preprocessing),
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "fidelity": self.fidelity.to_dict() if self.fidelity else None,
        }

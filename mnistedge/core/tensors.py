"""Tensors and number formats: the one ``TensorSpec`` and the ``Quantization``/``Status`` words.

Export writes these into manifest.json, the runtime reads them from the engines, and
bench reports them; all three use these types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["Quantization", "Status", "TensorSpec"]


class Quantization(enum.StrEnum):
    """How the weights (and for int8/int16x8 the activations) are stored. Built straight from CLI strings.

    The same word means the same storage in every format; the compute is each engine's own
    (ONNX fp16 is a float16 graph, which ONNX Runtime's x86 CPU provider runs in float32).
    """

    NONE = "none"  # float32 as trained
    FP16 = "fp16"  # float16 weights (TFLite: float32 compute; ONNX: a float16 graph, float32 I/O)
    DYNAMIC = "dynamic"  # 8-bit weights, activations quantized on the fly
    INT8 = "int8"  # full integer: int8 weights and activations, calibrated
    INT16X8 = "int16x8"  # int16 activations x int8 weights, calibrated; float32 I/O

    @property
    def calibrated(self) -> bool:
        """Whether exporting it needs a calibration (representative) set."""
        return self in (Quantization.INT8, Quantization.INT16X8)

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
    """A model input or output as its engine sees it (manifest ``input``/``output``).

    ``scale``/``zero_point`` are the tensor's own quantization (real = scale * (q - zero_point));
    they say nothing about how pixels are normalized (see ``core.contract.Normalization``).
    """

    name: str
    shape: tuple[int, ...]  # -1 marks a dynamic dimension (the batch)
    dtype: str  # numpy dtype name: "float32", "float16", "int8", "uint8"
    scale: float | None = None  # quantized tensors only
    zero_point: int | None = None

    @property
    def quantized(self) -> bool:
        return self.scale is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        scale, zero_point = data.get("scale"), data.get("zero_point")
        return cls(
            name=str(data["name"]),
            shape=tuple(int(d) for d in data["shape"]),
            dtype=str(data["dtype"]),
            scale=None if scale is None else float(scale),
            zero_point=None if zero_point is None else int(zero_point),
        )

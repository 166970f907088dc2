"""Typed descriptions of a loaded model: its tensors and what actually runs it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RuntimeInfo", "TensorSpec"]


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the engine sees it."""

    name: str
    shape: tuple[int, ...]  # -1 marks a dynamic dimension (the batch)
    dtype: str  # numpy dtype name: "float32", "float16", "int8", "uint8"
    scale: float | None = None  # quantized tensors only: real = scale * (q - zero_point)
    zero_point: int | None = None

    @property
    def quantized(self) -> bool:
        return self.scale is not None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["shape"] = list(self.shape)
        return out


@dataclass(frozen=True)
class RuntimeInfo:
    """What was loaded and what runs it (``provider`` is what the engine actually used)."""

    path: str
    format: str  # "tflite" | "onnx"
    quantization: str  # "none" (float32) | "fp16" | "dynamic" | "int8", as manifest.json says
    engine: str  # "litert" | "onnxruntime"
    provider: str  # e.g. "xnnpack", "cpu", "CPUExecutionProvider", "CUDAExecutionProvider"
    threads: int | None  # threads requested from the engine; None = engine default
    input: TensorSpec
    output: TensorSpec
    sha256: str
    size_bytes: int
    manifest_verified: bool  # True when a manifest.json beside the model vouched for this sha256

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["input"] = self.input.to_dict()
        out["output"] = self.output.to_dict()
        return out

"""What a loaded model is and what actually runs it (tensors: ``core.tensors.TensorSpec``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mnistedge.core.contract import IOConvention
from mnistedge.core.tensors import TensorSpec

__all__ = ["RuntimeInfo"]


@dataclass(frozen=True)
class RuntimeInfo:
    """What was loaded and what runs it (``provider`` is what the engine actually used)."""

    path: str
    format: str  # "tflite" | "onnx"
    quantization: str  # "none" (float32) | "fp16" | "dynamic" | "int8" | "int16x8", as manifest.json says
    engine: str  # "litert" | "onnxruntime"
    provider: str  # e.g. "xnnpack", "cpu", "CPUExecutionProvider", "CUDAExecutionProvider"
    threads: int | None  # threads requested from the engine; None = engine default
    input: TensorSpec
    output: TensorSpec
    sha256: str
    size_bytes: int
    manifest_verified: bool  # True when a manifest.json beside the model vouched for this sha256
    convention: IOConvention  # layout, batch, output kind and pixel normalization the runtime uses

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["input"] = self.input.to_dict()
        out["output"] = self.output.to_dict()
        out["convention"] = self.convention.to_dict()
        return out

"""The backend contract every engine implements, and the checks they share.

A backend owns one engine instance and the codecs for its tensors:

* ``prepare(raw_pixels)``: float32 (N, 28, 28, 1) raw pixels in [0, 255] -> the exact
  tensor the engine takes (int8 after quantization for a full-int8 model);
* ``invoke(tensor)``: one engine call on a prepared tensor -> the engine's raw output;
* ``run(raw_pixels)``: ``output.to_proba(invoke(prepare(raw_pixels)))``, float32 (N, 10).

Bench uses ``prepare`` + the raw ``session``/``interpreter`` to time the bare engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mnistedge.core.contract import MODEL_INPUT_SHAPE, NUM_CLASSES, PIXEL_RANGE
from mnistedge.core.formats import FORMATS, loadable_formats, resolve
from mnistedge.core.tensors import TensorSpec
from mnistedge.runtime._quant import InputCodec, OutputCodec

__all__ = ["Backend", "backend_class", "check_contract", "make_codecs", "self_test"]


class Backend(Protocol):
    engine: str
    provider: str
    threads: int | None
    input: TensorSpec
    output: TensorSpec
    input_codec: InputCodec
    output_codec: OutputCodec

    def prepare(self, raw_pixels: np.ndarray) -> np.ndarray: ...

    def invoke(self, tensor: np.ndarray) -> np.ndarray: ...

    def run(self, raw_pixels: np.ndarray) -> np.ndarray: ...


def check_contract(path: Any, inp: TensorSpec, out: TensorSpec) -> None:
    """Refuse models whose I/O is not (N, 28, 28, 1) -> (N, 10) (see mnistedge.core.contract)."""
    if len(inp.shape) != 4 or tuple(inp.shape[1:]) != MODEL_INPUT_SHAPE:
        raise ValueError(
            f"{path}: model input {inp.name!r} has shape {list(inp.shape)}; the mnistedge "
            f"contract is [N, 28, 28, 1] raw pixels (see mnistedge.core.contract)"
        )
    if len(out.shape) != 2 or out.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"{path}: model output {out.name!r} has shape {list(out.shape)}; the mnistedge "
            f"contract is [N, {NUM_CLASSES}] probabilities"
        )


def _overlay(spec: TensorSpec, recorded: Any) -> TensorSpec:
    """Fill a quantized tensor's missing scale/zero-point from the manifest's record of it."""
    if spec.scale is not None or not isinstance(recorded, dict):
        return spec
    scale, zero_point = recorded.get("scale"), recorded.get("zero_point")
    if scale is None or zero_point is None:
        return spec
    return TensorSpec(spec.name, spec.shape, spec.dtype, float(scale), int(zero_point))


def make_codecs(
    inp: TensorSpec, out: TensorSpec, manifest_entry: dict[str, Any] | None
) -> tuple[TensorSpec, TensorSpec, InputCodec, OutputCodec]:
    """Codecs from the tensors' own parameters, completed by the manifest where the engine
    does not expose them (ONNX Runtime has no I/O scale); returns the final specs too."""
    entry = manifest_entry or {}
    inp, out = _overlay(inp, entry.get("input")), _overlay(out, entry.get("output"))
    preprocessing = entry.get("preprocessing") or {}
    pixel_range = preprocessing.get("pixel_range") or PIXEL_RANGE
    return inp, out, InputCodec(inp, tuple(pixel_range)), OutputCodec(out)


def backend_class(format: str) -> Any:
    """The runtime backend class for a loadable format (the format table names it)."""
    loader = FORMATS[format].loader
    if loader is None:
        raise ValueError(
            f"format {format!r} has no runtime loader; loadable: "
            f"{', '.join(f.name for f in loadable_formats())}"
        )
    return resolve(loader)


def self_test(backend: Any, path: Path) -> None:
    """Run batches of 2 and 1 once at load: a model that cannot run fails here, not later."""
    for n in (2, 1):
        try:
            raw = backend.invoke(backend.input_codec.from_uint8(np.zeros((n, 28, 28, 1), np.uint8)))
        except RuntimeError as exc:
            raise ValueError(f"{path}: the model loads but does not run: {exc}") from None
        if raw.shape != (n, NUM_CLASSES):
            raise ValueError(
                f"{path}: a batch of {n} gave output shape {tuple(raw.shape)}, expected "
                f"({n}, {NUM_CLASSES}); the model does not follow mnistedge.core.contract"
            )

"""The backend contract every engine implements, and the checks they share.

A backend owns one engine instance, the model's ``IOConvention`` and the codecs for its tensors:

* ``prepare(raw_pixels)``: float32 (N, 28, 28, 1) raw pixels in [0, 255] -> the exact
  tensor the engine takes (normalized, in the model's layout, int8 after quantization
  for a full-int8 model);
* ``invoke(tensor)``: one engine call on a prepared tensor -> the engine's raw output;
* ``call(tensor)``: ``invoke``, or for a fixed-batch model B-sized chunks of it (any N);
* ``run(raw_pixels)``: ``output_codec.to_proba(call(prepare(raw_pixels)))``, float32 (N, 10).

Bench uses ``prepare`` + the raw ``session``/``interpreter`` to time the bare engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mnistedge.core.contract import NUM_CLASSES, IOConvention, Normalization
from mnistedge.core.formats import FORMATS, loadable_formats, resolve
from mnistedge.core.tensors import TensorSpec
from mnistedge.runtime._convention import batched, convention_for
from mnistedge.runtime._quant import InputCodec, OutputCodec

__all__ = ["Backend", "attach_io", "backend_class", "self_test"]


class Backend(Protocol):
    engine: str
    provider: str
    threads: int | None
    input: TensorSpec
    output: TensorSpec
    convention: IOConvention
    input_codec: InputCodec
    output_codec: OutputCodec
    op_names: list[str] | None  # the model's ops in graph order (inspect counts them); None: unreadable

    def prepare(self, raw_pixels: np.ndarray) -> np.ndarray: ...

    def invoke(self, tensor: np.ndarray) -> np.ndarray: ...

    def call(self, tensor: np.ndarray) -> np.ndarray: ...

    def run(self, raw_pixels: np.ndarray) -> np.ndarray: ...


def _overlay(spec: TensorSpec, recorded: Any) -> TensorSpec:
    """Fill a quantized tensor's missing scale/zero-point from the manifest's record of it."""
    if spec.scale is not None or not isinstance(recorded, dict):
        return spec
    scale, zero_point = recorded.get("scale"), recorded.get("zero_point")
    if scale is None or zero_point is None:
        return spec
    return TensorSpec(spec.name, spec.shape, spec.dtype, float(scale), int(zero_point))


def attach_io(
    backend: Any,
    model: Any,
    inp: TensorSpec,
    out: TensorSpec,
    *,
    normalization: Normalization,
    output: str | None,
    output_op: str | None,
) -> None:
    """Settle the convention (or refuse the model) and give ``backend`` its tensors and codecs.

    The codecs come from the tensors' own parameters, completed by the manifest where the engine
    does not expose them (ONNX Runtime has no I/O scale). Sets ``input``, ``output``,
    ``convention``, ``input_codec``, ``output_codec`` and ``call`` (``invoke`` in fixed-size chunks
    when the model's batch is fixed).
    """
    convention = convention_for(
        model.path, inp, out, normalization=normalization, output=output, output_op=output_op
    )
    entry = model.manifest_entry or {}
    backend.input, backend.output = _overlay(inp, entry.get("input")), _overlay(out, entry.get("output"))
    backend.convention = convention
    backend.input_codec = InputCodec(backend.input, convention.normalization, convention.layout)
    backend.output_codec = OutputCodec(backend.output, convention.output)
    backend.call = batched(backend.invoke, convention.batch)


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
            raw = backend.call(backend.input_codec.from_uint8(np.zeros((n, 28, 28, 1), np.uint8)))
        except RuntimeError as exc:
            raise ValueError(f"{path}: the model loads but does not run: {exc}") from None
        if raw.shape != (n, NUM_CLASSES):
            raise ValueError(
                f"{path}: a batch of {n} gave output shape {tuple(raw.shape)}, expected "
                f"({n}, {NUM_CLASSES}): one score per digit. If the model runs a fixed batch that "
                f"its input shape does not declare, export it with that batch in its input shape"
            )

"""ONNX Runtime backend.

Thread safety: ``InferenceSession.run`` may be called from many threads at once
(ONNX Runtime documents concurrent Run as safe), so no lock is taken.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mnistedge.core.contract import MNISTEDGE_NORMALIZATION, Normalization
from mnistedge.core.tensors import TensorSpec
from mnistedge.runtime._backend import attach_io
from mnistedge.runtime._convention import last_op
from mnistedge.runtime._integrity import ModelFile
from mnistedge.runtime._onnx_check import graph_nodes
from mnistedge.runtime._providers import check_threads, fallback_warning, import_engine, rank_ort, resolve

__all__ = ["OnnxRuntimeBackend"]

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
}


def _spec(arg: Any) -> TensorSpec:
    dtype = _ORT_TYPES.get(arg.type)
    if dtype is None:
        raise ValueError(f"model tensor {arg.name!r} has type {arg.type}; supported: {', '.join(_ORT_TYPES)}")
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
    return TensorSpec(name=arg.name, shape=shape, dtype=dtype)


def _nodes(data: bytes) -> list[tuple[str, list[str], list[str]]] | None:
    """The graph's (op_type, inputs, outputs), read from the model bytes; None if unreadable."""
    try:
        return graph_nodes(data)[0]
    except (ValueError, StopIteration):  # ORT loaded it; an odd encoding just leaves it unknown
        return None


class OnnxRuntimeBackend:
    """One ``onnxruntime.InferenceSession`` behind the backend contract (see ``_backend``).

    ``normalization``/``output`` complete the model's ``IOConvention`` (see ``_convention``).

    Attributes for raw-engine timing: ``session``, ``input_name``, ``output_names``
    (so the raw call is ``session.run(output_names, {input_name: prepare(raw)})``).
    """

    engine = "onnxruntime"

    def __init__(
        self,
        model: ModelFile,
        *,
        provider: str = "auto",
        threads: int | None = None,
        strict: bool = False,
        normalization: Normalization = MNISTEDGE_NORMALIZATION,
        output: str | None = None,
    ) -> None:
        ort = import_engine("onnxruntime")
        ranked = rank_ort(list(ort.get_available_providers()))
        chosen = resolve(provider, "onnxruntime", ranked, strict=strict)
        check_threads(threads)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: fallback is reported by us, once
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        providers = [chosen] if chosen == "CPUExecutionProvider" else [chosen, "CPUExecutionProvider"]
        try:
            # enable_fallback=0: no silent retry that prints to stdout; we report fallback.
            session = ort.InferenceSession(
                model.data, sess_options=options, providers=providers, enable_fallback=0
            )
            inputs, outputs = session.get_inputs(), session.get_outputs()
            if len(inputs) != 1 or len(outputs) != 1:
                raise ValueError(
                    f"model has {len(inputs)} inputs and {len(outputs)} outputs; the mnistedge "
                    f"runtime needs one image input and one class-score output"
                )
            inp, out = _spec(inputs[0]), _spec(outputs[0])
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/InvalidProtobuf types
            raise ValueError(f"{model.path}: ONNX Runtime cannot load this model: {exc}") from None
        nodes = _nodes(model.data)
        self.op_names = None if nodes is None else [op for op, _, _ in nodes]
        output_op = None if nodes is None else last_op(nodes, out.name)
        attach_io(self, model, inp, out, normalization=normalization, output=output, output_op=output_op)
        self.path = model.path
        self.session = session
        self.input_name = inp.name
        self.output_names = [out.name]
        self.threads = threads
        self.provider = session.get_providers()[0]
        fallback_warning(chosen, self.provider, "onnxruntime", strict=strict)

    def prepare(self, raw_pixels: np.ndarray) -> np.ndarray:
        return self.input_codec.prepare(raw_pixels)

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """Run the engine on a prepared tensor; returns the raw output."""
        try:
            return self.session.run(self.output_names, {self.input_name: tensor})[0]
        except Exception as exc:  # ORT raises its own Fail/RuntimeException types
            raise RuntimeError(f"{self.path}: ONNX Runtime failed to run: {exc}") from None

    def run(self, raw_pixels: np.ndarray) -> np.ndarray:
        return self.output_codec.to_proba(self.call(self.prepare(raw_pixels)))

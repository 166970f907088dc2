"""LiteRT backend (``ai_edge_litert``): XNNPACK or built-in CPU kernels.

Thread safety: a LiteRT interpreter must not be used by two threads at once, so
every engine call (resize, set, invoke, get) runs under one lock per backend.
Calls from many threads are correct but serialized; for parallel throughput load
one classifier per thread.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from mnistedge.core.contract import MNISTEDGE_NORMALIZATION, Normalization
from mnistedge.core.tensors import TensorSpec
from mnistedge.runtime._backend import attach_io
from mnistedge.runtime._convention import last_op
from mnistedge.runtime._integrity import ModelFile
from mnistedge.runtime._providers import LITERT_PROVIDERS, check_threads, import_engine, resolve

__all__ = ["LiteRTBackend"]


def _spec(detail: dict[str, Any]) -> TensorSpec:
    scale, zero_point = detail["quantization"]
    shape = detail.get("shape_signature")
    shape = detail["shape"] if shape is None or len(shape) == 0 else shape
    quantized = scale != 0.0
    return TensorSpec(
        name=str(detail["name"]),
        shape=tuple(int(d) for d in shape),
        dtype=np.dtype(detail["dtype"]).name,
        scale=float(scale) if quantized else None,
        zero_point=int(zero_point) if quantized else None,
    )


class LiteRTBackend:
    """One LiteRT interpreter behind the backend contract (see ``_backend``).

    Attributes for raw-engine timing: ``interpreter`` (``ai_edge_litert`` Interpreter),
    ``input_index``, ``output_index``; ``prepare(raw)`` gives the tensor to ``set_tensor``.
    Call ``resize(n)`` before driving the interpreter yourself with a batch of ``n``.
    ``normalization``/``output`` complete the model's ``IOConvention`` (see ``_convention``).
    """

    engine = "litert"

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
        litert = import_engine("litert")
        chosen = resolve(provider, "litert", list(LITERT_PROVIDERS), strict=strict)
        resolver = litert.OpResolverType
        kind = {
            "xnnpack": resolver.AUTO,
            "cpu": resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            "reference": resolver.BUILTIN_REF,
        }[chosen]
        check_threads(threads)
        try:
            interp = litert.Interpreter(
                model_content=model.data,
                num_threads=threads,
                experimental_op_resolver_type=kind,
            )
            interp.allocate_tensors()
            inputs, outputs = interp.get_input_details(), interp.get_output_details()
            ops = interp._get_ops_details()
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"{model.path}: LiteRT cannot load this model: {exc}") from None
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"{model.path}: model has {len(inputs)} inputs and {len(outputs)} outputs; "
                f"the runtime needs one image input and one class-score output"
            )
        self.path = model.path
        self.interpreter = interp
        self.input_index = int(inputs[0]["index"])
        self.output_index = int(outputs[0]["index"])
        inp, out = _spec(inputs[0]), _spec(outputs[0])
        # The delegate's nodes list what they took over; the model's own ops say what it computes.
        model_ops = [op for op in ops if op["op_name"] != "DELEGATE"]
        nodes = [
            (op["op_name"], [int(i) for i in op["inputs"]], [int(o) for o in op["outputs"]])
            for op in model_ops
        ]
        attach_io(
            self, model, inp, out, normalization=normalization, output=output,
            output_op=last_op(nodes, self.output_index),
        )  # fmt: skip
        self.threads = threads
        self.provider = (
            "xnnpack" if len(model_ops) < len(ops) else ("reference" if chosen == "reference" else "cpu")
        )
        self.op_names = [op["op_name"] for op in model_ops]
        self._tail = list(self.convention.input_tail)
        self._batch = int(inputs[0]["shape"][0])
        self._lock = threading.Lock()

    def resize(self, n: int) -> None:
        """Resize the interpreter's input to a batch of ``n`` (no-op when it already is)."""
        with self._lock:
            self._resize(n)

    def _resize(self, n: int) -> None:
        if n == self._batch:
            return
        self._batch = -1  # if allocation fails, the next call retries instead of trusting it
        try:
            self.interpreter.resize_tensor_input(self.input_index, [n, *self._tail])
            self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise RuntimeError(f"{self.path}: LiteRT cannot run a batch of {n}: {exc}") from None
        self._batch = n

    def prepare(self, raw_pixels: np.ndarray) -> np.ndarray:
        return self.input_codec.prepare(raw_pixels)

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """Run the engine on a prepared tensor; returns the raw output (a copy)."""
        n = tensor.shape[0]
        with self._lock:
            if n != self._batch:
                self._resize(n)
            # The wrapper's own native methods: the same engine calls, minus a Python frame
            # each. The reference is dropped before the lock is: LiteRT's resize refuses to
            # run while anything else holds the native interpreter.
            native = self.interpreter._interpreter
            try:
                native.SetTensor(self.input_index, tensor)
                native.Invoke()
                out = native.GetTensor(self.output_index, 0)
            except (RuntimeError, ValueError) as exc:
                raise RuntimeError(f"{self.path}: LiteRT failed to run: {exc}") from None
            finally:
                del native
        return out

    def run(self, raw_pixels: np.ndarray) -> np.ndarray:
        return self.output_codec.to_proba(self.call(self.prepare(raw_pixels)))

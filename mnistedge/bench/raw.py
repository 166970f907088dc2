"""The bare engine call, timed beside the runtime's ``predict`` to measure its overhead.

The input tensor is prepared once outside the timed call (quantized for int8 models),
so the call is exactly what an app would write by hand against the engine:
``session.run`` for ONNX Runtime, ``set_tensor`` + ``invoke`` + ``get_tensor`` for LiteRT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["RAW_CALLS", "raw_call"]


def _onnxruntime(backend: Any, tensor: np.ndarray) -> Callable[[], Any]:
    session, feed, outputs = backend.session, {backend.input_name: tensor}, backend.output_names
    return lambda: session.run(outputs, feed)


def _litert(backend: Any, tensor: np.ndarray) -> Callable[[], Any]:
    backend.resize(tensor.shape[0])
    interp, inp, out = backend.interpreter, backend.input_index, backend.output_index

    def call() -> Any:
        interp.set_tensor(inp, tensor)
        interp.invoke()
        return interp.get_tensor(out)

    return call


RAW_CALLS: dict[str, Callable[[Any, np.ndarray], Callable[[], Any]]] = {
    "onnxruntime": _onnxruntime,
    "litert": _litert,
}


def raw_call(clf: Any, images: np.ndarray) -> Callable[[], Any]:
    """A zero-argument bare engine call on ``images`` (uint8 (N, 28, 28)) for ``clf``'s engine.

    Raises:
        ValueError: the classifier's engine has no raw call here.
    """
    backend = clf.backend
    if backend.engine not in RAW_CALLS:
        raise ValueError(f"no raw engine call for engine {backend.engine!r}; known: {sorted(RAW_CALLS)}.")
    raw_pixels = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
    return RAW_CALLS[backend.engine](backend, backend.prepare(raw_pixels))

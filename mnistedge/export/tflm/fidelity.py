"""Does TFLM give the answers LiteRT gives on the same int8 file? Compared in int8, output by output.

TFLM runs its own copy of TFLite's reference kernels. LiteRT can run its reference kernels too
(``OpResolverType.BUILTIN_REF``, the runtime's ``reference`` provider), its built-in optimized
ones, or (by default) the XNNPACK delegate, whose int8 arithmetic rounds differently in places.
TFLM is compared with all three, in LSB of the int8 output. Measured here: on the default cnn
TFLM equals BUILTIN_REF exactly; on the tiny arch 13 of 100,000 outputs differ, traced to
FULLY_CONNECTED, where LiteRT's reference kernel is 1 LSB off both its optimized kernel and TFLM
on a few images (the softmax then spreads it); TFLM matches the optimized kernels on all but one.
The cause is how each rounds a tie when requantizing. LiteRT's reference FC uses single rounding,
TFLM double rounding, and the optimized FC a half-up final shift
(measured: see export/c/kernels/mnist_int8.h).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core import metrics

__all__ = [
    "LITERT_KERNELS",
    "Comparison",
    "compare_outputs",
    "compare_with_litert",
    "litert_int8_outputs",
    "quantize_images",
]

# provider -> what it is, in the report's words
LITERT_KERNELS = {
    "reference": "LiteRT reference kernels (BUILTIN_REF)",
    "cpu": "LiteRT built-in optimized kernels (no delegate)",
    "xnnpack": "LiteRT default (XNNPACK delegate), what desktop users run",
}


@dataclass(frozen=True)
class Comparison:
    """An int8 engine (TFLM, or the generated C) against one LiteRT kernel set, same file and images."""

    against: str  # "reference" | "xnnpack"
    description: str
    n: int  # images
    accuracy: float  # the engine under test (TFLM, or the generated C)
    litert_accuracy: float
    label_agreement: float  # share of images with the same top-1
    labels_differing: int
    images_differing: int  # images with at least one int8 output that differs
    outputs_differing: int  # int8 output values (of n × 10) that differ
    max_lsb: int  # largest |difference| of one int8 output, in LSB
    lsb_histogram: dict[str, int]  # "|Δ| in LSB" -> count of outputs, for the nonzero ones

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quantize_images(images: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """uint8 (N, 28, 28) pixels -> the int8 input tensor (N, 28, 28, 1), as the runtime quantizes."""
    q = np.round(np.asarray(images, dtype=np.float32) / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8).reshape(-1, 28, 28, 1)


def litert_int8_outputs(path: Path, images: np.ndarray, provider: str) -> np.ndarray:
    """LiteRT's raw int8 outputs (N, 10) for uint8 images, with ``provider``'s kernels, one image a call.

    One image per call, as on the device: the same graph TFLM runs (batch 1).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = {
        "reference": OpResolverType.BUILTIN_REF,
        "cpu": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        "xnnpack": OpResolverType.AUTO,
    }[provider]
    interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=kind)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if np.dtype(inp["dtype"]) != np.int8:
        raise ValueError(
            f"{path}: input is {np.dtype(inp['dtype']).name}; TFLM fidelity compares int8 models"
        )
    scale, zero_point = inp["quantization"]
    tensors = quantize_images(images, scale, zero_point)
    outputs = np.empty((len(tensors), int(out["shape"][-1])), dtype=np.int8)
    for i, tensor in enumerate(tensors):
        interpreter.set_tensor(inp["index"], tensor[None])
        interpreter.invoke()
        outputs[i] = interpreter.get_tensor(out["index"])[0]
    return outputs


def compare_outputs(tflm: np.ndarray, litert: np.ndarray, labels: np.ndarray, against: str) -> Comparison:
    """Compare int8 outputs (N, 10) of TFLM and of LiteRT with ``against``'s kernels."""
    if tflm.shape != litert.shape:
        raise ValueError(f"output shapes differ: TFLM {tflm.shape}, LiteRT {litert.shape}")
    diff = np.abs(tflm.astype(np.int16) - litert.astype(np.int16))
    nonzero = diff[diff > 0]
    values, counts = np.unique(nonzero, return_counts=True)
    tflm_labels, litert_labels = tflm.argmax(axis=1), litert.argmax(axis=1)
    return Comparison(
        against=against,
        description=LITERT_KERNELS[against],
        n=len(labels),
        accuracy=metrics.accuracy(tflm_labels, labels),
        litert_accuracy=metrics.accuracy(litert_labels, labels),
        label_agreement=metrics.agreement(tflm_labels, litert_labels),
        labels_differing=int((tflm_labels != litert_labels).sum()),
        images_differing=int((diff > 0).any(axis=1).sum()),
        outputs_differing=int(nonzero.size),
        max_lsb=int(diff.max(initial=0)),
        lsb_histogram={str(int(v)): int(c) for v, c in zip(values, counts, strict=True)},
    )


def compare_with_litert(
    path: Path,
    images: np.ndarray,
    labels: np.ndarray,
    tflm_outputs: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, list[Comparison]]:
    """TFLM's int8 outputs on ``images`` and their comparison with both LiteRT kernel sets.

    Args:
        tflm_outputs: runs the quantized images (N, 28, 28, 1) int8 through TFLM, returns (N, 10) int8.
    """
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    scale, zero_point = detail["quantization"]
    tflm = tflm_outputs(quantize_images(images, scale, zero_point))
    return tflm, [
        compare_outputs(tflm, litert_int8_outputs(path, images, provider), labels, provider)
        for provider in LITERT_KERNELS
    ]

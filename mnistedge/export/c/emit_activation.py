"""Emitters for SOFTMAX and LOGISTIC (kernels in mnist_int8_activation.h), parameters as LiteRT derives them.

LiteRT's BUILTIN_REF (tflite/kernels/activations.cc, kReference) runs int8 SOFTMAX in gemmlowp
fixed point with parameters from ``PreprocessSoftmaxScaling`` and ``CalculateInputRadius``
(:func:`softmax_params`), and int8 LOGISTIC as a 256-entry table that its Prepare fills in
float (``LUTPopulate<int8_t>``); :func:`logistic_table` computes that table here, at generation
time, with the same float32 operations, so the device only indexes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mnistedge.export.c.graph import Graph, Op, Tensor
from mnistedge.export.c.layer import LayerCode, activation_inputs, c_array, only_scale, only_zero_point
from mnistedge.export.c.quant import quantize_multiplier

__all__ = ["EMITTERS", "SoftmaxParams", "emit_logistic", "emit_softmax", "logistic_table", "softmax_params"]

HEADER = "mnist_int8_activation.h"
SCALED_DIFF_INTEGER_BITS = 5  # softmax's exp() input is Q5.26 (kScaledDiffIntegerBits)
# TFLITE_SINGLE_ROUNDING's cap on beta * input_scale * 2**26, so the left shift stays <= 30 as
# single-rounding MultiplyByQuantizedMultiplier needs. The double-rounding cap (2**31 - 1) gives
# the same outputs: it only drops differences of -1 whose exp(-16) rounds to 0 in both the sum and
# the output (tests/test_c_activation.py sweeps input scales up to 64).
MAX_SOFTMAX_REAL_MULTIPLIER = (1 << 30) - 1.0
# Every exp term is at most 2**19 in the Q12.19 sum; TFLite CHECKs the final shift is <= 31,
# which needs the sum below 2**28, so rows of 512 equal values or more abort in TFLite.
MAX_SOFTMAX_DEPTH = 511


@dataclass(frozen=True)
class SoftmaxParams:
    """What SoftmaxPrepare computes for int8 under kReference (mnist_softmax_params in C)."""

    input_multiplier: int  # Q0.31
    input_left_shift: int  # in [0, 30]
    diff_min: int  # differences to the row max below this contribute nothing


def softmax_params(beta: float, input_scale: float) -> SoftmaxParams:
    """``PreprocessSoftmaxScaling`` and ``CalculateInputRadius`` in double, as the C++.

    Raises:
        ValueError: ``beta * input_scale * 2**26 <= 1``, which TFLite's
            QuantizeMultiplierGreaterThanOne CHECK-fails on.
    """
    # beta and the scale are float32 in the flatbuffer, widened to double before multiplying.
    real = float(np.float32(beta)) * float(np.float32(input_scale)) * (1 << (31 - SCALED_DIFF_INTEGER_BITS))
    real = min(real, MAX_SOFTMAX_REAL_MULTIPLIER)
    if not real > 1.0:
        raise ValueError(
            f"Softmax beta * input scale = {beta * input_scale:g} is below 2**-26; TFLite rejects it "
            "(QuantizeMultiplierGreaterThanOne). Requantize the logits with a larger scale."
        )
    multiplier, shift = quantize_multiplier(real)
    assert 0 <= shift <= 30, (real, shift)  # real in (1, 2**30): frexp gives an exponent in [1, 30]
    # CalculateInputRadius(5, shift, 31): floor(31 * 2**26 / 2**shift), exact in double.
    radius = math.floor(1.0 * ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << 26) / (1 << shift))
    return SoftmaxParams(multiplier, shift, -radius)


def _sigmoid_f32(x: np.float32) -> np.float32:
    """``1.0f / (1.0f + std::exp(-x))`` in float32; expf as the correctly rounded exp.

    glibc's expf (what LiteRT links) is documented within 0.502 ULP, so the two can differ only
    next to a float32 halfway point, and a table entry only if that also lands on a rounding tie of
    ``sigmoid * 256``. Measured: libm expf, numpy's float32 exp and this give the same tables, equal
    to BUILTIN_REF's, on 400 input scales x 256 inputs.
    """
    minus_x = -float(x)
    with np.errstate(over="ignore"):  # expf overflows to inf above ~88.7, and 1 / (1 + inf) = 0
        e = np.float32(math.exp(minus_x)) if minus_x < 709.0 else np.float32(np.inf)
    return np.float32(1.0) / (np.float32(1.0) + e)


def _round_half_away(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def logistic_table(
    input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int
) -> np.ndarray:
    """The int8 LOGISTIC table as TFLite's ``LUTPopulateInt8``: entry ``v + 128`` is the output for ``v``.

    Every step is float32 as in the C++: dequantize ``scale * (v - zp)``, the sigmoid, multiply by
    ``1 / output_scale``, round half away from zero (TfLiteRound), add the zero point, clamp.
    """
    in_scale = np.float32(input_scale)
    inverse_scale = np.float32(1.0) / np.float32(output_scale)
    table = []
    for v in range(-128, 128):
        dequantized = in_scale * np.float32(v - input_zero_point)
        rescaled = _round_half_away(float(_sigmoid_f32(dequantized) * inverse_scale))
        table.append(min(max(rescaled + output_zero_point, -128), 127))
    return np.array(table, dtype=np.int8)


def _int8_io(graph: Graph, op: Op) -> tuple[Tensor, Tensor]:
    (x,) = activation_inputs(graph, op)
    y = graph.tensors[op.outputs[0]]
    if (x.dtype, y.dtype) != ("int8", "int8"):
        raise ValueError(
            f"Op {op.index} ({op.name}): generated C runs int8 -> int8 only; got {x.dtype} -> {y.dtype}. "
            "Export with --quantize int8 (full-int8, no int16 activations)."
        )
    if int(np.prod(x.shape)) != int(np.prod(y.shape)):
        raise ValueError(f"Op {op.index} ({op.name}): input {x.shape} and output {y.shape} sizes differ.")
    return x, y


def emit_softmax(graph: Graph, op: Op, prefix: str) -> LayerCode:
    """SOFTMAX over the last axis (the only axis TFLite's op has) with the fixed-point kernel."""
    x, y = _int8_io(graph, op)
    # SoftmaxPrepare ENSUREs zero point -128 and |scale - 1/256| <= 0.001/256, in float32.
    scale_error = abs(np.float32(only_scale(y)) - np.float32(1.0) / np.float32(256.0))
    if only_zero_point(y) != -128 or scale_error > np.float32(0.001) * np.float32(1.0) / np.float32(256.0):
        raise ValueError(
            f"Op {op.index} (SOFTMAX): int8 softmax output must be quantized with scale 1/256 and zero "
            f"point -128 (TFLite requires it); got scale {only_scale(y)!r}, zero point {only_zero_point(y)}. "
            "Re-export with the TFLite converter, which sets it."
        )
    if len(x.shape) < 1 or tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"Op {op.index} (SOFTMAX): input {x.shape} and output {y.shape} shapes differ.")
    depth = int(x.shape[-1])
    if not 1 <= depth <= MAX_SOFTMAX_DEPTH:
        raise ValueError(
            f"Op {op.index} (SOFTMAX): the last axis has {depth} values; TFLite's int8 reference softmax "
            f"handles at most {MAX_SOFTMAX_DEPTH} (its shift CHECK fails beyond). Use fewer classes."
        )
    p = softmax_params(op.options.get("beta", 1.0), only_scale(x))
    outer = int(np.prod(x.shape)) // depth
    statements = (
        f"    static const mnist_softmax_params params = {{{p.input_multiplier}, {p.input_left_shift}, "
        f"{p.diff_min}}};\n"
        f"    mnist_softmax_s8(&params, {outer}, {depth}, in0, out);\n"
    )
    return LayerCode("", statements, macs=0, headers=(HEADER,))


def emit_logistic(graph: Graph, op: Op, prefix: str) -> LayerCode:
    """LOGISTIC as a table lookup; the table is computed here as LiteRT's Prepare computes it."""
    x, y = _int8_io(graph, op)
    # SigmoidPrepare ENSUREs output scale == 1. / 256 exactly; the zero point only enters the table.
    if float(np.float32(only_scale(y))) != 1.0 / 256:
        raise ValueError(
            f"Op {op.index} (LOGISTIC): int8 logistic output must have scale 1/256 (TFLite requires it; "
            f"the converter also sets zero point -128); got {only_scale(y)!r}. Re-export with the TFLite "
            "converter."
        )
    table = logistic_table(only_scale(x), only_zero_point(x), only_scale(y), only_zero_point(y))
    statements = f"    mnist_logistic_s8({prefix}_table, {int(np.prod(x.shape))}, in0, out);\n"
    return LayerCode(c_array(f"{prefix}_table", table), statements, macs=0, headers=(HEADER,))


EMITTERS: dict[str, Callable[[Graph, Op, str], LayerCode]] = {
    "SOFTMAX": emit_softmax,
    "LOGISTIC": emit_logistic,
}

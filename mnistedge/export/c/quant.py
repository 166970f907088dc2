"""TFLite's integer-quantization arithmetic, in Python, bit for bit.

Two halves. Parameter helpers (``quantize_multiplier``, ``conv_per_channel_multipliers``,
``activation_range``) compute, at generation time, the constants TFLite's kernels derive in
Prepare (tensorflow/lite/kernels/internal/quantization_util.cc, kernels/kernel_util.cc).
Reference primitives (``saturating_rounding_doubling_high_mul``, ``rounding_divide_by_pot``,
``multiply_by_quantized_multiplier``) are what the generated C computes at run time, in numpy
int64 so they can check the C and the kernels element by element.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "activation_range",
    "conv_per_channel_multipliers",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_single_rounding",
    "quantize_multiplier",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT8_MIN, INT8_MAX = -128, 127


def _round_half_away(x: float) -> int:
    """C's ``std::round`` (TfLiteRound): halves go away from zero, unlike Python's ``round``."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real ~= multiplier * 2**(shift - 31)``.

    ``real`` is a double (as in the C++); the multiplier is a Q0.31 int32 with ``|m|`` in
    [2**30, 2**31) and ``shift`` the binary exponent (positive = left shift). A multiplier that
    rounds up to 2**31 is halved with ``shift + 1``; below 2**-32 (shift < -31) it becomes (0, 0).
    """
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)  # q in [0.5, 1), as std::frexp
    # q * 2**31 is exact (a power-of-two scale of a double), so only the rounding matters.
    q_fixed = _round_half_away(q * (1 << 31))
    if abs(q_fixed) == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def conv_per_channel_multipliers(
    input_scale: float, filter_scales: np.ndarray | tuple[float, ...], output_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel (multiplier int32, shift int32), as ``PopulateConvolutionQuantizationParams``.

    The scales are float32 in the flatbuffer; TFLite widens each to double *before* multiplying
    (``(double)input_scale * (double)filter_scale / (double)output_scale``), so the product is
    not rounded to float. A single filter scale is a per-tensor filter, broadcast by the caller.
    """
    as_double = [float(np.float32(s)) for s in np.atleast_1d(np.asarray(filter_scales))]
    in_scale, out_scale = float(np.float32(input_scale)), float(np.float32(output_scale))
    pairs = [quantize_multiplier(in_scale * f / out_scale) for f in as_double]
    multipliers = np.array([m for m, _ in pairs], dtype=np.int32)
    shifts = np.array([s for _, s in pairs], dtype=np.int32)
    return multipliers, shifts


def activation_range(fused: str, scale: float, zero_point: int) -> tuple[int, int]:
    """The int8 clamp for a fused activation, as ``CalculateActivationRangeQuantized``.

    TFLite quantizes the bounds in float32: ``zero_point + (int32)round(f / scale)``.

    Raises:
        ValueError: an activation with no integer clamp (TANH, SIGN_BIT) or an unknown name.
    """
    scale32 = np.float32(scale)

    def quantize(f: float) -> int:
        return int(zero_point) + _round_half_away(float(np.float32(f) / scale32))

    if fused == "NONE":
        return INT8_MIN, INT8_MAX
    if fused == "RELU":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if fused == "RELU6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if fused == "RELU_N1_TO_1":
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise ValueError(
        f"Fused activation {fused!r} has no int8 clamp; expected one of NONE, RELU, RELU6, RELU_N1_TO_1."
    )


def _wrap_int32(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int64)


def saturating_rounding_doubling_high_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp's ``SaturatingRoundingDoublingHighMul`` on int32 values: ``round(a * b / 2**31)``.

    The nudge is ``2**30`` for a non-negative product and ``1 - 2**30`` otherwise, then C's
    truncating division by 2**31; ``INT32_MIN * INT32_MIN`` saturates to ``INT32_MAX``.
    """
    a64, b64 = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    ab = a64 * b64  # |ab| <= 2**62: exact in int64
    nudged = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    truncated = np.sign(nudged) * (np.abs(nudged) >> 31)  # C division rounds toward zero
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    return np.where(overflow, INT32_MAX, truncated).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray | int, exponent: int) -> np.ndarray:
    """gemmlowp's ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded half away from zero.

    Raises:
        ValueError: ``exponent`` outside [0, 31].
    """
    if not 0 <= exponent <= 31:
        raise ValueError(f"exponent must be in [0, 31] (a right shift of an int32); got {exponent}.")
    x64 = np.asarray(x, dtype=np.int64)
    mask = (1 << exponent) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0)
    return (x64 >> exponent) + (remainder > threshold)  # >> on int64 is arithmetic, as in C


def multiply_by_quantized_multiplier(x: np.ndarray | int, multiplier: int, shift: int) -> np.ndarray:
    """TFLite's double-rounding ``MultiplyByQuantizedMultiplier`` (the reference build's default).

    ``x * 2**max(shift, 0)`` is an int32 product in the C++; it wraps here as it does on
    two's-complement targets (the kernels keep it in range). Builds with
    ``TFLITE_SINGLE_ROUNDING`` use :func:`multiply_by_quantized_multiplier_single_rounding`;
    which one LiteRT's BUILTIN_REF kernels use is to be measured, not assumed.
    """
    left, right = max(shift, 0), max(-shift, 0)
    scaled = _wrap_int32(np.asarray(x, dtype=np.int64) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scaled, multiplier), right)


def multiply_by_quantized_multiplier_single_rounding(
    x: np.ndarray | int, multiplier: int, shift: int
) -> np.ndarray:
    """The ``TFLITE_SINGLE_ROUNDING`` variant: one int64 product, one rounding right shift.

    Raises:
        ValueError: a negative multiplier or ``shift`` outside [-31, 30] (TFLite DCHECKs these).
    """
    if multiplier < 0 or not -31 <= shift <= 30:
        raise ValueError(
            f"Single rounding needs multiplier >= 0 and shift in [-31, 30]; got {multiplier}, {shift}."
        )
    total_shift = 31 - shift
    product = np.asarray(x, dtype=np.int64) * np.int64(multiplier) + (np.int64(1) << (total_shift - 1))
    return _wrap_int32(product >> total_shift)

"""Emitters for DEPTHWISE_CONV_2D, AVERAGE_POOL_2D and MEAN (kernels in mnist_int8_spatial.h).

Parameters are derived as LiteRT's Prepare/Eval derive them for the BUILTIN_REF kernels
(tflite/kernels/depthwise_conv.cc, pooling.cc, reduce.cc and reference/reduce.h), so the C is
bit-exact with them; tests/test_c_spatial.py measures it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnistedge.export.c.emit_core import (
    dims,
    geometry,
    out_size_and_padding,
    per_channel_quant,
    pool_statements,
)
from mnistedge.export.c.graph import Graph, Op, Tensor
from mnistedge.export.c.layer import (
    LayerCode,
    activation_inputs,
    constant_input,
    only_scale,
    only_zero_point,
)
from mnistedge.export.c.quant import quantize_multiplier

__all__ = [
    "EMITTERS",
    "emit_average_pool_2d",
    "emit_depthwise_conv_2d",
    "emit_mean",
    "mean_axes_block",
    "mean_multiplier",
]

HEADER = "mnist_int8_spatial.h"
# mnist_mean_s8 sums int8 values in int32 and adds -zero_point * count: exact below this count.
_MAX_MEAN_COUNT = (1 << 31) // 256


def _nhwc(op: Op, t: Tensor) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        raise ValueError(f"Op {op.index} ({op.name}): expected an NHWC tensor; got shape {t.shape}.")
    n, h, w, c = t.shape
    return n, h, w, c


def _check_output_shape(op: Op, want: tuple[int, ...], y: Tensor) -> None:
    if tuple(y.shape) != tuple(want):
        raise ValueError(f"Op {op.index} ({op.name}): output shape {y.shape} should be {want}.")


# ---- DEPTHWISE_CONV_2D ----


def emit_depthwise_conv_2d(graph: Graph, op: Op, prefix: str) -> LayerCode:
    """DEPTHWISE_CONV_2D: any depth multiplier, stride, dilation, SAME/VALID, NONE/RELU/RELU6."""
    o = op.options
    (x,) = activation_inputs(graph, op)
    y = graph.tensors[op.outputs[0]]
    n, h, w, c = _nhwc(op, x)
    w_shape = graph.tensors[op.inputs[1]].shape
    if len(w_shape) != 4 or w_shape[0] != 1 or w_shape[3] % c:
        raise ValueError(
            f"Op {op.index} (DEPTHWISE_CONV_2D): filter shape {w_shape} is not [1, H, W, C * multiplier] "
            f"for {c} input channels."
        )
    _, fh, fw, out_c = w_shape
    # LiteRT derives the multiplier from the shapes (ComputeDepthMultiplier), not from the options.
    depth_multiplier = out_c // c
    oh, pad_h = out_size_and_padding(o["stride_h"], o["dilation_h"], h, fh, o["padding"])
    ow, pad_w = out_size_and_padding(o["stride_w"], o["dilation_w"], w, fw, o["padding"])
    _check_output_shape(op, (n, oh, ow, out_c), y)
    definitions, params, bias = per_channel_quant(graph, op, prefix, out_c)
    statements = (
        params
        + geometry(o["stride_h"], o["stride_w"], o["dilation_h"], o["dilation_w"], pad_h, pad_w)
        + dims((n, h, w, c), (n, oh, ow, out_c))
        + f"    mnist_depthwise_conv_s8(&params, &quant, &geo, {depth_multiplier}, &in_dims, in0, "
        f"{fh}, {fw}, {prefix}_filter, {bias}, &out_dims, out);\n"
    )
    return LayerCode(definitions, statements, macs=n * oh * ow * out_c * fh * fw, headers=(HEADER,))


# ---- AVERAGE_POOL_2D ----


def emit_average_pool_2d(graph: Graph, op: Op, prefix: str) -> LayerCode:
    """AVERAGE_POOL_2D; MACs 0: it only adds and divides (like MAX_POOL_2D, counted as data movement)."""
    (x,) = activation_inputs(graph, op)
    y = graph.tensors[op.outputs[0]]
    # pooling.cc only DCHECKs this: the reference averages raw int8 values with no rescaling.
    if abs(only_scale(x) - only_scale(y)) > 1e-6 or only_zero_point(x) != only_zero_point(y):
        raise ValueError(
            f"Op {op.index} (AVERAGE_POOL_2D): input and output quantization differ; "
            "TFLite requires them equal."
        )
    return LayerCode("", pool_statements(graph, op, "mnist_avg_pool_s8"), macs=0, headers=(HEADER,))


# ---- MEAN ----


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """(multiplier, shift) that QuantizedMeanOrSum applies to ``sum - input_zero_point * count``.

    Prepare (reduce.cc PrepareMeanOrSum) quantizes ``(double)input_scale / (double)output_scale``;
    Eval (reference/reduce.h) folds ``1/count`` in with integer math: ``s = floor(log2(count))``
    capped at 32 and at ``31 + shift``, ``multiplier = (int64(multiplier) << s) / count`` (C division,
    truncating) and ``shift -= s``. Not ``QuantizeMultiplier(in / (out * count))``, which can round
    differently in the last bit.
    """
    multiplier, shift = quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    s = min(count.bit_length() - 1, 32, 31 + shift)
    # The multiplier is non-negative (scales are positive), so Python's // truncates as C's / does.
    return (multiplier << s) // count, shift - s


def mean_axes_block(op: Op, shape: tuple[int, ...], axes: np.ndarray) -> tuple[int, int, int]:
    """(outer, reduce, inner) when the axes (negatives wrapped, repeats dropped) are contiguous.

    Raises:
        ValueError: an axis out of range, or axes that are not one contiguous block.
    """
    rank, given = len(shape), [int(a) for a in np.ravel(axes)]
    resolved = sorted({int(a) + rank if int(a) < 0 else int(a) for a in given})
    if any(not 0 <= a < rank for a in resolved):
        raise ValueError(f"Op {op.index} (MEAN): axes {given} out of range for shape {shape}.")
    if resolved and resolved != list(range(resolved[0], resolved[-1] + 1)):
        raise ValueError(
            f"Op {op.index} (MEAN): axes {given} of shape {shape} are not contiguous; the C "
            "kernel reduces one contiguous block of axes (e.g. [1, 2] of NHWC, as GlobalAveragePooling2D "
            "converts). Fix: average over adjacent axes (or transpose first), or use GlobalAveragePooling2D."
        )
    first, last = (resolved[0], resolved[-1] + 1) if resolved else (rank, rank)
    return int(np.prod(shape[:first])), int(np.prod(shape[first:last])), int(np.prod(shape[last:]))


def _mean_output_shape(shape: tuple[int, ...], axes: np.ndarray, keep_dims: bool) -> tuple[int, ...]:
    reduced = {int(a) % len(shape) for a in np.ravel(axes)}
    if keep_dims:
        return tuple(1 if i in reduced else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in reduced)


def emit_mean(graph: Graph, op: Op, prefix: str) -> LayerCode:
    """MEAN over contiguous axes (GlobalAveragePooling2D: [1, 2] of NHWC), keep_dims either way; MACs 0."""
    axes = constant_input(graph, op, 1)
    if axes is None or graph.tensors[op.inputs[1]].dtype != "int32":
        raise ValueError(
            f"Op {op.index} (MEAN): the axes must be a constant int32 tensor; generated C has no "
            "runtime axes. Fix: reduce over fixed axes (GlobalAveragePooling2D, or keras.ops.mean "
            "with a constant axis)."
        )
    (x,) = activation_inputs(graph, op)
    y = graph.tensors[op.outputs[0]]
    outer, count, inner = mean_axes_block(op, x.shape, axes)
    _check_output_shape(op, _mean_output_shape(x.shape, axes, bool(op.options.get("keep_dims", False))), y)
    if not 0 < count < _MAX_MEAN_COUNT:
        raise ValueError(
            f"Op {op.index} (MEAN): {count} elements per mean; the C kernel takes 1 to {_MAX_MEAN_COUNT - 1}."
        )
    multiplier, shift = mean_multiplier(only_scale(x), only_scale(y), count)
    statements = (
        f"    static const mnist_quant_params params = {{{-only_zero_point(x)}, {only_zero_point(y)}, "
        "-128, 127};\n"
        f"    static const mnist_reduce_dims dims = {{{outer}, {count}, {inner}}};\n"
        f"    mnist_mean_s8(&params, {multiplier}, {shift}, &dims, in0, out);\n"
    )
    return LayerCode("", statements, macs=0, headers=(HEADER,))


EMITTERS: dict[str, Callable[[Graph, Op, str], LayerCode]] = {
    "DEPTHWISE_CONV_2D": emit_depthwise_conv_2d,
    "AVERAGE_POOL_2D": emit_average_pool_2d,
    "MEAN": emit_mean,
}

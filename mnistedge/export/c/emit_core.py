"""Emitters for CONV_2D, FULLY_CONNECTED, MAX_POOL_2D and RESHAPE (kernels in mnist_int8.h)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mnistedge.export.c.graph import Graph, Op
from mnistedge.export.c.layer import (
    LayerCode,
    activation_inputs,
    c_array,
    constant_input,
    only_scale,
    only_zero_point,
)
from mnistedge.export.c.quant import activation_range, conv_per_channel_multipliers

__all__ = [
    "EMITTERS",
    "HEADER",
    "ConvParts",
    "conv_parts",
    "conv_workspace_bytes",
    "dims",
    "geometry",
    "out_size_and_padding",
    "per_channel_quant",
    "pool_statements",
    "workspace_argument",
]

HEADER = "mnist_int8.h"
CONV_PATCH_MAX = 1024  # mnist_int8.h's MNIST_CONV_PATCH_MAX default


def out_size_and_padding(
    stride: int, dilation: int, size: int, filter_size: int, padding: str
) -> tuple[int, int]:
    """(output size, leading padding) as TFLite's ComputeOutSize and ComputePaddingHeightWidth."""
    effective = (filter_size - 1) * dilation + 1
    out = (size + stride - 1) // stride if padding == "SAME" else (size - effective + stride) // stride
    return out, max(((out - 1) * stride + effective - size) // 2, 0)


def _nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise ValueError(f"Expected an NHWC tensor; got shape {shape}.")
    n, h, w, c = shape
    return n, h, w, c


def geometry(stride_h: int, stride_w: int, dilation_h: int, dilation_w: int, pad_h: int, pad_w: int) -> str:
    values = ", ".join(str(v) for v in (stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w))
    return f"    static const mnist_conv_geometry geo = {{{values}}};\n"


def dims(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> str:
    def braces(shape: tuple[int, ...]) -> str:
        return "{" + ", ".join(str(v) for v in shape) + "}"

    return f"    static const mnist_dims in_dims = {braces(in_shape)}, out_dims = {braces(out_shape)};\n"


def per_channel_quant(graph: Graph, op: Op, prefix: str, channels: int) -> tuple[str, str, str]:
    """(definitions, params initializers, bias expression) shared by the convolutions and FULLY_CONNECTED.

    The multipliers are PopulateConvolutionQuantizationParams': one per output channel, in double.
    """
    x, w, y = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]]
    if w.scale is None or w.zero_point is None or set(w.zero_point) != {0}:
        raise ValueError(f"Op {op.index} ({op.name}): int8 weights must be symmetric (zero point 0).")
    if len(w.scale) not in (1, channels):
        raise ValueError(
            f"Op {op.index} ({op.name}): {len(w.scale)} filter scales for {channels} output channels."
        )
    scales = np.broadcast_to(np.asarray(w.scale, dtype=np.float64), (channels,))
    multipliers, shifts = conv_per_channel_multipliers(only_scale(x), scales, only_scale(y))
    act_min, act_max = activation_range(op.options["fused_activation"], only_scale(y), only_zero_point(y))
    bias = constant_input(graph, op, 2)
    definitions = (
        c_array(f"{prefix}_filter", w.data)
        + c_array(f"{prefix}_multiplier", multipliers)
        + c_array(f"{prefix}_shift", shifts)
        + (c_array(f"{prefix}_bias", bias) if bias is not None else "")
    )
    params = (
        f"    static const mnist_quant_params params = {{{-only_zero_point(x)}, {only_zero_point(y)}, "
        f"{act_min}, {act_max}}};\n"
        f"    static const mnist_per_channel_quant quant = {{{prefix}_multiplier, {prefix}_shift}};\n"
    )
    return definitions, params, f"{prefix}_bias" if bias is not None else "NULL"


@dataclass(frozen=True)
class ConvParts:
    """A CONV_2D's constants and setup, shared by the plain and the pooled (fused) layer."""

    definitions: str
    setup: str  # declares params, quant, geo, in_dims and out_dims
    filter_args: str  # "filter_h, filter_w, <prefix>_filter, <bias or NULL>"
    out_shape: tuple[int, int, int, int]
    macs: int
    workspace_bytes: int  # the kernel's column pair (MNIST_CONV_WORKSPACE_BYTES), planned as scratch


def conv_parts(graph: Graph, op: Op, prefix: str) -> ConvParts:
    o = op.options
    (x,) = activation_inputs(graph, op)
    y = graph.tensors[op.outputs[0]]
    n, h, w, c = _nhwc(x.shape)
    out_c, fh, fw, in_c = graph.tensors[op.inputs[1]].shape
    oh, pad_h = out_size_and_padding(o["stride_h"], o["dilation_h"], h, fh, o["padding"])
    ow, pad_w = out_size_and_padding(o["stride_w"], o["dilation_w"], w, fw, o["padding"])
    if (n, oh, ow, out_c) != tuple(y.shape) or in_c != c:
        raise ValueError(
            f"Op {op.index} (CONV_2D): shapes {x.shape} * {(out_c, fh, fw, in_c)} -> {y.shape} disagree."
        )
    definitions, params, bias = per_channel_quant(graph, op, prefix, out_c)
    setup = (
        params
        + geometry(o["stride_h"], o["stride_w"], o["dilation_h"], o["dilation_w"], pad_h, pad_w)
        + dims((n, h, w, c), (n, oh, ow, out_c))
    )
    return ConvParts(
        definitions,
        setup,
        f"{fh}, {fw}, {prefix}_filter, {bias}",
        (n, oh, ow, out_c),
        macs=n * oh * ow * out_c * fh * fw * in_c,
        workspace_bytes=conv_workspace_bytes(fh * fw * in_c),
    )


def conv_workspace_bytes(patch: int) -> int:
    """mnist_int8.h's MNIST_CONV_WORKSPACE_BYTES: 4 bytes a patch value, 0 past MNIST_CONV_PATCH_MAX."""
    return 0 if patch > CONV_PATCH_MAX else 4 * patch


def workspace_argument(parts: ConvParts, offset: int = 0) -> str:
    """The kernel's ``column`` argument: planned scratch at ``offset``, or NULL (the direct loop)."""
    # The buffer is int8_t (a character type, which may alias anything); the plan 4-aligns scratch.
    return f"(int16_t *)(void *)(scratch + {offset})" if parts.workspace_bytes else "NULL"


def emit_conv_2d(graph: Graph, op: Op, prefix: str) -> LayerCode:
    parts = conv_parts(graph, op, prefix)
    statements = (
        parts.setup + f"    mnist_convolve_ws_s8(&params, &quant, &geo, &in_dims, in0, {parts.filter_args}, "
        f"&out_dims, out, {workspace_argument(parts)});\n"
    )
    return LayerCode(
        parts.definitions, statements, macs=parts.macs, headers=(HEADER,), scratch_bytes=parts.workspace_bytes
    )


def emit_fully_connected(graph: Graph, op: Op, prefix: str) -> LayerCode:
    (x,) = activation_inputs(graph, op)
    y = graph.tensors[op.outputs[0]]
    output_depth, input_depth = graph.tensors[op.inputs[1]].shape
    batches = int(np.prod(x.shape)) // input_depth
    if batches * input_depth != int(np.prod(x.shape)) or int(np.prod(y.shape)) != batches * output_depth:
        raise ValueError(
            f"Op {op.index} (FULLY_CONNECTED): input {x.shape} does not flatten to [*, {input_depth}]."
        )
    definitions, params, bias = per_channel_quant(graph, op, prefix, output_depth)
    statements = (
        params
        + f"    mnist_fully_connected_s8(&params, &quant, {batches}, {input_depth}, {output_depth}, in0, "
        f"{prefix}_filter, {bias}, out);\n"
    )
    return LayerCode(definitions, statements, macs=batches * input_depth * output_depth, headers=(HEADER,))


def pool_statements(graph: Graph, op: Op, kernel: str) -> str:
    """Geometry, shapes and the call of a pooling kernel (max and average take the same parameters)."""
    o = op.options
    (x,) = activation_inputs(graph, op)
    y = graph.tensors[op.outputs[0]]
    n, h, w, c = _nhwc(x.shape)
    oh, pad_h = out_size_and_padding(o["stride_h"], 1, h, o["filter_h"], o["padding"])
    ow, pad_w = out_size_and_padding(o["stride_w"], 1, w, o["filter_w"], o["padding"])
    if (n, oh, ow, c) != tuple(y.shape):
        raise ValueError(f"Op {op.index} ({op.name}): output shape {y.shape} should be {(n, oh, ow, c)}.")
    act_min, act_max = activation_range(o["fused_activation"], only_scale(y), only_zero_point(y))
    return (
        geometry(o["stride_h"], o["stride_w"], 1, 1, pad_h, pad_w)
        + dims((n, h, w, c), (n, oh, ow, c))
        + f"    {kernel}(&geo, {o['filter_h']}, {o['filter_w']}, {act_min}, {act_max}, "
        "&in_dims, in0, &out_dims, out);\n"
    )


def emit_max_pool_2d(graph: Graph, op: Op, prefix: str) -> LayerCode:
    (x,) = activation_inputs(graph, op)
    y = graph.tensors[op.outputs[0]]
    if (only_scale(x), only_zero_point(x)) != (only_scale(y), only_zero_point(y)):
        raise ValueError(
            f"Op {op.index} (MAX_POOL_2D): input and output quantization differ; TFLite requires them equal."
        )
    return LayerCode("", pool_statements(graph, op, "mnist_max_pool_s8"), macs=0, headers=(HEADER,))


def emit_reshape(graph: Graph, op: Op, prefix: str) -> LayerCode:
    """RESHAPE moves no data in NHWC; the generator aliases it when it can, else this copy runs."""
    (x,) = activation_inputs(graph, op)
    y = graph.tensors[op.outputs[0]]
    if (x.scale, x.zero_point) != (y.scale, y.zero_point):
        raise ValueError(f"Op {op.index} (RESHAPE): input and output quantization differ.")
    size = int(np.prod(x.shape))
    statements = f"    for (int32_t i = 0; i < {size}; ++i) out[i] = in0[i];\n"
    return LayerCode("", statements, macs=0, headers=())


EMITTERS: dict[str, Callable[[Graph, Op, str], LayerCode]] = {
    "CONV_2D": emit_conv_2d,
    "FULLY_CONNECTED": emit_fully_connected,
    "MAX_POOL_2D": emit_max_pool_2d,
    "RESHAPE": emit_reshape,
}

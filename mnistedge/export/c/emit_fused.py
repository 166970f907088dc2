"""The fused CONV_2D + MAX_POOL_2D layer: the convolution computed a few rows at a time, pooled at once.

The generator fuses a CONV_2D whose only reader is a MAX_POOL_2D (batch 1): the convolution's
full output is never stored, only ``pool filter height`` rows of it in a planned scratch area
(followed by the convolution's column pair).
"""

from __future__ import annotations

from mnistedge.export.c.emit_core import HEADER, conv_parts, out_size_and_padding, workspace_argument
from mnistedge.export.c.graph import Graph, Op
from mnistedge.export.c.layer import LayerCode, only_scale, only_zero_point
from mnistedge.export.c.quant import activation_range

__all__ = ["emit_conv_max_pool"]


def emit_conv_max_pool(graph: Graph, conv: Op, pool: Op, prefix: str) -> LayerCode:
    """One layer running ``conv`` then ``pool`` (which reads only the conv's output).

    Raises:
        ValueError: batch > 1, or the pool does not read the conv's output with equal quantization.
    """
    if pool.inputs[0] != conv.outputs[0]:
        raise ValueError(f"Op {pool.index} (MAX_POOL_2D) does not read op {conv.index}'s output.")
    parts = conv_parts(graph, conv, prefix)
    n, ch, cw, cc = parts.out_shape
    if n != 1:
        raise ValueError(f"Op {conv.index}: the fused convolution + pooling runs batch 1; got batch {n}.")
    mid, y = graph.tensors[conv.outputs[0]], graph.tensors[pool.outputs[0]]
    if (only_scale(mid), only_zero_point(mid)) != (only_scale(y), only_zero_point(y)):
        raise ValueError(f"Op {pool.index} (MAX_POOL_2D): input and output quantization differ.")
    o = pool.options
    oh, pad_h = out_size_and_padding(o["stride_h"], 1, ch, o["filter_h"], o["padding"])
    ow, pad_w = out_size_and_padding(o["stride_w"], 1, cw, o["filter_w"], o["padding"])
    act_min, act_max = activation_range(o["fused_activation"], only_scale(y), only_zero_point(y))
    rows_bytes = (o["filter_h"] * cw * cc + 3) // 4 * 4  # the column pair follows, 4-aligned
    statements = (
        parts.setup
        + f"    static const mnist_conv_geometry pool_geo = {{{o['stride_h']}, {o['stride_w']}, 1, 1, "
        f"{pad_h}, {pad_w}}};\n"
        f"    static const mnist_dims pool_dims = {{1, {oh}, {ow}, {cc}}};\n"
        f"    mnist_convolve_max_pool_s8(&params, &quant, &geo, &in_dims, in0, {parts.filter_args}, "
        f"&out_dims, &pool_geo, {o['filter_h']}, {o['filter_w']}, {act_min}, {act_max}, "
        f"&pool_dims, out, scratch, {workspace_argument(parts, rows_bytes)});\n"
    )
    return LayerCode(
        parts.definitions,
        statements,
        macs=parts.macs,
        headers=(HEADER,),
        scratch_bytes=rows_bytes + parts.workspace_bytes,
    )

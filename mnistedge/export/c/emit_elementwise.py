"""Emitters for int8 ADD and MUL (kernels in mnist_int8_elementwise.h), parameters as LiteRT's Prepare.

The parameters follow LiteRT's tflite/kernels/add.cc and mul.cc Prepare, including which arithmetic is
float and which double (measured against BUILTIN_REF; tests/test_c_elementwise.py):

- ADD: ``twice_max_input_scale = 2 * max(s1, s2)`` and the three real multipliers in double
  (``s1 / twice``, ``s2 / twice``, ``twice / (2**20 * s_out)``), each through
  ``QuantizeMultiplierSmallerThanOneExp``; inputs are shifted left by 20 first.
- MUL: ``s1 * s2 / s_out`` is evaluated in float32 (three float operands) and only then widened
  to double for ``QuantizeMultiplier``; computing it in double changes some outputs.

Supported operands: two of the same shape, or one that repeats over the trailing dimensions of the
other (a scalar such as Rescaling's 1/255, or one value per channel); either may be a constant,
which is emitted as a ``static const`` array.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, dataclass, replace

import numpy as np

from mnistedge.export.c.graph import Graph, Op, Tensor
from mnistedge.export.c.layer import LayerCode, activation_inputs, c_array
from mnistedge.export.c.quant import activation_range, quantize_multiplier

__all__ = ["EMITTERS", "AddParams", "MulParams", "add_params", "emit_add", "emit_mul", "mul_params"]

HEADER = "mnist_int8_elementwise.h"
ADD_LEFT_SHIFT = 20  # add.cc: 20 for 8-bit (15 for int16), so 255 << 20 and the sum fit int32

Quant = tuple[float, int]  # (scale, zero point) of a per-tensor int8 tensor


@dataclass(frozen=True)
class AddParams:
    """mnist_add_params, fields in the C struct's order."""

    input1_offset: int
    input2_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    output_offset: int
    act_min: int
    act_max: int

    def swapped(self) -> AddParams:
        """The same op with its inputs exchanged (exact: the scaled inputs are summed as integers)."""
        return replace(
            self,
            input1_offset=self.input2_offset,
            input2_offset=self.input1_offset,
            input1_multiplier=self.input2_multiplier,
            input1_shift=self.input2_shift,
            input2_multiplier=self.input1_multiplier,
            input2_shift=self.input1_shift,
        )


@dataclass(frozen=True)
class MulParams:
    """mnist_mul_params, fields in the C struct's order."""

    input1_offset: int
    input2_offset: int
    output_multiplier: int
    output_shift: int
    output_offset: int
    act_min: int
    act_max: int

    def swapped(self) -> MulParams:
        """The same op with its inputs exchanged (the product commutes)."""
        return replace(self, input1_offset=self.input2_offset, input2_offset=self.input1_offset)


def _smaller_than_one(real: float, what: str) -> tuple[int, int]:
    """``QuantizeMultiplierSmallerThanOneExp``: TFLite CHECK-fails (aborts) outside (0, 1)."""
    if not 0.0 < real < 1.0:
        raise ValueError(
            f"ADD's {what} multiplier is {real!r}, outside (0, 1): LiteRT's Prepare aborts on this "
            "quantization. Re-quantize the model (the output scale is far too small for its inputs)."
        )
    return quantize_multiplier(real)


def add_params(in1: Quant, in2: Quant, out: Quant, fused: str) -> AddParams:
    """ADD's parameters exactly as LiteRT's add.cc Prepare derives them for int8."""
    s1, s2, so = (float(np.float32(q[0])) for q in (in1, in2, out))  # float in TfLiteQuantizationParams
    twice_max = 2.0 * max(s1, s2)  # 2 * float: exact, then held as double
    m1, sh1 = _smaller_than_one(s1 / twice_max, "input 1")
    m2, sh2 = _smaller_than_one(s2 / twice_max, "input 2")
    # (1 << 20) * float scale is a float product, exact (a power of two), then divides a double.
    mo, sho = _smaller_than_one(
        twice_max / float(np.float32((1 << ADD_LEFT_SHIFT) * np.float32(so))), "output"
    )
    act_min, act_max = activation_range(fused, out[0], int(out[1]))
    return AddParams(
        -int(in1[1]), -int(in2[1]), ADD_LEFT_SHIFT, m1, sh1, m2, sh2, mo, sho, int(out[1]), act_min, act_max
    )


def mul_params(in1: Quant, in2: Quant, out: Quant, fused: str) -> MulParams:
    """MUL's parameters exactly as LiteRT's mul.cc Prepare derives them for int8."""
    # `double real_multiplier = s1 * s2 / s_out;` with float operands: float32 math, then widened.
    real = float(np.float32(np.float32(in1[0]) * np.float32(in2[0])) / np.float32(out[0]))
    multiplier, shift = quantize_multiplier(real)
    act_min, act_max = activation_range(fused, out[0], int(out[1]))
    return MulParams(-int(in1[1]), -int(in2[1]), multiplier, shift, int(out[1]), act_min, act_max)


def _struct(params: AddParams | MulParams) -> str:
    return "{" + ", ".join(str(v) for v in astuple(params)) + "}"


def _quant(op: Op, t: Tensor) -> Quant:
    """A per-tensor int8 tensor's (scale, zero point), or a ValueError naming the op."""
    if t.dtype != "int8" or t.scale is None or len(t.scale) != 1 or t.zero_point is None:
        raise ValueError(
            f"Op {op.index} ({op.name}): tensor {t.name!r} must be per-tensor quantized int8; it is "
            f"{t.dtype} with scales {t.scale!r}. Generated C runs full-int8 models only."
        )
    return t.scale[0], int(t.zero_point[0])


def _strip(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape without leading 1s: what decides how a row-major operand repeats."""
    dims = list(shape)
    while dims and dims[0] == 1:
        dims.pop(0)
    return tuple(dims)


def _plan(graph: Graph, op: Op) -> tuple[int, int, int]:
    """(full input position, other input position, other's repeat period; 0 = same shape).

    Raises:
        ValueError: the operands need a general broadcast (not same shape, scalar or trailing tile).
    """
    shapes = [graph.tensors[i].shape for i in op.inputs]
    out_shape = graph.tensors[op.outputs[0]].shape
    size = int(np.prod(out_shape))
    stripped = [_strip(s) for s in shapes]
    if stripped[0] == stripped[1] and int(np.prod(shapes[0])) == size:
        return 0, 1, 0
    for full, other in ((0, 1), (1, 0)):
        tail = stripped[other]
        if int(np.prod(shapes[full])) == size and stripped[full][len(stripped[full]) - len(tail) :] == tail:
            return full, other, int(np.prod(tail))
    raise ValueError(
        f"Op {op.index} ({op.name}): operands {shapes[0]} and {shapes[1]} -> {out_shape} need a general "
        "broadcast, which generated C does not run. It supports two operands of the same shape, or one "
        "that repeats over the other's trailing dimensions (a scalar, or one value per channel). Fix: "
        "reshape or tile the smaller operand in the model to one of those shapes (e.g. keep per-channel "
        "factors in the last axis) before exporting."
    )


def _operands(graph: Graph, op: Op, prefix: str) -> tuple[list[str], str]:
    """(C expression per input position, definitions of the constant ones)."""
    if len(op.inputs) != 2 or min(op.inputs) < 0 or len(op.outputs) != 1:
        raise ValueError(f"Op {op.index} ({op.name}): expected 2 inputs and 1 output; got {op.inputs}.")
    if not activation_inputs(graph, op):
        raise ValueError(
            f"Op {op.index} ({op.name}): both inputs are constants; fold the op when converting the model."
        )
    exprs: list[str] = []
    definitions, n_activations = "", 0
    for position, index in enumerate(op.inputs):
        data = graph.tensors[index].data
        if data is None:  # the k-th activation input is in<k>, even when x + x passes one tensor twice
            exprs.append(f"in{n_activations}")
            n_activations += 1
        else:
            exprs.append(f"{prefix}_input{position}")
            definitions += c_array(exprs[-1], data)
    return exprs, definitions


def _emit(
    graph: Graph, op: Op, prefix: str, derive: Callable[..., AddParams | MulParams], kernel: str
) -> LayerCode:
    """The layer for one ADD/MUL: the full operand as input 1, the repeating one as input 2."""
    exprs, definitions = _operands(graph, op, prefix)
    full, other, period = _plan(graph, op)
    in1, in2 = (_quant(op, graph.tensors[i]) for i in op.inputs)
    params = derive(in1, in2, _quant(op, graph.tensors[op.outputs[0]]), op.options["fused_activation"])
    if full == 1:
        params = params.swapped()
    size = int(np.prod(graph.tensors[op.outputs[0]].shape))
    call = (
        f"    {kernel}_s8(&params, {size}, {exprs[full]}, {exprs[other]}, out);\n"
        if period == 0
        else f"    {kernel}_broadcast_s8(&params, {size}, {exprs[full]}, {exprs[other]}, {period}, out);\n"
    )
    statements = f"    static const {kernel}_params params = {_struct(params)};\n" + call
    # MACs: one operand product per element for MUL; ADD multiplies no operands (0, like pooling).
    return LayerCode(definitions, statements, macs=size if kernel == "mnist_mul" else 0, headers=(HEADER,))


def emit_add(graph: Graph, op: Op, prefix: str) -> LayerCode:
    """ADD (residual connections, a constant offset). MACs 0."""
    return _emit(graph, op, prefix, add_params, "mnist_add")


def emit_mul(graph: Graph, op: Op, prefix: str) -> LayerCode:
    """MUL (Rescaling(1/255): the input times a constant scalar). MACs: one per output element."""
    return _emit(graph, op, prefix, mul_params, "mnist_mul")


EMITTERS: dict[str, Callable[[Graph, Op, str], LayerCode]] = {"ADD": emit_add, "MUL": emit_mul}

"""Generate the C99 model: one function per layer, const weights, one static activation buffer.

``generate_c(graph, name)`` turns a full-int8 :class:`~mnistedge.export.c.graph.Graph` into
``<name>.h`` and ``<name>.c``. Shape ops (SHAPE, STRIDED_SLICE, PACK) are folded away; a RESHAPE
shares its input's bytes; a CONV_2D whose only reader is a MAX_POOL_2D runs fused with it, so the
full-size convolution output never exists; every other op is one layer from its emitter. The
input is read from the caller's array and the last layer writes straight into the caller's
output, so the static buffer holds only intermediate tensors, placed by :mod:`.plan`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistedge.export.c.graph import SHAPE_OPS, Graph, Op, Tensor
from mnistedge.export.c.layer import LayerCode, only_scale, only_zero_point
from mnistedge.export.c.plan import Buffer, Placement, plan_buffers

__all__ = ["KERNEL_DIR", "GeneratedC", "Layer", "emitters", "generate_c"]

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"
Emitter = Callable[[Graph, Op, str], LayerCode]


def emitters() -> dict[str, Emitter]:
    """Every op kind the generator has a kernel for -> its emitter."""
    from mnistedge.export.c import emit_activation, emit_core, emit_elementwise, emit_spatial

    return {
        **emit_core.EMITTERS,
        **emit_spatial.EMITTERS,
        **emit_activation.EMITTERS,
        **emit_elementwise.EMITTERS,
    }


@dataclass(frozen=True)
class Layer:
    """One generated layer: which ops it runs, its C function name, tensors in and out, work."""

    function: str
    ops: tuple[str, ...]  # e.g. ("CONV_2D", "MAX_POOL_2D") for a fused pair
    op_indices: tuple[int, ...]
    inputs: tuple[int, ...]  # activation tensor indices
    output: int
    scratch_bytes: int
    macs: int


@dataclass(frozen=True)
class GeneratedC:
    """The generated sources and what the generator knows about them."""

    name: str
    header: str  # <name>.h
    source: str  # <name>.c
    kernel_headers: tuple[str, ...]  # from KERNEL_DIR, to ship beside the sources
    layers: tuple[Layer, ...]
    activation_bytes: int  # the static buffer
    plan: tuple[Placement, ...]
    macs: int
    ops: tuple[str, ...]  # the model's op kinds, sorted (shape ops included)
    input_size: int
    output_size: int


def _c_float(value: float) -> str:
    """A float32 value as a C float literal that reads back to the same float32."""
    text = f"{float(np.float32(value)):.9g}"
    if not any(c in text for c in ".en"):  # "1" -> "1.0f": "1f" is not a C literal
        text += ".0"
    return f"{text}f"


def _macro_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _shape(t: Tensor) -> str:
    return "[" + ",".join(str(d) for d in t.shape) + "]"


def _size(t: Tensor) -> int:
    return int(np.prod(t.shape)) if t.shape else 1


def _check_shape_ops(graph: Graph) -> None:
    """Shape ops are folded: they may only feed other shape ops or RESHAPE's shape input."""
    for op in graph.ops:
        if op.name not in SHAPE_OPS:
            continue
        for reader in graph.ops:
            used = [pos for pos, i in enumerate(reader.inputs) if i in op.outputs]
            if used and not (reader.name in SHAPE_OPS or (reader.name == "RESHAPE" and used == [1])):
                raise ValueError(
                    f"Op {op.index} ({op.name}) feeds op {reader.index} ({reader.name}) with a computed "
                    "value; generated C folds shape ops only when they compute a RESHAPE's target shape. "
                    "Export the model at a fixed batch of 1."
                )


def _readers(graph: Graph, tensor: int) -> list[Op]:
    return [op for op in graph.ops if tensor in op.inputs]


def _fusable_pool(graph: Graph, op: Op) -> Op | None:
    """The MAX_POOL_2D that is the only reader of this CONV_2D's output, if any."""
    if op.name != "CONV_2D" or op.outputs[0] in graph.outputs:
        return None
    readers = _readers(graph, op.outputs[0])
    if len(readers) == 1 and readers[0].name == "MAX_POOL_2D":
        return readers[0]
    return None


@dataclass(frozen=True)
class _Step:
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]  # activation tensors read
    output: int


def _steps(graph: Graph, table: dict[str, Emitter], fuse: bool) -> tuple[list[_Step], dict[int, int]]:
    """The layers to run, in order, and the RESHAPE aliases (output tensor -> the tensor it views)."""
    alias: dict[int, int] = {}
    steps: list[_Step] = []
    fused: set[int] = set()
    for op in graph.ops:
        if op.name in SHAPE_OPS or op.index in fused:
            continue
        if op.name not in table:
            layer = graph.tensors[op.outputs[0]].name
            raise ValueError(
                f"Generated C has no kernel for op {op.index} ({op.name}, producing tensor {layer!r}). "
                f"Supported: {', '.join(sorted(table))}."
            )
        inputs = tuple(i for i in op.inputs if i >= 0 and graph.tensors[i].data is None)
        inputs = tuple(i for i in inputs if graph.tensors[i].dtype == "int8")
        root = alias.get(inputs[0], inputs[0]) if inputs else None
        if op.name == "RESHAPE" and op.outputs[0] not in graph.outputs and root is not None:
            alias[op.outputs[0]] = root
            continue
        pool = _fusable_pool(graph, op) if fuse else None
        if pool is not None:
            fused.add(pool.index)
            steps.append(_Step((op, pool), tuple(alias.get(i, i) for i in inputs), pool.outputs[0]))
            continue
        steps.append(_Step((op,), tuple(alias.get(i, i) for i in inputs), op.outputs[0]))
    return steps, alias


def generate_c(
    graph: Graph, name: str = "mnist_model", *, source_note: str = "", fuse: bool = True
) -> GeneratedC:
    """The C sources of ``graph``, with the API ``int <name>_invoke(const int8_t input[], int8_t output[])``.

    Raises:
        ValueError: an op with no kernel (naming the op and its output tensor), a shape op whose
            value is used as data, more than one input or output, or a non-int8 input/output.
    """
    table = emitters()
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError(
            f"Generated C takes one input and one output; this model has {len(graph.inputs)} and "
            f"{len(graph.outputs)}."
        )
    _check_shape_ops(graph)
    steps, _ = _steps(graph, table, fuse)
    graph_in, graph_out = graph.inputs[0], graph.outputs[0]
    if not steps or steps[-1].output != graph_out:
        raise ValueError("The graph's output is not written by its last compute op; cannot generate C.")

    layers, codes = [], []
    for number, step in enumerate(steps):
        kind = "_".join(op.name.lower() for op in step.ops)
        function = f"{name}_layer{number}_{kind}"
        if len(step.ops) == 2:
            from mnistedge.export.c.emit_fused import emit_conv_max_pool

            code = emit_conv_max_pool(graph, step.ops[0], step.ops[1], function)
        else:
            code = table[step.ops[0].name](graph, step.ops[0], function)
        scratch = code.scratch_bytes
        codes.append(code)
        layers.append(
            Layer(
                function,
                tuple(op.name for op in step.ops),
                tuple(op.index for op in step.ops),
                step.inputs,
                step.output,
                scratch,
                code.macs,
            )
        )

    # Lifetimes of the intermediate tensors (the caller owns the model's input and output).
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for number, layer in enumerate(layers):
        first.setdefault(layer.output, number)
        for i in layer.inputs:
            last[i] = number
    buffers = [
        Buffer(f"t{t}", _size(graph.tensors[t]), first[t], max(last.get(t, first[t]), first[t]))
        for t in first
        if t != graph_out
    ]
    buffers += [
        Buffer(f"scratch{number}", layer.scratch_bytes, number, number)
        for number, layer in enumerate(layers)
        if layer.scratch_bytes
    ]
    placements, total = plan_buffers(buffers)
    offset = {p.buffer.name: p.offset for p in placements}

    def where(tensor: int) -> str:
        if tensor == graph_in:
            return "input"
        if tensor == graph_out:
            return "output"
        return f"{name}_activations + {offset[f't{tensor}']}"

    x, y = graph.tensors[graph_in], graph.tensors[graph_out]
    kernel_headers = tuple(dict.fromkeys(h for code in codes for h in code.headers))
    ops = tuple(sorted({op.name for op in graph.ops}))
    macs = sum(layer.macs for layer in layers)
    header = _header(name, x, y, total)
    source = _source(
        name, graph, layers, codes, placements, total, kernel_headers, where, offset, source_note
    )
    return GeneratedC(
        name=name, header=header, source=source, kernel_headers=kernel_headers, layers=tuple(layers),
        activation_bytes=total, plan=tuple(placements), macs=macs, ops=ops,
        input_size=_size(x), output_size=_size(y),
    )  # fmt: skip


def _header(name: str, x: Tensor, y: Tensor, activation_bytes: int) -> str:
    stem = _macro_stem(name)
    guard = f"{stem}_H"
    return f"""/* {name}.h: the int8 MNIST classifier as plain C99 (generated by mnistedge; do not edit).
 *
 * int8 in, int8 out, no heap, no runtime library: {name}_invoke reads {_size(x)} int8 pixels
 * (real = SCALE * (q - ZERO_POINT)) and writes {_size(y)} int8 scores. It uses one static
 * buffer of {stem}_ACTIVATION_BYTES bytes, so it is not re-entrant: one call at a time.
 */
#ifndef {guard}
#define {guard}

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define {stem}_INPUT_SCALE {_c_float(only_scale(x))}
#define {stem}_INPUT_ZERO_POINT ({only_zero_point(x)})
#define {stem}_OUTPUT_SCALE {_c_float(only_scale(y))}
#define {stem}_OUTPUT_ZERO_POINT ({only_zero_point(y)})
#define {stem}_INPUT_SIZE {_size(x)}  /* input shape {_shape(x)} */
#define {stem}_OUTPUT_SIZE {_size(y)} /* output shape {_shape(y)} */
#define {stem}_ACTIVATION_BYTES {activation_bytes}

/* Run the model on one image. Returns 0 on success, 1 if a pointer is NULL. */
int {name}_invoke(const int8_t input[{_size(x)}], int8_t output[{_size(y)}]);

#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"""


def _source(
    name: str,
    graph: Graph,
    layers: list[Layer],
    codes: list[LayerCode],
    placements: list[Placement],
    total: int,
    kernel_headers: tuple[str, ...],
    where: Callable[[int], str],
    offset: dict[str, int],
    source_note: str,
) -> str:
    plan_lines = []
    for p in sorted(placements, key=lambda p: (p.offset, p.buffer.first)):
        b = p.buffer
        what = graph.tensors[int(b.name[1:])] if b.name.startswith("t") else None
        label = (
            f"{what.name.split(';')[0]} {_shape(what)}"
            if what is not None
            else f"scratch of layer {b.name[7:]}"
        )
        plan_lines.append(
            f" *   [{p.offset:>6}, {p.end:>6})  {b.size:>6} B  layers {b.first}..{b.last}  {label}"
        )
    parts = [
        f"/* {name}.c: generated by mnistedge from {source_note or 'a full-int8 TFLite model'}.\n"
        " * Do not edit: re-run `mnistedge export --format c`.\n"
        " *\n"
        f" * {len(layers)} layers, {sum(c.macs for c in codes):,} MACs per inference.\n"
        f" * Activation buffer plan ({total} bytes; the caller's input and output arrays are used in place)\n"
        + "\n".join(plan_lines or [" *   (empty)"])
        + "\n */\n",
        f'#include "{name}.h"\n\n#include <stddef.h>\n\n'
        + "".join(f'#include "{h}"\n' for h in dict.fromkeys(("mnist_int8.h", *kernel_headers)))
        + "\n",
        f"static int8_t {name}_activations[{max(total, 4)}] MNIST_ALIGNED(4);\n\n",
    ]
    for number, (layer, code) in enumerate(zip(layers, codes, strict=True)):
        ops = [graph.ops[i] for i in layer.op_indices]
        ins = ", ".join(_shape(graph.tensors[i]) for i in layer.inputs)
        comment = f"/* layer {number}: {' + '.join(layer.ops)} (op {', '.join(str(o.index) for o in ops)}): "
        comment += f"{ins} -> {_shape(graph.tensors[layer.output])}, {layer.macs:,} MACs */\n"
        params = ", ".join([f"const int8_t *in{i}" for i in range(len(layer.inputs))] + ["int8_t *out"])
        scratch = (
            f"    int8_t *scratch = {name}_activations + {offset[f'scratch{number}']};\n"
            if layer.scratch_bytes
            else ""
        )
        parts.append(
            comment
            + code.definitions
            + f"static void {layer.function}({params}) {{\n{scratch}{code.statements}}}\n\n"
        )
    calls = []
    for layer in layers:
        args = ", ".join([where(i) for i in layer.inputs] + [where(layer.output)])
        calls.append(f"    {layer.function}({args});\n")
    parts.append(
        f"int {name}_invoke(const int8_t input[{_size(graph.tensors[graph.inputs[0]])}], "
        f"int8_t output[{_size(graph.tensors[graph.outputs[0]])}]) {{\n"
        "    if (input == NULL || output == NULL) return 1;\n" + "".join(calls) + "    return 0;\n}\n"
    )
    return "".join(parts)

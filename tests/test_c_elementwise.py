"""mnist_int8_elementwise.h (int8 ADD, MUL) and emit_elementwise.py against LiteRT's BUILTIN_REF, bit for bit.

Where the ops come from: a residual model (Rescaling -> Conv2D stride 2 + ReLU -> Conv2D -> Add ->
ReLU -> Dense; the converter fuses the ReLU into ADD) and the Dense-only preset (Rescaling(1/255)
becomes MUL of the int8 input by an int8 constant scalar). Each emitted layer runs on LiteRT's own
input tensors for 100 images and must equal LiteRT's output. Because Keras only yields same-shape ADD
and scalar MUL on narrow inputs, one-op models are also built directly as flatbuffers with random
quantization (extreme zero points included) and fed every int8 pair or value: same shape, a scalar
or per-channel constant on either side, a per-channel activation.

What was measured (ai-edge-litert 2.3.0; the same kind of one-op models, 400 random parameter sets
per op: 100 same-shape over all 65536 int8 pairs, 300 with a scalar or per-channel operand on
either side; the numpy ports below, each variant counted against LiteRT's output):

- ADD and MUL both use DOUBLE rounding (gemmlowp SaturatingRoundingDoublingHighMul + RoundingDivideByPOT):
  0 mismatches. Single rounding (TFLITE_SINGLE_ROUNDING's MultiplyByQuantizedMultiplier): ADD 6 and
  MUL 25011 of 6553600 same-shape elements differ; broadcast ADD 0 and MUL 2366 of 460800.
  (FULLY_CONNECTED is the op that measured single rounding, see mnist_int8.h.)
- Same-shape (reference Add/Mul) and broadcast (BroadcastAdd6DSlow/BroadcastMul6DSlow) dispatch run
  the same per-element arithmetic: 0 mismatches for both.
- ADD's multipliers are computed in double, as add.cc reads: computing them in float32 gives 21 of
  39321600 mismatches (600 parameter sets where the two multipliers differ), double 0.
- MUL's real multiplier ``s1 * s2 / s_out`` is float32 arithmetic widened to double (three float
  operands in mul.cc): 0 of 39321600 mismatches on 600 parameter sets where the two multipliers
  differ; the same in double: 19.
"""

from __future__ import annotations

import zlib
from dataclasses import astuple

import numpy as np
import pytest
from c_reference import GCC, HEADER_DIR, Runs, c_array, reference_runs, run_c, run_layer

from mnistedge.export.c.emit_elementwise import EMITTERS, AddParams, MulParams, add_params, mul_params
from mnistedge.export.c.graph import Graph, read_graph
from mnistedge.export.c.layer import activation_inputs
from mnistedge.export.c.quant import (
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_rounding,
)

pytestmark = pytest.mark.skipif(GCC is None, reason="the C kernel tests compile with the host gcc")

ACTIVATIONS = ("NONE", "RELU", "RELU6")
ALL_PAIRS = np.stack(np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))).reshape(2, -1).astype(np.int8)


def _residual(keras):
    L = keras.layers
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = L.Rescaling(1.0 / 255.0)(pixels)
    a = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    b = L.Conv2D(8, 3, padding="same")(a)
    x = L.ReLU()(L.Add()([a, b]))
    return keras.Model(pixels, L.Dense(10, activation="softmax")(L.Flatten()(x)))


def _dense(keras):
    L = keras.layers
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = L.Flatten()(L.Rescaling(1.0 / 255.0)(pixels))
    return keras.Model(pixels, L.Dense(10, activation="softmax")(x))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data) -> Runs:
    return reference_runs(
        tmp_path_factory.mktemp("c_elementwise"), tiny_data, {"residual": _residual, "dense": _dense}
    )


# ---- numpy ports of reference_integer_ops::AddFunc and MulElementwise ----


def _add_numpy(a: np.ndarray, b: np.ndarray, p: AddParams) -> np.ndarray:
    """AddFunc on int8 arrays (numpy-broadcast), double rounding."""

    def scaled(x: np.ndarray, offset: int, multiplier: int, shift: int) -> np.ndarray:
        shifted = (x.astype(np.int64) + offset) << p.left_shift
        return multiply_by_quantized_multiplier(shifted, multiplier, shift)

    raw = scaled(a, p.input1_offset, p.input1_multiplier, p.input1_shift) + scaled(
        b, p.input2_offset, p.input2_multiplier, p.input2_shift
    )
    y = multiply_by_quantized_multiplier(raw, p.output_multiplier, p.output_shift) + p.output_offset
    return np.clip(y, p.act_min, p.act_max).astype(np.int8)


def _mul_numpy(a: np.ndarray, b: np.ndarray, p: MulParams, *, single: bool = False) -> np.ndarray:
    """MulElementwise on int8 arrays (numpy-broadcast); ``single`` swaps in single rounding."""
    product = (a.astype(np.int64) + p.input1_offset) * (b.astype(np.int64) + p.input2_offset)
    requantize = (
        multiply_by_quantized_multiplier_single_rounding if single else multiply_by_quantized_multiplier
    )
    y = requantize(product, p.output_multiplier, p.output_shift) + p.output_offset
    return np.clip(y, p.act_min, p.act_max).astype(np.int8)


NUMPY = {"ADD": (add_params, _add_numpy), "MUL": (mul_params, _mul_numpy)}


# ---- Keras models: every ADD and MUL, LiteRT's tensors in, LiteRT's tensors out ----


def test_keras_models_have_the_ops(runs):
    graph, _ = runs["residual"]
    adds = [op for op in graph.ops if op.name == "ADD"]
    assert adds and all(len(activation_inputs(graph, op)) == 2 for op in adds)
    assert {op.options["fused_activation"] for op in adds} == {"RELU"}, "Add -> ReLU fuses into ADD"
    graph, _ = runs["dense"]
    muls = [op for op in graph.ops if op.name == "MUL"]
    assert muls, "Rescaling(1/255) converts to MUL"
    for op in muls:
        constants = [graph.tensors[i] for i in op.inputs if graph.tensors[i].data is not None]
        assert [int(np.prod(t.shape)) for t in constants] == [1], "one activation times a constant scalar"


@pytest.mark.parametrize("op_name", ["ADD", "MUL"])
def test_emitted_layers_match_builtin_ref(runs, tmp_path, op_name):
    checked = 0
    for model, (graph, values) in runs.items():
        for op in (op for op in graph.ops if op.name == op_name):
            code = EMITTERS[op_name](graph, op, f"layer{op.index}")
            want = values[op.outputs[0]]
            inputs = [values[t.index] for t in activation_inputs(graph, op)]
            got = run_layer(tmp_path, code, inputs, want.shape[1:])
            assert np.array_equal(got, want), (
                f"{model} op {op.index}: {np.sum(got != want)} of {want.size} differ"
            )
            assert code.macs == (want[0].size if op_name == "MUL" else 0)
            checked += 1
    assert checked


# ---- One-op models built as flatbuffers: every int8 pair, broadcasts, extreme zero points ----


def _one_op_model(
    op_name: str,
    shapes: list[list[int]],
    quants: list[tuple[float, int]],
    fused: str,
    constants: dict,
    op_inputs: tuple[int, int] = (0, 1),
) -> bytes:
    """A .tflite with one int8 ADD/MUL of tensors ``op_inputs`` (``constants``: index -> values) into 2."""
    flatbuffers = pytest.importorskip("flatbuffers")
    from ai_edge_litert import schema_py_generated as s

    model, graph = s.ModelT(), s.SubGraphT()
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = getattr(s.BuiltinOperator, op_name)
    code.version = 2
    model.version, model.operatorCodes, model.buffers, graph.tensors = 3, [code], [s.BufferT()], []
    for i, (shape, (scale, zero_point)) in enumerate(zip(shapes, quants, strict=True)):
        buffer = s.BufferT()
        if i in constants:
            buffer.data = np.asarray(constants[i], dtype=np.int8).tobytes()
        model.buffers.append(buffer)
        t, q = s.TensorT(), s.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(scale)], [int(zero_point)]
        t.shape, t.type, t.buffer, t.name, t.quantization = list(shape), s.TensorType.INT8, i + 1, f"t{i}", q
        graph.tensors.append(t)
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, list(op_inputs), [2]
    options = s.AddOptionsT() if op_name == "ADD" else s.MulOptionsT()
    options.fusedActivationFunction = {"NONE": 0, "RELU": 1, "RELU6": 3}[fused]
    op.builtinOptionsType = getattr(s.BuiltinOptions, f"{op_name.title()}Options")
    op.builtinOptions = options
    graph.operators, graph.inputs, graph.outputs = [op], sorted(set(op_inputs) - set(constants)), [2]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _builtin_ref(model: bytes, inputs: list[np.ndarray]) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    for detail, x in zip(interpreter.get_input_details(), inputs, strict=True):
        interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()


def _random_quants(rng: np.random.Generator, op_name: str, extreme: bool) -> list[tuple[float, int]]:
    """Float32 scales over three decades; MUL's output scale puts its multiplier in [0.03, 10]."""
    scales = (10.0 ** rng.uniform(-3, 0, 3)).astype(np.float32)
    if op_name == "MUL":
        scales[2] = np.float32(scales[0] * scales[1] * 10 ** rng.uniform(-1, 1.5))
    zero_points = rng.choice([-128, 127], 3) if extreme else rng.integers(-128, 128, 3)
    return [(float(s), int(z)) for s, z in zip(scales, zero_points, strict=True)]


# layout -> (input shapes, output shape, constant positions); activations get every int8 value.
LAYOUTS = {
    "same": ([[65536], [65536]], [65536], ()),
    "scalar_constant": ([[1, 16, 16, 1], []], [1, 16, 16, 1], (1,)),
    "scalar_constant_first": ([[1], [1, 16, 16, 1]], [1, 16, 16, 1], (0,)),
    "channel_constant": ([[1, 4, 8, 8], [8]], [1, 4, 8, 8], (1,)),
    "channel_activation_first": ([[1, 1, 1, 8], [1, 4, 8, 8]], [1, 4, 8, 8], ()),
}


def _layout_values(layout: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Per input: every int8 pair (same shape), all 256 values (full operands), random small ones."""
    shapes, _, _ = LAYOUTS[layout]
    if layout == "same":
        return list(ALL_PAIRS)
    full = np.arange(-128, 128, dtype=np.int8)
    return [
        full.reshape(shape) if int(np.prod(shape)) == 256 else rng.integers(-128, 128, shape, dtype=np.int8)
        for shape in shapes
    ]


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("op_name", ["ADD", "MUL"])
def test_one_op_models_match_builtin_ref(tmp_path, op_name, layout):
    rng = np.random.default_rng(zlib.crc32(f"{op_name} {layout}".encode()))
    shapes, out_shape, constant_positions = LAYOUTS[layout]
    derive, port = NUMPY[op_name]
    single_rounding_differs = 0
    for trial, extreme in enumerate((False, True)):
        quants, fused = _random_quants(rng, op_name, extreme), ACTIVATIONS[(trial + len(layout)) % 3]
        values = _layout_values(layout, rng)
        constants = {i: values[i] for i in constant_positions}
        model = _one_op_model(op_name, [*shapes, out_shape], quants, fused, constants)
        graph = read_graph(model)
        activations = [values[i] for i in (0, 1) if i not in constants]
        want = _builtin_ref(model, activations)
        params = derive(quants[0], quants[1], quants[2], fused)
        label = f"{op_name} {layout} {quants} {fused}"
        assert np.array_equal(port(values[0], values[1], params).reshape(want.shape), want), label
        code = EMITTERS[op_name](graph, graph.ops[0], "layer0")
        got = run_layer(tmp_path, code, [x[None] for x in activations], tuple(out_shape))
        assert np.array_equal(got[0], want), f"{label}: {np.sum(got[0] != want)} of {want.size} differ"
        if op_name == "MUL":
            single = _mul_numpy(values[0], values[1], params, single=True)
            single_rounding_differs += int(np.sum(single.reshape(want.shape) != want))
    if op_name == "MUL" and layout == "same":
        assert single_rounding_differs, "these cases should tell double from single rounding apart"


def test_general_broadcast_is_refused():
    quants = [(0.05, 0), (0.05, 0), (0.1, 0)]
    model = _one_op_model("ADD", [[1, 4, 4, 1], [1, 4, 4, 8], [1, 4, 4, 8]], quants, "NONE", {})
    graph: Graph = read_graph(model)
    with pytest.raises(ValueError, match=r"Op 0 \(ADD\).*\(1, 4, 4, 1\).*\(1, 4, 4, 8\).*Fix"):
        EMITTERS["ADD"](graph, graph.ops[0], "layer0")


def test_one_tensor_on_both_sides(tmp_path):
    """x + x and x * x: the generator passes the tensor as in0 and in1; both must be used."""
    x = np.arange(-128, 128, dtype=np.int8)
    for op_name, quants in (
        ("ADD", [(0.02, -3), (0.02, -3), (0.05, 7)]),
        ("MUL", [(0.02, -3), (0.02, -3), (0.01, 0)]),
    ):
        model = _one_op_model(op_name, [[256], [256], [256]], quants, "NONE", {}, op_inputs=(0, 0))
        graph = read_graph(model)
        code = EMITTERS[op_name](graph, graph.ops[0], "layer0")
        assert "in0" in code.statements and "in1" in code.statements
        got = run_layer(tmp_path, code, [x[None], x[None]], (256,))
        assert np.array_equal(got[0], _builtin_ref(model, [x])), op_name


# ---- The kernels themselves against the numpy ports: random parameters, edge values ----


def _kernel_cases(rng: np.random.Generator) -> list[tuple[str, AddParams | MulParams]]:
    cases = []
    for i in range(16):
        op_name = ("ADD", "MUL")[i % 2]
        quants = _random_quants(rng, op_name, extreme=i % 4 < 2)
        cases.append((op_name, NUMPY[op_name][0](*quants, ACTIVATIONS[i % 3])))
    return cases


def test_kernels_match_numpy_ports(tmp_path):
    rng = np.random.default_rng(7)
    edges = np.array([-128, -127, -1, 0, 1, 126, 127], dtype=np.int8)
    a = np.concatenate([np.repeat(edges, edges.size), rng.integers(-128, 128, 2047, dtype=np.int8)])
    b = np.concatenate([np.tile(edges, edges.size), rng.integers(-128, 128, 2047, dtype=np.int8)])
    n, period = a.size, 8  # n is a multiple of 8: the broadcast kernels tile b[:8] over a
    cases = _kernel_cases(rng)
    arrays = c_array("int8_t", "a", a) + c_array("int8_t", "b", b)
    body, want = "", []
    for k, (op_name, params) in enumerate(cases):
        kernel = "mnist_add" if op_name == "ADD" else "mnist_mul"
        values = ", ".join(str(v) for v in astuple(params))
        body += f"    {{ static const {kernel}_params p = {{{values}}};\n"
        body += f"      {kernel}_s8(&p, {n}, a, b, out + {2 * k * n});\n"
        body += f"      {kernel}_broadcast_s8(&p, {n}, a, b, {period}, out + {(2 * k + 1) * n}); }}\n"
        port = NUMPY[op_name][1]
        want += [port(a, b, params), port(a, np.tile(b[:period], n // period), params)]
    headers = ("mnist_int8.h", "mnist_int8_elementwise.h")
    got = run_c(tmp_path, arrays, body, "int8_t", 2 * len(cases) * n, headers=headers).reshape(-1, n)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert np.array_equal(g, w), f"case {k // 2} ({cases[k // 2][0]}, {'broadcast' if k % 2 else 'same'})"
    assert (HEADER_DIR / "mnist_int8_elementwise.h").read_text().count("#include <") == 0, "only mnist_int8.h"

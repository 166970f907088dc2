"""mnist_int8_activation.h's SOFTMAX and LOGISTIC, emitted by emit_activation.py, against LiteRT BUILTIN_REF.

Checked two ways, each exactly (np.array_equal): a trained tiny model (Dense -> sigmoid twice,
Dense(10) -> Softmax) run by BUILTIN_REF keeping every tensor, each SOFTMAX and LOGISTIC op fed
LiteRT's own input on 100 images; and one-op int8 models written here with the flatbuffer schema,
sweeping every int8 input value over input scales, zero points and betas, including the corners
(capped multiplier, 300 equal values in a row, a scale where the two logistic candidates differ).

Measured while writing the kernels (scratch scripts, not kept as tests; the sweeps below re-check
the chosen arithmetic):
  - SOFTMAX: BUILTIN_REF is reference_ops::Softmax (gemmlowp fixed point) as activations.cc says
    for kReference. A numpy port gave 0 mismatches in 600,000 outputs (200 input scales from 1e-3 to
    64, 300 rows of 10) with either rounding of the Q5.26 rescale, single or double: with a shift
    >= 0 both round halves up, so they are the same function (0 differing rescales on 20,000
    scales x 256 differences). TFLITE_SINGLE_ROUNDING also changes PreprocessSoftmaxScaling's cap
    (2**30 - 1 vs 2**31 - 1); that only decides whether differences of -1 at beta * scale >= 16
    contribute exp(-16), which rounds to 0 either way. Rounding the float softmax instead: 6
    mismatches in 90,000.
  - LOGISTIC: BUILTIN_REF is the 256-entry table its Prepare fills in float (LUTPopulate<int8_t>,
    1 / (1 + expf(-x)), TfLiteRound): 0 mismatches in 102,400 table entries (400 scales) with expf
    from glibc, numpy's float32 exp or float32(exp in double) alike. TFLM's fixed-point
    reference_integer_ops::Logistic (gemmlowp logistic on Q4.27) agrees on 1,499 of 1,500 scales;
    on the other (scale 0.0077017792500555515, zero point -102, kept below) it gives 1 mismatch,
    the table 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from c_reference import GCC, Runs, ops_of, reference_runs, run_layer

from mnistedge.export.c.emit_activation import (
    EMITTERS,
    MAX_SOFTMAX_DEPTH,
    emit_logistic,
    emit_softmax,
    logistic_table,
    softmax_params,
)
from mnistedge.export.c.graph import Graph, Op, Tensor, read_graph

pytestmark = pytest.mark.skipif(GCC is None, reason="the C kernel tests compile with the host gcc")

ALL_INT8 = np.arange(-128, 128, dtype=np.int8)


def _activations(keras):
    L = keras.layers
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = L.Flatten()(L.Rescaling(1.0 / 255.0)(pixels))
    x = L.Dense(24, activation="sigmoid")(x)  # FULLY_CONNECTED -> LOGISTIC
    x = L.Dense(12, activation="sigmoid")(x)
    return keras.Model(pixels, L.Softmax()(L.Dense(10)(x)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data) -> Runs:
    return reference_runs(tmp_path_factory.mktemp("c_activation"), tiny_data, {"activations": _activations})


def _emit(graph: Graph, op: Op):
    return EMITTERS[op.name](graph, op, f"layer{op.index}")


def test_model_softmax_and_logistic_match_builtin_ref(runs, tmp_path):
    ops = ops_of(runs, "activations", "LOGISTIC") + ops_of(runs, "activations", "SOFTMAX")
    assert [op.name for _, _, op in ops] == ["LOGISTIC", "LOGISTIC", "SOFTMAX"]
    for graph, values, op in ops:
        x, want = values[op.inputs[0]], values[op.outputs[0]]
        got = run_layer(tmp_path, _emit(graph, op), [x], want.shape[1:])
        assert np.array_equal(got, want), f"op {op.index} ({op.name}): {np.sum(got != want)} differ"


def _one_op_model(
    name: str, shape: tuple[int, ...], scale: float, zero_point: int, beta: float = 1.0
) -> bytes:
    """A one-op int8 TFLite model (input scale/zero point as given, output 1/256 and -128)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    def tensor(tensor_name: str, s: float, z: int):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = tensor_name, list(shape), schema.TensorType.INT8, 0
        t.quantization = schema.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [s], [z]
        return t

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = getattr(schema.BuiltinOperator, name)
    code.version = 2
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    if name == "SOFTMAX":
        op.builtinOptionsType = schema.BuiltinOptions.SoftmaxOptions
        op.builtinOptions = schema.SoftmaxOptionsT()
        op.builtinOptions.beta = beta
    subgraph = schema.SubGraphT()
    subgraph.tensors = [tensor("x", scale, zero_point), tensor("y", 1.0 / 256, -128)]
    subgraph.inputs, subgraph.outputs, subgraph.operators = [0], [1], [op]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = (
        3,
        [code],
        [subgraph],
        [schema.BufferT()],
    )
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _builtin_ref(model: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _sweep(tmp_path, name: str, x: np.ndarray, scale: float, zero_point: int, beta: float = 1.0) -> int:
    """Mismatches between the emitted layer and BUILTIN_REF on one one-op model."""
    model = _one_op_model(name, x.shape, scale, zero_point, beta)
    graph = read_graph(model)
    want = _builtin_ref(model, x)
    got = run_layer(tmp_path, _emit(graph, graph.ops[0]), [x[None]], x.shape)[0]
    return int(np.sum(got != want))


# (input scale, zero point): typical ranges, extremes, and the scale where TFLM's fixed-point
# logistic and the table differ.
LOGISTIC_CASES = [(0.0077017792500555515, -102), (0.001, 0), (0.03, -128), (0.0625, 5), (0.1, 127), (0.5, -3)]


@pytest.mark.parametrize(("scale", "zero_point"), LOGISTIC_CASES)
def test_logistic_every_input_matches_builtin_ref(tmp_path, scale, zero_point):
    pytest.importorskip("ai_edge_litert")
    assert _sweep(tmp_path, "LOGISTIC", ALL_INT8.reshape(1, 256), scale, zero_point) == 0


def _softmax_rows() -> np.ndarray:
    """Rows of 10: every difference to a row max of 127, ties, a constant row, random rows."""
    rows = np.concatenate([np.full(4, 127), np.arange(-128, 127)])  # 259 values -> 26 rows
    rows = np.resize(rows, (26, 10)).astype(np.int64)
    rows[:, 0] = 127
    special = [[5] * 10, [-128] * 10, [3, 3, -128, 0, 1, 2, -5, 3, -100, 2]]
    random_rows = np.random.default_rng(0).integers(-128, 128, (40, 10))
    return np.concatenate([rows, special, random_rows]).astype(np.int8)


# (input scale, beta): logits' typical scales, a tiny one, capped multipliers (beta * scale >= 16),
# betas != 1.
SOFTMAX_CASES = [
    (0.004, 1.0),
    (0.08, 1.0),
    (0.21, 1.0),
    (1.0, 1.0),
    (20.0, 1.0),
    (64.0, 1.0),
    (0.1, 0.5),
    (0.05, 3.0),
]


@pytest.mark.parametrize(("scale", "beta"), SOFTMAX_CASES)
def test_softmax_every_difference_matches_builtin_ref(tmp_path, scale, beta):
    pytest.importorskip("ai_edge_litert")
    assert _sweep(tmp_path, "SOFTMAX", _softmax_rows(), scale, 7, beta) == 0


def test_softmax_long_equal_row_matches_builtin_ref(tmp_path):
    """300 equal values: the sum of exps is near 2**27 and the final shift reaches 31."""
    pytest.importorskip("ai_edge_litert")
    x = np.stack([np.full(300, 40), np.random.default_rng(1).integers(-128, 128, 300)]).astype(np.int8)
    assert _sweep(tmp_path, "SOFTMAX", x, 0.1, 0) == 0


def test_parameters_are_tflites():
    # beta * scale * 2**26 = 2**22 * 1.6: shift 23, radius floor(31 * 2**26 / 2**23) = 248.
    assert softmax_params(1.0, 0.1) == softmax_params(1.0, np.float32(0.1))
    p = softmax_params(1.0, 0.1)
    assert (p.input_left_shift, p.diff_min) == (23, -248)
    assert softmax_params(1.0, 64.0).input_left_shift == 30  # capped at 2**30 - 1
    table = logistic_table(0.1, 0, 1.0 / 256, -128)
    assert table[128] == 0 and table[0] < table[128] < table[255]  # sigmoid(0) = 128/256 -> 0
    assert np.all(np.diff(table.astype(int)) >= 0)


def _graph(name: str, x_shape, y_scale: float, y_zero_point: int, y_dtype: str = "int8") -> tuple[Graph, Op]:
    x = Tensor(0, "x", tuple(x_shape), "int8", (0.1,), (0,), 0, None)
    y = Tensor(1, "y", tuple(x_shape), y_dtype, (y_scale,), (y_zero_point,), 0, None)
    op = Op(3, name, (0,), (1,), {"beta": 1.0})
    return Graph((x, y), (op,), (0,), (1,)), op


@pytest.mark.parametrize(
    ("emit", "name", "shape", "y_quant", "message"),
    [
        (emit_softmax, "SOFTMAX", (1, 10), (1.0 / 256, 0, "int8"), r"Op 3 \(SOFTMAX\).*zero point -128"),
        (emit_softmax, "SOFTMAX", (1, 10), (1.0 / 128, -128, "int8"), r"Op 3 \(SOFTMAX\).*scale 1/256"),
        (emit_softmax, "SOFTMAX", (1, 10), (1.0 / 32768, 0, "int16"), r"Op 3 \(SOFTMAX\).*int8 -> int8"),
        (emit_softmax, "SOFTMAX", (1, MAX_SOFTMAX_DEPTH + 1), (1.0 / 256, -128, "int8"), r"at most 511"),
        (emit_logistic, "LOGISTIC", (1, 10), (1.0 / 255, -128, "int8"), r"Op 3 \(LOGISTIC\).*scale 1/256"),
    ],
)
def test_emitters_refuse_what_tflite_refuses(emit, name, shape, y_quant, message):
    graph, op = _graph(name, shape, *y_quant)
    with pytest.raises(ValueError, match=message):
        emit(graph, op, "layer3")


def test_emitted_code_shape():
    graph, op = _graph("LOGISTIC", (1, 12), 1.0 / 256, -128)
    code = emit_logistic(graph, op, "layer3")
    assert code.definitions.startswith("static const int8_t layer3_table[256]")
    assert "mnist_logistic_s8(layer3_table, 12, in0, out);" in code.statements
    assert (code.macs, code.headers) == (0, ("mnist_int8_activation.h",))
    graph, op = _graph("SOFTMAX", (2, 10), 1.0 / 256, -128)
    code = emit_softmax(graph, op, "layer3")
    assert code.definitions == "" and "mnist_softmax_s8(&params, 2, 10, in0, out);" in code.statements

"""mnistedge.export.c.graph and .quant: the int8 graph as LiteRT sees it, and TFLite's integer arithmetic.

Two tiny Keras models (random weights; only the graph matters) are converted to full int8 once:
``branchy`` holds every layer the C exporter targets (Conv2D+ReLU, DepthwiseConv2D, Add of two
branches, both poolings, GlobalAveragePooling2D -> MEAN, Dense, sigmoid -> LOGISTIC, softmax);
``flat`` is a tutorial-preset look-alike (Rescaling -> MUL, Flatten -> SHAPE/STRIDED_SLICE/PACK/RESHAPE).
Refusals patch the int8 flatbuffer through the schema's object API, so no further conversion runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnistedge.export.c.graph import SUPPORTED_OPS, read_graph
from mnistedge.export.c.quant import (
    INT32_MAX,
    INT32_MIN,
    activation_range,
    conv_per_channel_multipliers,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_rounding,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from tests.runtime_fixtures import BLOCK_TF

REPO = Path(__file__).resolve().parents[1]


def _branchy(keras):
    L = keras.layers
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = L.Rescaling(1.0 / 255.0)(pixels)
    x = L.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = L.Add()([L.DepthwiseConv2D(3, padding="same")(x), L.Conv2D(4, 1)(x)])
    x = L.AveragePooling2D(2)(x)
    x = L.MaxPooling2D(2)(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(8, activation="sigmoid")(x)
    return keras.Model(pixels, L.Dense(10, activation="softmax")(x))


def _flat(keras):
    L = keras.layers
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = L.Flatten()(L.Rescaling(1.0 / 255.0)(pixels))
    return keras.Model(pixels, L.Dense(10, activation="softmax")(L.Dense(10, activation="relu")(x)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_data) -> dict[str, Path]:
    """{"branchy": int8, "flat": int8, "float": float32 .tflite}, converted once for the module."""
    pytest.importorskip("tensorflow", reason="converting the test models needs mnistedge[export]")
    keras = pytest.importorskip("keras")
    from mnistedge.export import export_artifact

    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("c_graph")
    paths: dict[str, Path] = {}
    for name, build in (("branchy", _branchy), ("flat", _flat)):
        (root / name).mkdir()
        model_path = root / name / "model.keras"
        build(keras).save(model_path)
        int8 = export_artifact(
            model_path, "tflite", quantize="int8", out_dir=root / name, data=tiny_data, verify=False
        )
        paths[name] = int8.path
    flat_model = root / "flat" / "model.keras"
    paths["float"] = export_artifact(
        flat_model, "tflite", out_dir=root / "float", data=tiny_data, verify=False
    ).path
    return paths


def _interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    return interpreter


@pytest.mark.parametrize(
    ("name", "expected_ops"),
    [
        (
            "branchy",
            ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN",
             "FULLY_CONNECTED", "LOGISTIC", "FULLY_CONNECTED", "SOFTMAX"],
        ),
        (
            "flat",
            ["MUL", "SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED",
             "SOFTMAX"],
        ),
    ],
)  # fmt: skip
def test_graph_matches_litert(exported, name, expected_ops):
    graph = read_graph(exported[name])
    interpreter = _interpreter(exported[name])

    ops = interpreter._get_ops_details()
    assert [op.name for op in graph.ops] == [str(op["op_name"]) for op in ops]
    # Converter op order is not ours to fix, so compare as multisets; the exact list is in LiteRT's order.
    assert sorted(op.name for op in graph.ops) == sorted(expected_ops)
    for ours, theirs in zip(graph.ops, ops, strict=True):
        assert ours.inputs == tuple(int(i) for i in theirs["inputs"])
        assert ours.outputs == tuple(int(i) for i in theirs["outputs"])

    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    assert details, "LiteRT reported no tensors"
    assert graph.inputs == tuple(d["index"] for d in interpreter.get_input_details())
    assert graph.outputs == tuple(d["index"] for d in interpreter.get_output_details())
    # LiteRT appends its own scratch tensors after the model's; every model tensor must be there.
    assert len(details) >= len(graph.tensors)
    for t in graph.tensors:
        index, d = t.index, details[t.index]
        q = d["quantization_parameters"]
        assert (t.name, t.shape, t.dtype) == (
            d["name"],
            tuple(int(s) for s in d["shape"]),
            np.dtype(d["dtype"]).name,
        )
        if len(q["scales"]):
            np.testing.assert_array_equal(np.array(t.scale, dtype=np.float32), q["scales"])
            np.testing.assert_array_equal(np.array(t.zero_point), q["zero_points"])
            assert t.quantized_dimension == q["quantized_dimension"]
        else:
            assert t.scale is None and t.zero_point is None
        if t.data is not None:
            assert not t.data.flags.writeable
            np.testing.assert_array_equal(t.data, interpreter.get_tensor(index))
            assert t.data.dtype == interpreter.get_tensor(index).dtype


def test_constants_and_per_channel_filters(exported):
    graph = read_graph(exported["branchy"])
    assert graph.tensors[graph.inputs[0]].dtype == "int8"
    assert graph.tensors[graph.inputs[0]].shape == (1, 28, 28, 1)
    convs = [op for op in graph.ops if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    for op in convs:
        f = graph.tensors[op.inputs[1]]
        out_axis = 0 if op.name == "CONV_2D" else 3  # OHWI vs 1HWO
        assert f.data is not None and f.dtype == "int8"
        assert (
            f.scale is not None
            and len(f.scale) == f.shape[out_axis] == graph.tensors[op.outputs[0]].shape[-1]
        )
        assert f.quantized_dimension == out_axis
        assert graph.tensors[op.inputs[2]].dtype == "int32"  # the bias
    assert graph.tensors[graph.ops[0].outputs[0]].data is None  # an activation has no buffer


def test_options_are_decoded(exported):
    ops: dict = {}
    for op in read_graph(exported["branchy"]).ops:
        ops.setdefault(op.name, op)  # the first of each: the stem conv, not the 1x1
    assert dict(ops["CONV_2D"].options) == {
        "padding": "VALID", "stride_w": 2, "stride_h": 2, "dilation_w": 1, "dilation_h": 1,
        "fused_activation": "RELU",
    }  # fmt: skip
    assert ops["DEPTHWISE_CONV_2D"].options["padding"] == "SAME"
    assert ops["DEPTHWISE_CONV_2D"].options["depth_multiplier"] == 1
    for pool in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        assert {k: ops[pool].options[k] for k in ("filter_w", "filter_h", "stride_w", "padding")} == {
            "filter_w": 2, "filter_h": 2, "stride_w": 2, "padding": "VALID",
        }  # fmt: skip
    assert ops["FULLY_CONNECTED"].options["weights_format"] == "DEFAULT"
    assert ops["SOFTMAX"].options == {"beta": 1.0}
    assert ops["MEAN"].options == {"keep_dims": False}
    assert ops["ADD"].options["fused_activation"] == "NONE"
    with pytest.raises(TypeError):
        ops["ADD"].options["fused_activation"] = "RELU"  # options are read-only


def _patched(path: Path, change) -> bytes:
    """The flatbuffer at ``path`` after ``change(model_t, schema)`` edits its object tree."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    change(model, schema)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _uint8_input(model, schema):
    model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]].type = schema.TensorType.UINT8


def _exp_for_logistic(model, schema):
    for code in model.operatorCodes:
        if code.builtinCode == schema.BuiltinOperator.LOGISTIC:
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.EXP


def _two_subgraphs(model, schema):
    model.subgraphs.append(model.subgraphs[0])


def test_refusals(exported):
    with pytest.raises(ValueError, match=r"inputs/outputs are float32, not int8.*--quantize int8"):
        read_graph(exported["float"])
    with pytest.raises(
        ValueError, match=r"uint8, not int8: this is a float or uint8-I/O model.*model_int8\.tflite"
    ):
        read_graph(_patched(exported["branchy"], _uint8_input))
    with pytest.raises(
        ValueError, match=r"no kernel for EXP: op \d+ EXP \(layer .+\)\. Supported ops: CONV_2D, .*, SOFTMAX"
    ):
        read_graph(_patched(exported["branchy"], _exp_for_logistic))
    with pytest.raises(ValueError, match=r"2 subgraphs; generated C runs exactly one"):
        read_graph(_patched(exported["branchy"], _two_subgraphs))
    junk = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(ValueError, match=r"Not a TFLite flatbuffer .*'TFL3'"):
        read_graph(junk)
    with pytest.raises(ValueError, match="Not a TFLite flatbuffer"):
        read_graph(b"")
    assert set(("MUL", "SHAPE", "STRIDED_SLICE", "PACK")) <= set(SUPPORTED_OPS)


def test_patched_round_trip_still_reads(exported):
    # The refusals above rely on _patched keeping a model readable; prove it on an unchanged tree.
    graph = read_graph(_patched(exported["branchy"], lambda model, schema: None))
    assert [op.name for op in graph.ops] == [op.name for op in read_graph(exported["branchy"]).ops]


def test_read_graph_does_not_import_tensorflow(exported):
    code = BLOCK_TF + (
        "from pathlib import Path\n"
        "from mnistedge.export.c.graph import read_graph\n"
        f"graph = read_graph(Path({str(exported['branchy'])!r}))\n"
        "assert graph.ops, 'no ops read'\n"
        "assert not TF_IMPORT_ATTEMPTS, TF_IMPORT_ATTEMPTS\n"
        "print('ok', len(graph.ops))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


# ---- quant: TFLite's integer arithmetic -------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.0, (0, 0)),
        (0.5, (1 << 30, 0)),
        (0.25, (1 << 30, -1)),
        (1.0, (1 << 30, 1)),
        (0.75, (3 << 29, 0)),
        (1.0 - 2.0**-40, (1 << 30, 1)),  # q * 2**31 rounds to 2**31: halved, shift + 1
        ((2**30 + 0.5) / 2**31, (2**30 + 1, 0)),  # a tie rounds away from zero (std::round), not to even
        (2.0**-32, (1 << 30, -31)),  # the smallest shift kept
        (2.0**-33, (0, 0)),  # shift < -31 -> 0
        (1e-20, (0, 0)),
        (-0.5, (-(1 << 30), 0)),
    ],
)
def test_quantize_multiplier(real, expected):
    assert quantize_multiplier(real) == expected


def test_quantize_multiplier_is_close_for_random_values():
    for real in np.random.default_rng(0).uniform(1e-6, 4.0, 200):
        m, shift = quantize_multiplier(float(real))
        assert 1 << 30 <= m < 1 << 31
        assert abs(m * 2.0 ** (shift - 31) - real) <= 2.0 ** (shift - 32)


def test_conv_per_channel_multipliers_use_double_products():
    input_scale, filter_scales, output_scale = (
        np.float32(0.0039),
        np.float32([0.0123, 0.00077, 0.5]),
        np.float32(0.021),
    )
    multipliers, shifts = conv_per_channel_multipliers(input_scale, filter_scales, output_scale)
    assert multipliers.dtype == np.int32 and shifts.dtype == np.int32
    for i, f in enumerate(filter_scales):
        expected = quantize_multiplier(float(input_scale) * float(f) / float(output_scale))
        assert (int(multipliers[i]), int(shifts[i])) == expected


@pytest.mark.parametrize(
    ("fused", "scale", "zero_point", "expected"),
    [
        ("NONE", 0.1, 3, (-128, 127)),
        ("RELU", 0.1, -5, (-5, 127)),
        ("RELU", 0.1, -200, (-128, 127)),
        ("RELU6", 0.05, -128, (-128, -8)),  # 6 / 0.05 = 120
        ("RELU6", 0.01, -128, (-128, 127)),
        ("RELU_N1_TO_1", 0.01, 0, (-100, 100)),
        ("RELU_N1_TO_1", 0.008, 0, (-125, 125)),
    ],
)
def test_activation_range(fused, scale, zero_point, expected):
    assert activation_range(fused, scale, zero_point) == expected


def test_activation_range_refuses_tanh():
    with pytest.raises(ValueError, match="'TANH' has no int8 clamp; expected one of NONE, RELU"):
        activation_range("TANH", 0.1, 0)


def test_saturating_rounding_doubling_high_mul_edges():
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == -INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MAX, INT32_MAX) == INT32_MAX - 1
    # x * 0.5: +1.5 rounds up to 2, but -1.5 goes to -1 (the 1 - 2**30 nudge, then truncation).
    half = 1 << 30
    np.testing.assert_array_equal(
        saturating_rounding_doubling_high_mul(np.array([3, -3, 5, -5, 1, -1]), half), [2, -1, 3, -2, 1, 0]
    )


def test_rounding_divide_by_pot_rounds_half_away_from_zero():
    x = np.array([5, -5, 4, -4, 3, -3, 1, -1, 0])
    np.testing.assert_array_equal(rounding_divide_by_pot(x, 1), [3, -3, 2, -2, 2, -2, 1, -1, 0])
    np.testing.assert_array_equal(rounding_divide_by_pot(x, 0), x)
    assert rounding_divide_by_pot(INT32_MIN, 31) == -1
    with pytest.raises(ValueError, match=r"exponent must be in \[0, 31\]"):
        rounding_divide_by_pot(1, 32)


def test_multiply_by_quantized_multiplier_double_vs_single_rounding():
    half = 1 << 30
    # 5 * 0.25 = 1.25: double rounding gives round(2.5) = 3, then round(3 / 2) = 2; single gives 1.
    assert multiply_by_quantized_multiplier(5, half, -1) == 2
    assert multiply_by_quantized_multiplier_single_rounding(5, half, -1) == 1
    assert multiply_by_quantized_multiplier(3, half, 1) == 3  # left shift first: 6 * 0.5
    assert multiply_by_quantized_multiplier(-3, half, 0) == -1  # -1.5 -> -1 (see high_mul)
    assert multiply_by_quantized_multiplier_single_rounding(-3, half, 0) == -1  # floor(-1.5 + 0.5)
    # INT32_MIN is no valid multiplier, but the primitive still saturates rather than wraps.
    assert multiply_by_quantized_multiplier(INT32_MIN, INT32_MIN, 0) == INT32_MAX
    # Element-wise on arrays, and within one unit of the real product for a realistic multiplier.
    rng = np.random.default_rng(0)
    x = rng.integers(-(1 << 20), 1 << 20, 1000)
    m, shift = quantize_multiplier(0.0123)
    out = multiply_by_quantized_multiplier(x, m, shift)
    assert out.shape == x.shape
    assert np.max(np.abs(out - x * (m * 2.0 ** (shift - 31)))) <= 1.0
    with pytest.raises(ValueError, match="multiplier >= 0 and shift in"):
        multiply_by_quantized_multiplier_single_rounding(1, -1, 0)

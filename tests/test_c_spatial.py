"""emit_spatial.py and kernels/mnist_int8_spatial.h against LiteRT's BUILTIN_REF, bit for bit.

Two tiny int8 models are run in LiteRT with ``OpResolverType.BUILTIN_REF``, every tensor kept:
``depthwise`` (Conv2D -> DepthwiseConv2D SAME -> DepthwiseConv2D depth_multiplier 2, stride 2, VALID,
RELU6 -> AveragePooling2D SAME -> GlobalAveragePooling2D = MEAN keep_dims false over 3x3 -> Dense) and
``pooled`` (Conv2D -> DepthwiseConv2D SAME RELU -> AveragePooling2D SAME, clipped windows of 1, 2
and 4 cells -> AveragePooling2D 3x3 VALID -> GlobalAveragePooling2D(keepdims=True) = MEAN keep_dims
true over 5x5, the default model's GAP size -> Flatten -> Dense). Each DEPTHWISE_CONV_2D,
AVERAGE_POOL_2D and MEAN is emitted, compiled with gcc and run on LiteRT's own input tensor for it;
its output must equal LiteRT's on all 100 images. Keras converts a dilated DepthwiseConv2D to
SPACE_TO_BATCH_ND around an undilated one, so dilation is tested on a copy of ``depthwise`` whose
SAME stride-1 DEPTHWISE_CONV_2D has its dilation set to (2, 3) in the flatbuffer (shapes unchanged).

Measured (LiteRT 2.3.0; the same models; mismatching output elements of 100 images):
  - DEPTHWISE_CONV_2D: DOUBLE rounding (SaturatingRoundingDoublingHighMul + RoundingDivideByPOT),
    0 mismatches on all three ops; TFLITE_SINGLE_ROUNDING's one-shift rounding: 75 of 135200, 54 of
    57600 and 143 of 135200.
  - AVERAGE_POOL_2D: C division after +-count/2, halves away from zero: 0 mismatches. Halves up
    (floor(x + 0.5)): 296 of 14400 and 3802 of 39200; halves to even: 150 and 1564; truncation: 581
    and 6746 (and 4617 of 20000 on the 9-cell pool, where ties cannot occur).
  - MEAN: reduce.cc's reference path (QuantizedMeanOrSum): multiplier from QuantizeMultiplier(
    (double)in_scale / out_scale), 1/count folded in as (m << floor(log2 count)) / count with double
    rounding: 0 mismatches. The same with single rounding: 87 of 800 on the 5x5 MEAN (0 on 3x3); a
    float mean rounded to nearest: 87 of 800. QuantizeMultiplier(in / (out * count)) also gives 0:
    its multipliers here are 1 above the reference's (1339162046 vs 1339162045, 1162451325 vs
    1162451324), a relative 1e-9 that no sum of a few thousand reaches; emit_spatial follows the source.
The emitted layers also run clean under gcc -fsanitize=undefined,address on these tensors.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from c_reference import GCC, N_IMAGES, Runs, ops_of, reference_runs, run_layer

from mnistedge.export.c.emit_spatial import EMITTERS, mean_multiplier
from mnistedge.export.c.graph import Graph, read_graph

pytestmark = pytest.mark.skipif(GCC is None, reason="the C kernel tests compile with the host gcc")

DILATION = (2, 3)  # (h, w): unequal, so swapped axes would show


def _depthwise(keras):
    L = keras.layers
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = L.Rescaling(1.0 / 255.0)(pixels)
    x = L.Conv2D(8, 3, strides=2, activation="relu")(x)  # 28 -> 13
    x = L.DepthwiseConv2D(3, padding="same")(x)  # 13 -> 13, pad 1
    x = L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, activation="relu6")(x)  # 13 -> 6, 16 channels
    x = L.AveragePooling2D(2, padding="same")(x)  # 6 -> 3
    x = L.GlobalAveragePooling2D()(x)  # MEAN [1, 2], keep_dims false: [1, 3, 3, 16] -> [1, 16]
    return keras.Model(pixels, L.Dense(10, activation="softmax")(x))


def _pooled(keras):
    L = keras.layers
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = L.Rescaling(1.0 / 255.0)(pixels)
    x = L.Conv2D(8, 3, strides=2, activation="relu")(x)  # 28 -> 13
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)  # 13 -> 13
    x = L.AveragePooling2D(2, padding="same")(x)  # 13 -> 7: the last row/column of windows clipped
    x = L.AveragePooling2D(3, strides=1)(x)  # 7 -> 5, VALID
    x = L.GlobalAveragePooling2D(keepdims=True)(x)  # MEAN [1, 2], keep_dims true: -> [1, 1, 1, 8]
    return keras.Model(pixels, L.Dense(10, activation="softmax")(L.Flatten()(x)))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("c_spatial")


@pytest.fixture(scope="module")
def runs(root, tiny_data) -> Runs:
    return reference_runs(root, tiny_data, {"depthwise": _depthwise, "pooled": _pooled})


def test_models_have_the_ops_and_variants(runs):
    """The converter kept every layer as the op under test, with the options the builders asked for."""
    dw = [op.options for _, _, op in ops_of(runs, "depthwise", "DEPTHWISE_CONV_2D")]
    dw += [op.options for _, _, op in ops_of(runs, "pooled", "DEPTHWISE_CONV_2D")]
    assert {o["padding"] for o in dw} == {"SAME", "VALID"}
    assert {o["fused_activation"] for o in dw} == {"NONE", "RELU", "RELU6"}
    assert any(o["stride_h"] == 2 for o in dw)
    (graph, _, multiplied) = ops_of(runs, "depthwise", "DEPTHWISE_CONV_2D")[1]
    assert graph.tensors[multiplied.inputs[1]].shape[3] == 2 * graph.tensors[multiplied.inputs[0]].shape[3]
    pools = [op.options for _, _, op in ops_of(runs, "pooled", "AVERAGE_POOL_2D")]
    assert {o["padding"] for o in pools} == {"SAME", "VALID"}
    for model, keep_dims in (("depthwise", False), ("pooled", True)):
        ((graph, _, mean),) = ops_of(runs, model, "MEAN")
        assert mean.options["keep_dims"] is keep_dims
        assert list(graph.tensors[mean.inputs[1]].data) == [1, 2]
        x, y = graph.tensors[mean.inputs[0]], graph.tensors[mean.outputs[0]]
        assert x.scale != y.scale, "MEAN should rescale, as GlobalAveragePooling2D's does"


@pytest.mark.parametrize("op_name", sorted(EMITTERS))
def test_emitted_layers_match_builtin_ref(runs, tmp_path, op_name):
    """Each emitted layer, run as the generator wraps it, on LiteRT's own tensors: identical output."""
    checked = 0
    for model in runs:
        graph, values = runs[model]
        for op in (op for op in graph.ops if op.name == op_name):
            code = EMITTERS[op_name](graph, op, f"layer{op.index}")
            x, want = values[op.inputs[0]], values[op.outputs[0]]
            got = run_layer(tmp_path, code, [x], want.shape[1:])
            assert np.array_equal(got, want), f"{model} op {op.index}: {np.sum(got != want)} differ"
            checked += 1
    assert checked >= 2


def _dilated(path: Path, op_index: int) -> bytes:
    """The model with one DEPTHWISE_CONV_2D's dilation set to DILATION (SAME, stride 1: shapes hold)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    options = model.subgraphs[0].operators[op_index].builtinOptions
    options.dilationHFactor, options.dilationWFactor = DILATION
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _builtin_ref(model: bytes, images: np.ndarray, tensors: tuple[int, ...]) -> dict[int, np.ndarray]:
    """LiteRT BUILTIN_REF values of the given tensors over the images (uint8 pixels)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    scale, zero_point = detail["quantization"]
    seen: dict[int, list[np.ndarray]] = {i: [] for i in tensors}
    for image in images:
        q = np.clip(np.round(image.astype(np.float32) / scale) + zero_point, -128, 127).astype(np.int8)
        interpreter.set_tensor(detail["index"], q.reshape(detail["shape"]))
        interpreter.invoke()
        for i in tensors:
            seen[i].append(interpreter.get_tensor(i).copy())
    return {i: np.concatenate(v) for i, v in seen.items()}


def test_dilated_depthwise_matches_builtin_ref(runs, root, tiny_data, tmp_path):
    graph, _ = runs["depthwise"]
    op = next(
        op
        for op in graph.ops
        if op.name == "DEPTHWISE_CONV_2D" and op.options["padding"] == "SAME" and op.options["stride_h"] == 1
    )
    model = _dilated(root / "depthwise" / "model_int8.tflite", op.index)
    dilated = read_graph(model)
    op = dilated.ops[op.index]
    assert (op.options["dilation_h"], op.options["dilation_w"]) == DILATION
    values = _builtin_ref(model, tiny_data.x_test[:N_IMAGES], (op.inputs[0], op.outputs[0]))
    x, want = values[op.inputs[0]], values[op.outputs[0]]
    got = run_layer(tmp_path, EMITTERS["DEPTHWISE_CONV_2D"](dilated, op, "dilated"), [x], want.shape[1:])
    assert np.array_equal(got, want), f"{np.sum(got != want)} differ"


def _with_axes(graph: Graph, op_index: int, axes: list[int] | None) -> Graph:
    """The graph with the MEAN's axes constant replaced (None: made a runtime tensor)."""
    op = graph.ops[op_index]
    tensors = list(graph.tensors)
    t = tensors[op.inputs[1]]
    tensors[op.inputs[1]] = replace(
        t, shape=(0 if axes is None else len(axes),), data=None if axes is None else np.array(axes, np.int32)
    )
    return replace(graph, tensors=tuple(tensors))


def test_mean_rejects_what_the_kernel_cannot_reduce(runs):
    ((graph, _, op),) = ops_of(runs, "pooled", "MEAN")
    with pytest.raises(ValueError, match=rf"Op {op.index} \(MEAN\): axes \[1, 3\] .* not contiguous.*Fix"):
        EMITTERS["MEAN"](_with_axes(graph, op.index, [1, 3]), op, "mean")
    with pytest.raises(ValueError, match=rf"Op {op.index} \(MEAN\): the axes must be a constant"):
        EMITTERS["MEAN"](_with_axes(graph, op.index, None), op, "mean")
    # Negative and repeated axes resolve as LiteRT's ResolveAxis does: [-3, 2, 1] is [1, 2].
    same = EMITTERS["MEAN"](_with_axes(graph, op.index, [-3, 2, 1]), op, "mean")
    assert same == EMITTERS["MEAN"](graph, op, "mean")


def test_mean_multiplier_folds_the_count_as_reduce_h():
    """1/count enters by integer division of Prepare's shifted multiplier, not a new QuantizeMultiplier."""
    # in/out = 1: Prepare gives (2**30, 1); count 25: s = 4, (2**30 << 4) // 25, shift 1 - 4.
    assert mean_multiplier(0.5, 0.5, 25) == ((1 << 34) // 25, -3)
    # The cap s <= 31 + shift: a tiny ratio (shift -29) with count 2**10 only shifts by 2.
    multiplier, shift = mean_multiplier(2.0**-30, 1.0, 1024)
    assert (multiplier, shift) == ((1 << 30 << 2) // 1024, -31)

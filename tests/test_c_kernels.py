"""mnistedge/export/c/kernels/mnist_int8.h against LiteRT's reference kernels, bit for bit.

Two tiny int8 models are run in LiteRT with ``OpResolverType.BUILTIN_REF`` and every tensor kept:
``dense`` (Flatten -> Dense(32, relu) -> Dense(10)) and ``conv`` (Conv2D stride 2 VALID + ReLU ->
Conv2D SAME -> MaxPooling2D SAME -> Dense). Each FULLY_CONNECTED, CONV_2D and MAX_POOL_2D
op is then run by the header's kernel in a small C driver, built with the host gcc, on LiteRT's own
input tensor for that op, and its output compared exactly with LiteRT's on 100 test images. The
requantization primitives are checked against quant.py on random and edge values. (Keras converts a
dilated Conv2D to SPACE_TO_BATCH_ND around an undilated CONV_2D, so the kernel's dilation is untested here.)
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mnistedge.export.c.graph import Graph, Op, read_graph
from mnistedge.export.c.quant import (
    INT32_MAX,
    INT32_MIN,
    activation_range,
    conv_per_channel_multipliers,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_rounding,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

HEADER_DIR = Path(__file__).resolve().parents[1] / "mnistedge" / "export" / "c" / "kernels"
GCC = shutil.which("gcc")
N_IMAGES = 100

pytestmark = pytest.mark.skipif(GCC is None, reason="the C kernel tests compile with the host gcc")


def _dense(keras):
    L = keras.layers
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = L.Flatten()(L.Rescaling(1.0 / 255.0)(pixels))
    x = L.Dense(32, activation="relu")(x)
    return keras.Model(pixels, L.Softmax()(L.Dense(10)(x)))


def _conv(keras):
    L = keras.layers
    pixels = keras.Input((28, 28, 1), name="pixels")
    x = L.Rescaling(1.0 / 255.0)(pixels)
    x = L.Conv2D(4, 3, strides=2, activation="relu")(x)  # 28 -> 13, VALID
    x = L.Conv2D(6, 3, padding="same")(x)  # 13 -> 13, pad 1
    x = L.MaxPooling2D(2, padding="same")(x)  # 13 -> 7, the last window clipped
    return keras.Model(pixels, L.Dense(10, activation="softmax")(L.Flatten()(x)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data) -> dict[str, tuple[Graph, dict[int, np.ndarray]]]:
    """{model name: (graph, tensor index -> LiteRT BUILTIN_REF values stacked over N_IMAGES)}."""
    pytest.importorskip("tensorflow", reason="converting the test models needs mnistedge[export]")
    keras = pytest.importorskip("keras")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from mnistedge.export import export_artifact

    root = tmp_path_factory.mktemp("c_kernels")
    result = {}
    for name, build in (("dense", _dense), ("conv", _conv)):
        keras.utils.set_random_seed(0)
        model = build(keras)
        # Two quick epochs so weights and activation ranges look trained, not uniform noise.
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
        model.fit(tiny_data.x_train[..., None].astype("float32"), tiny_data.y_train, epochs=2, verbose=0)
        (root / name).mkdir()
        model.save(root / name / "model.keras")
        path = export_artifact(
            root / name / "model.keras",
            "tflite",
            quantize="int8",
            out_dir=root / name,
            data=tiny_data,
            verify=False,
        ).path
        graph = read_graph(path)
        interpreter = Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
            experimental_preserve_all_tensors=True,
        )
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        scale, zero_point = detail["quantization"]
        wanted = {i for op in graph.ops for i in (*op.inputs, *op.outputs) if i >= 0}
        wanted = {i for i in wanted if graph.tensors[i].data is None and graph.tensors[i].dtype == "int8"}
        seen: dict[int, list[np.ndarray]] = {i: [] for i in wanted}
        for image in tiny_data.x_test[:N_IMAGES]:
            q = np.clip(np.round(image.astype(np.float32) / scale) + zero_point, -128, 127).astype(np.int8)
            interpreter.set_tensor(detail["index"], q.reshape(detail["shape"]))
            interpreter.invoke()
            for i in wanted:
                seen[i].append(interpreter.get_tensor(i).copy())
        result[name] = (graph, {i: np.concatenate(v) for i, v in seen.items()})
    return result


def _c_array(ctype: str, name: str, values: np.ndarray) -> str:
    body = ",".join("INT32_MIN" if int(v) == INT32_MIN else str(int(v)) for v in np.ravel(values))
    return f"static const {ctype} {name}[{max(values.size, 1)}] = {{{body or '0'}}};\n"


def _run_c(tmp_path: Path, arrays: str, body: str, out_type: str, out_count: int) -> np.ndarray:
    """Compile a driver (arrays + main's body writing ``out`` to stdout), run it, return ``out``."""
    source = (
        '#include <stdio.h>\n#include "mnist_int8.h"\n'
        + arrays
        + f"static {out_type} out[{out_count}];\n"
        + "int main(void) {\n"
        + body
        + f"\n    return fwrite(out, sizeof out[0], {out_count}, stdout) == {out_count} ? 0 : 1;\n}}\n"
    )
    (tmp_path / "driver.c").write_text(source)
    exe = tmp_path / "driver"
    build = [GCC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-I", str(HEADER_DIR)]
    subprocess.run([*build, str(tmp_path / "driver.c"), "-o", str(exe)], check=True, capture_output=True)
    stdout = subprocess.run([str(exe)], check=True, capture_output=True).stdout
    return np.frombuffer(stdout, dtype={"int8_t": np.int8, "int32_t": np.int32}[out_type])


def _quant_arrays(graph: Graph, op: Op) -> tuple[str, str]:
    """C arrays for the op's per-channel multipliers/shifts and its mnist_quant_params initializer."""
    x, w, y = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]]
    assert set(w.zero_point) == {0}, "int8 weights are symmetric"
    scales = np.broadcast_to(np.asarray(w.scale), (w.shape[0],))
    multipliers, shifts = conv_per_channel_multipliers(x.scale[0], scales, y.scale[0])
    act_min, act_max = activation_range(op.options["fused_activation"], y.scale[0], y.zero_point[0])
    bias = graph.tensors[op.inputs[2]].data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    arrays = (
        _c_array("int32_t", "multiplier", multipliers)
        + _c_array("int32_t", "shift", shifts)
        + _c_array("int8_t", "filter", w.data)
        + (_c_array("int32_t", "bias", bias) if bias is not None else "")
    )
    params = (
        f"    const mnist_quant_params params = {{{-x.zero_point[0]}, {y.zero_point[0]}, "
        f"{act_min}, {act_max}}};\n"
        "    const mnist_per_channel_quant quant = {multiplier, shift};\n"
    )
    return arrays, params + f"    const int32_t *bias_or_null = {'bias' if bias is not None else 'NULL'};\n"


def _ops(runs, model: str, name: str):
    graph, values = runs[model]
    ops = [op for op in graph.ops if op.name == name]
    assert ops, f"the {model} model has no {name}"
    return [(graph, values, op) for op in ops]


def test_fully_connected_matches_builtin_ref(runs, tmp_path):
    for graph, values, op in _ops(runs, "dense", "FULLY_CONNECTED") + _ops(runs, "conv", "FULLY_CONNECTED"):
        w = graph.tensors[op.inputs[1]]
        output_depth, input_depth = w.shape
        x, want = values[op.inputs[0]], values[op.outputs[0]]
        arrays, params = _quant_arrays(graph, op)
        body = (
            params
            + f"    mnist_fully_connected_s8(&params, &quant, {N_IMAGES}, {input_depth}, {output_depth}, "
            "input, filter, bias_or_null, out);"
        )
        got = _run_c(tmp_path, arrays + _c_array("int8_t", "input", x), body, "int8_t", want.size)
        assert np.array_equal(got, want.reshape(-1)), (
            f"op {op.index}: {np.sum(got != want.reshape(-1))} differ"
        )


def _padding(stride: int, dilation: int, size: int, filter_size: int, padding: str) -> tuple[int, int]:
    """(output size, padding) as TFLite's ComputeOutSize/ComputePaddingHeightWidth."""
    effective = (filter_size - 1) * dilation + 1
    out = (size + stride - 1) // stride if padding == "SAME" else (size - effective + stride) // stride
    return out, max(((out - 1) * stride + effective - size) // 2, 0)


def test_conv_2d_matches_builtin_ref(runs, tmp_path):
    ops = _ops(runs, "conv", "CONV_2D")
    assert {op.options["padding"] for _, _, op in ops} == {"SAME", "VALID"}
    for graph, values, op in ops:
        o = op.options
        x, want = values[op.inputs[0]], values[op.outputs[0]]
        out_c, fh, fw, _ = graph.tensors[op.inputs[1]].shape
        n, h, w, c = x.shape
        oh, pad_h = _padding(o["stride_h"], o["dilation_h"], h, fh, o["padding"])
        ow, pad_w = _padding(o["stride_w"], o["dilation_w"], w, fw, o["padding"])
        assert want.shape == (n, oh, ow, out_c)
        arrays, params = _quant_arrays(graph, op)
        body = (
            params
            + f"    const mnist_conv_geometry geo = {{{o['stride_h']}, {o['stride_w']}, {o['dilation_h']}, "
            f"{o['dilation_w']}, {pad_h}, {pad_w}}};\n"
            f"    const mnist_dims in_dims = {{{n}, {h}, {w}, {c}}},\n"
            f"        out_dims = {{{n}, {oh}, {ow}, {out_c}}};\n"
            f"    if (mnist_compute_padding({o['stride_h']}, {o['dilation_h']}, {h}, {fh}, {oh})"
            f" != {pad_h})\n"
            "        return 2;\n"
            f"    mnist_convolve_s8(&params, &quant, &geo, &in_dims, input, {fh}, {fw}, filter, "
            "bias_or_null, "
            "&out_dims, out);"
        )
        got = _run_c(tmp_path, arrays + _c_array("int8_t", "input", x), body, "int8_t", want.size)
        assert np.array_equal(got, want.reshape(-1)), (
            f"op {op.index}: {np.sum(got != want.reshape(-1))} differ"
        )


def test_max_pool_2d_matches_builtin_ref(runs, tmp_path):
    for graph, values, op in _ops(runs, "conv", "MAX_POOL_2D"):
        o = op.options
        x, want = values[op.inputs[0]], values[op.outputs[0]]
        n, h, w, c = x.shape
        oh, pad_h = _padding(o["stride_h"], 1, h, o["filter_h"], o["padding"])
        ow, pad_w = _padding(o["stride_w"], 1, w, o["filter_w"], o["padding"])
        assert want.shape == (n, oh, ow, c)
        y = graph.tensors[op.outputs[0]]
        act_min, act_max = activation_range(o["fused_activation"], y.scale[0], y.zero_point[0])
        body = (
            f"    const mnist_conv_geometry geo = {{{o['stride_h']}, {o['stride_w']}, 1, 1, "
            f"{pad_h}, {pad_w}}};\n"
            f"    const mnist_dims in_dims = {{{n}, {h}, {w}, {c}}}, out_dims = {{{n}, {oh}, {ow}, {c}}};\n"
            f"    mnist_max_pool_s8(&geo, {o['filter_h']}, {o['filter_w']}, {act_min}, {act_max}, "
            "&in_dims, input, "
            "&out_dims, out);"
        )
        got = _run_c(tmp_path, _c_array("int8_t", "input", x), body, "int8_t", want.size)
        assert np.array_equal(got, want.reshape(-1))


EDGE_INT32 = np.array(
    [INT32_MIN, INT32_MIN + 1, -(1 << 30), -3, -2, -1, 0, 1, 2, 3, 1 << 30, INT32_MAX - 1, INT32_MAX]
)


def test_primitives_match_quant_py(tmp_path):
    rng = np.random.default_rng(0)
    # Pairs for the high mul: every edge value against every other, then random int32s.
    ea, eb = np.meshgrid(EDGE_INT32, EDGE_INT32)
    a = np.concatenate([ea.ravel(), rng.integers(INT32_MIN, INT32_MAX, 2000, endpoint=True)])
    b = np.concatenate([eb.ravel(), rng.integers(INT32_MIN, INT32_MAX, 2000, endpoint=True)])
    # Rounding divide: ties (odd multiples of 2**(e-1)) on purpose, negative and positive.
    exps = rng.integers(0, 32, a.size)
    ties = (2 * rng.integers(-1000, 1000, a.size) + 1) * (1 << np.maximum(exps - 1, 0))
    x = np.where((np.arange(a.size) % 2 == 0) & (exps <= 20), ties, a)
    # Requantization: accumulators near int8 ranges, Q0.31 multipliers in [2**30, 2**31), shifts
    # where the int32 result stays in range (as it does in the kernels).
    accs = np.concatenate([rng.integers(-(1 << 20), 1 << 20, a.size - 6), [0, 1, -1, 2**20, -(2**20), 7]])
    mults = rng.integers(1 << 30, INT32_MAX, a.size, endpoint=True)
    shifts = rng.integers(-31, 11, a.size)
    count = a.size
    arrays = "".join(
        _c_array("int32_t", name, v) for name, v in (("a", a), ("b", b), ("x", x), ("e", exps), ("acc", accs))
    ) + "".join(_c_array("int32_t", name, v) for name, v in (("mult", mults), ("sh", shifts)))
    body = (
        f"    for (int i = 0; i < {count}; ++i) {{\n"
        "        out[4 * i] = mnist_saturating_rounding_doubling_high_mul(a[i], b[i]);\n"
        "        out[4 * i + 1] = mnist_rounding_divide_by_pot(x[i], (int)e[i]);\n"
        "        out[4 * i + 2] =\n"
        "            mnist_multiply_by_quantized_multiplier_double_rounding(acc[i], mult[i], (int)sh[i]);\n"
        "        out[4 * i + 3] = mnist_multiply_by_quantized_multiplier(acc[i], mult[i], (int)sh[i]);\n"
        "    }"
    )
    got = _run_c(tmp_path, arrays, body, "int32_t", 4 * count).reshape(count, 4)
    np.testing.assert_array_equal(got[:, 0], saturating_rounding_doubling_high_mul(a, b))
    np.testing.assert_array_equal(
        got[:, 1], [int(rounding_divide_by_pot(int(v), int(k))) for v, k in zip(x, exps, strict=True)]
    )
    double = [
        int(multiply_by_quantized_multiplier(int(v), int(m), int(s)))
        for v, m, s in zip(accs, mults, shifts, strict=True)
    ]
    single = [
        int(multiply_by_quantized_multiplier_single_rounding(int(v), int(m), int(s)))
        for v, m, s in zip(accs, mults, shifts, strict=True)
    ]
    np.testing.assert_array_equal(got[:, 2], double)
    np.testing.assert_array_equal(got[:, 3], single)
    assert got[0, 0] == INT32_MAX, "INT32_MIN * INT32_MIN saturates"

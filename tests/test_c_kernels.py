"""mnistedge/export/c/kernels/mnist_int8.h against LiteRT's reference kernels, bit for bit.

Two tiny int8 models are run in LiteRT with ``OpResolverType.BUILTIN_REF`` and every tensor kept:
``dense`` (Flatten -> Dense(32, relu) -> Dense(10)) and ``conv`` (Conv2D stride 2 VALID + ReLU ->
Conv2D SAME -> MaxPooling2D SAME -> Dense). Each FULLY_CONNECTED, CONV_2D and MAX_POOL_2D
op is then run by the header's kernel in a small C driver, built with the host gcc, on LiteRT's own
input tensor for that op, and its output compared exactly with LiteRT's on 100 test images. The
requantization primitives are checked against quant.py on random and edge values. (Keras converts a
dilated Conv2D to SPACE_TO_BATCH_ND around an undilated CONV_2D, so the kernel's dilation is checked only
against the straightforward loop.) The fast paths (im2col column pairs, two pixels and two channels a pass,
the Cortex-M4's SMLAD) are checked against the straightforward loops on awkward shapes, on the host and,
where the toolchain and QEMU are installed, on the M4.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from c_reference import (
    GCC,
    HEADER_DIR,
    N_IMAGES,
    Runs,
    c_array,
    ops_of,
    padding,
    quant_arrays,
    reference_runs,
    run_c,
    run_layer,
)

from mnistedge.export.c.emit_core import EMITTERS
from mnistedge.export.c.quant import (
    INT32_MAX,
    INT32_MIN,
    activation_range,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_rounding,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

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
def runs(tmp_path_factory, tiny_data) -> Runs:
    return reference_runs(tmp_path_factory.mktemp("c_kernels"), tiny_data, {"dense": _dense, "conv": _conv})


def test_fully_connected_matches_builtin_ref(runs, tmp_path):
    for graph, values, op in ops_of(runs, "dense", "FULLY_CONNECTED") + ops_of(
        runs, "conv", "FULLY_CONNECTED"
    ):
        w = graph.tensors[op.inputs[1]]
        output_depth, input_depth = w.shape
        x, want = values[op.inputs[0]], values[op.outputs[0]]
        arrays, params = quant_arrays(graph, op)
        body = (
            params
            + f"    mnist_fully_connected_s8(&params, &quant, {N_IMAGES}, {input_depth}, {output_depth}, "
            "input, filter, bias_or_null, out);"
        )
        got = run_c(tmp_path, arrays + c_array("int8_t", "input", x), body, "int8_t", want.size)
        assert np.array_equal(got, want.reshape(-1)), (
            f"op {op.index}: {np.sum(got != want.reshape(-1))} differ"
        )


def test_conv_2d_matches_builtin_ref(runs, tmp_path):
    ops = ops_of(runs, "conv", "CONV_2D")
    assert {op.options["padding"] for _, _, op in ops} == {"SAME", "VALID"}
    for graph, values, op in ops:
        o = op.options
        x, want = values[op.inputs[0]], values[op.outputs[0]]
        out_c, fh, fw, _ = graph.tensors[op.inputs[1]].shape
        n, h, w, c = x.shape
        oh, pad_h = padding(o["stride_h"], o["dilation_h"], h, fh, o["padding"])
        ow, pad_w = padding(o["stride_w"], o["dilation_w"], w, fw, o["padding"])
        assert want.shape == (n, oh, ow, out_c)
        arrays, params = quant_arrays(graph, op)
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
        got = run_c(tmp_path, arrays + c_array("int8_t", "input", x), body, "int8_t", want.size)
        assert np.array_equal(got, want.reshape(-1)), (
            f"op {op.index}: {np.sum(got != want.reshape(-1))} differ"
        )


def test_max_pool_2d_matches_builtin_ref(runs, tmp_path):
    for graph, values, op in ops_of(runs, "conv", "MAX_POOL_2D"):
        o = op.options
        x, want = values[op.inputs[0]], values[op.outputs[0]]
        n, h, w, c = x.shape
        oh, pad_h = padding(o["stride_h"], 1, h, o["filter_h"], o["padding"])
        ow, pad_w = padding(o["stride_w"], 1, w, o["filter_w"], o["padding"])
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
        got = run_c(tmp_path, c_array("int8_t", "input", x), body, "int8_t", want.size)
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
        c_array("int32_t", name, v) for name, v in (("a", a), ("b", b), ("x", x), ("e", exps), ("acc", accs))
    ) + "".join(c_array("int32_t", name, v) for name, v in (("mult", mults), ("sh", shifts)))
    body = (
        f"    for (int i = 0; i < {count}; ++i) {{\n"
        "        out[4 * i] = mnist_saturating_rounding_doubling_high_mul(a[i], b[i]);\n"
        "        out[4 * i + 1] = mnist_rounding_divide_by_pot(x[i], (int)e[i]);\n"
        "        out[4 * i + 2] =\n"
        "            mnist_multiply_by_quantized_multiplier_double_rounding(acc[i], mult[i], (int)sh[i]);\n"
        "        out[4 * i + 3] = mnist_multiply_by_quantized_multiplier(acc[i], mult[i], (int)sh[i]);\n"
        "    }"
    )
    got = run_c(tmp_path, arrays, body, "int32_t", 4 * count).reshape(count, 4)
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


@pytest.mark.parametrize("op_name", ["CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D"])
def test_emitted_layers_match_builtin_ref(runs, tmp_path, op_name):
    """The emitters' code (constants + the generator's layer function) on LiteRT's own tensors."""
    for model in runs:
        graph, values = runs[model]
        for op in (op for op in graph.ops if op.name == op_name):
            code = EMITTERS[op_name](graph, op, f"layer{op.index}")
            x, want = values[op.inputs[0]], values[op.outputs[0]]
            got = run_layer(tmp_path, code, [x], want.shape[1:])
            assert np.array_equal(got, want), f"{model} op {op.index}: {np.sum(got != want)} differ"


# (batches, height, width, in_c, out_c, filter_h, filter_w, stride_h, stride_w, dilation_h, dilation_w,
#  padding, bias): in_c not a multiple of 4, odd out_c, padding on every side, stride 2, dilation 2,
# an odd number of output pixels, batch 2, no bias, and a patch over MNIST_CONV_PATCH_MAX (the direct loop).
ODD_CONVS = [
    (1, 9, 7, 3, 5, 3, 3, 1, 1, 1, 1, "SAME", True),
    (1, 11, 10, 5, 7, 5, 5, 2, 2, 1, 1, "SAME", True),
    (1, 8, 9, 8, 4, 3, 3, 2, 1, 1, 1, "VALID", False),
    (1, 10, 9, 4, 6, 3, 3, 1, 1, 2, 2, "SAME", True),
    (2, 6, 7, 1, 3, 5, 5, 1, 1, 1, 1, "SAME", True),
    (1, 28, 28, 1, 4, 5, 5, 2, 2, 1, 1, "SAME", True),
    (1, 4, 5, 120, 3, 3, 3, 1, 1, 1, 1, "SAME", True),
]
# (batches, input_depth, output_depth): depths not multiples of 4, an odd output count.
ODD_FCS = [(3, 37, 7), (1, 64, 10), (2, 5, 1)]


def _odd_shapes_driver() -> str:
    """A C program running the header's kernels and the straightforward loops on random data and
    printing, per case, how many outputs differ."""
    rng = np.random.default_rng(1)
    arrays, body = [], []

    def quant(name: str, channels: int) -> str:
        multipliers = rng.integers(1 << 30, INT32_MAX, channels, endpoint=True)
        arrays.append(c_array("int32_t", f"{name}_mult", multipliers))
        arrays.append(c_array("int32_t", f"{name}_shift", rng.integers(-12, 2, channels)))
        zero_point = int(rng.integers(-128, 128))
        act_min = zero_point if rng.random() < 0.5 else -128  # ReLU or none
        return (
            f"        const mnist_quant_params params = {{{int(rng.integers(-127, 129))}, {zero_point}, "
            f"{act_min}, 127}};\n"
            f"        const mnist_per_channel_quant quant = {{{name}_mult, {name}_shift}};\n"
        )

    for i, (n, h, w, c, oc, fh, fw, sh, sw, dh, dw, pad, has_bias) in enumerate(ODD_CONVS):
        oh, pad_h = padding(sh, dh, h, fh, pad)
        ow, pad_w = padding(sw, dw, w, fw, pad)
        name = f"conv{i}"
        arrays.append(c_array("int8_t", f"{name}_in", rng.integers(-128, 128, n * h * w * c)))
        arrays.append(c_array("int8_t", f"{name}_filter", rng.integers(-127, 128, oc * fh * fw * c)))
        if has_bias:
            arrays.append(c_array("int32_t", f"{name}_bias", rng.integers(-20000, 20000, oc)))
        size, row = n * oh * ow * oc, ow * oc
        bias = f"{name}_bias" if has_bias else "NULL"
        rows = min(3, oh - 1)  # a row range that starts past row 0, as the fused conv + pool asks
        body.append(
            "    {\n"
            + quant(name, oc)
            + f"        const mnist_conv_geometry geo = {{{sh}, {sw}, {dh}, {dw}, {pad_h}, {pad_w}}};\n"
            f"        const mnist_dims in_dims = {{{n}, {h}, {w}, {c}}},\n"
            f"            out_dims = {{{n}, {oh}, {ow}, {oc}}};\n"
            f"        static int8_t got[{size}], want[{size}];\n"
            f"        mnist_convolve_s8(&params, &quant, &geo, &in_dims, {name}_in, {fh}, {fw}, "
            f"{name}_filter, {bias}, &out_dims, got);\n"
            f"        for (int32_t b = 0; b < {n}; ++b)\n"
            "            mnist_convolve_rows_direct_s8(&params, &quant, &geo, &in_dims, "
            f"{name}_in, {fh}, {fw}, {name}_filter, {bias}, &out_dims, b, 0, {oh}, want + b * {oh * row});\n"
            "        long differ = 0;\n"
            f"        for (int32_t j = 0; j < {size}; ++j) differ += got[j] != want[j];\n"
            f"        mnist_convolve_rows_s8(&params, &quant, &geo, &in_dims, {name}_in, {fh}, {fw}, "
            f"{name}_filter, {bias}, &out_dims, 0, 1, {1 + rows}, got);\n"
            f"        for (int32_t j = 0; j < {rows * row}; ++j) differ += got[j] != want[{row} + j];\n"
            f'        printf("{name}=%ld\\n", differ);\n'
            "    }\n"
        )
    for i, (n, depth, oc) in enumerate(ODD_FCS):
        name = f"fc{i}"
        arrays.append(c_array("int8_t", f"{name}_in", rng.integers(-128, 128, n * depth)))
        arrays.append(c_array("int8_t", f"{name}_filter", rng.integers(-127, 128, oc * depth)))
        arrays.append(c_array("int32_t", f"{name}_bias", rng.integers(-20000, 20000, oc)))
        body.append(
            "    {\n" + quant(name, oc) + f"        static int8_t got[{n * oc}];\n"
            f"        mnist_fully_connected_s8(&params, &quant, {n}, {depth}, {oc}, {name}_in, "
            f"{name}_filter, {name}_bias, got);\n"
            "        long differ = 0;\n"
            f"        for (int32_t b = 0; b < {n}; ++b)\n"
            f"            for (int32_t o = 0; o < {oc}; ++o) {{\n"
            "                int32_t acc = 0;\n"
            f"                for (int32_t d = 0; d < {depth}; ++d)\n"
            f"                    acc += {name}_filter[o * {depth} + d] * ({name}_in[b * {depth} + d] "
            "+ params.input_offset);\n"
            f"                differ += got[b * {oc} + o] != mnist_requantize_single_s8(\n"
            f"                    acc + {name}_bias[o], {name}_mult[o], {name}_shift[o],\n"
            "                    params.output_offset, params.act_min, params.act_max);\n"
            "            }\n"
            f'        printf("{name}=%ld\\n", differ);\n'
            "    }\n"
        )
    return (
        '#include <stdio.h>\n#include "mnist_int8.h"\n'
        + "".join(arrays)
        + "int main(void) {\n"
        + "".join(body)
        + "    return 0;\n}\n"
    )


def _differences(stdout: str) -> dict[str, int]:
    counts = {name: int(v) for name, v in re.findall(r"(\w+)=(\d+)", stdout)}
    assert len(counts) == len(ODD_CONVS) + len(ODD_FCS), stdout
    return counts


def test_fast_paths_match_direct_loops_on_odd_shapes(tmp_path):
    (tmp_path / "odd.c").write_text(_odd_shapes_driver())
    build = [GCC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-I", str(HEADER_DIR)]
    compiled = subprocess.run(
        [*build, str(tmp_path / "odd.c"), "-o", str(tmp_path / "odd")], capture_output=True, text=True
    )
    assert compiled.returncode == 0, compiled.stderr
    stdout = subprocess.run([str(tmp_path / "odd")], check=True, capture_output=True, text=True).stdout
    assert _differences(stdout) == dict.fromkeys(_differences(stdout), 0)


@pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="the Cortex-M4 (SMLAD) paths need arm-none-eabi-gcc and qemu-system-arm",
)
def test_m4_dsp_paths_match_direct_loops_on_odd_shapes(tmp_path):
    from mnistedge.export.c.qemu import build_m4, run_m4

    (tmp_path / "odd.c").write_text(_odd_shapes_driver())
    elf = build_m4([tmp_path / "odd.c"], tmp_path / "odd.elf", include_dirs=[HEADER_DIR])
    run = run_m4(elf, timeout_s=120)
    assert run.exit_code == 0, run.stderr
    assert _differences(run.stdout) == dict.fromkeys(_differences(run.stdout), 0)

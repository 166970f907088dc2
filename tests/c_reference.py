"""Shared pieces of the C kernel tests: LiteRT BUILTIN_REF tensors of tiny models, and a C driver.

``reference_runs`` trains each small Keras model briefly, exports it to full-int8 TFLite and runs
it in LiteRT with ``OpResolverType.BUILTIN_REF`` keeping every tensor, so a kernel can be fed
LiteRT's own input for one op and compared with LiteRT's output of that op. ``run_c`` compiles a
driver that includes the kernel headers with the host gcc (``-std=c99 -Wall -Wextra -Werror
-pedantic``) and returns what it wrote.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnistedge.export.c.graph import Graph, Op, read_graph
from mnistedge.export.c.layer import LayerCode
from mnistedge.export.c.quant import INT32_MIN, activation_range, conv_per_channel_multipliers

HEADER_DIR = Path(__file__).resolve().parents[1] / "mnistedge" / "export" / "c" / "kernels"
GCC = shutil.which("gcc")
N_IMAGES = 100

Runs = dict[str, tuple[Graph, dict[int, np.ndarray]]]


def reference_runs(
    root: Path, tiny_data: Any, builders: dict[str, Callable[[Any], Any]], n_images: int = N_IMAGES
) -> Runs:
    """{model name: (graph, tensor index -> LiteRT BUILTIN_REF values stacked over n_images)}."""
    pytest.importorskip("tensorflow", reason="converting the test models needs mnistedge[export]")
    keras = pytest.importorskip("keras")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from mnistedge.export import export_artifact

    result = {}
    for name, build in builders.items():
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
        for image in tiny_data.x_test[:n_images]:
            q = np.clip(np.round(image.astype(np.float32) / scale) + zero_point, -128, 127).astype(np.int8)
            interpreter.set_tensor(detail["index"], q.reshape(detail["shape"]))
            interpreter.invoke()
            for i in wanted:
                seen[i].append(interpreter.get_tensor(i).copy())
        result[name] = (graph, {i: np.concatenate(v) for i, v in seen.items()})
    return result


def ops_of(runs: Runs, model: str, name: str) -> list[tuple[Graph, dict[int, np.ndarray], Op]]:
    """(graph, tensor values, op) for every op called ``name`` in ``model``."""
    graph, values = runs[model]
    ops = [op for op in graph.ops if op.name == name]
    assert ops, f"the {model} model has no {name}"
    return [(graph, values, op) for op in ops]


def c_array(ctype: str, name: str, values: np.ndarray) -> str:
    body = ",".join("INT32_MIN" if int(v) == INT32_MIN else str(int(v)) for v in np.ravel(values))
    return f"static const {ctype} {name}[{max(values.size, 1)}] = {{{body or '0'}}};\n"


def run_c(
    tmp_path: Path,
    arrays: str,
    body: str,
    out_type: str,
    out_count: int,
    headers: tuple[str, ...] = ("mnist_int8.h",),
) -> np.ndarray:
    """Compile a driver (arrays + main's body writing ``out`` to stdout), run it, return ``out``."""
    includes = "".join(f'#include "{h}"\n' for h in headers)
    source = (
        "#include <stdio.h>\n"
        + includes
        + arrays
        + f"static {out_type} out[{out_count}];\n"
        + "int main(void) {\n"
        + body
        + f"\n    return fwrite(out, sizeof out[0], {out_count}, stdout) == {out_count} ? 0 : 1;\n}}\n"
    )
    (tmp_path / "driver.c").write_text(source)
    exe = tmp_path / "driver"
    build = [GCC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-I", str(HEADER_DIR)]
    compiled = subprocess.run(
        [*build, str(tmp_path / "driver.c"), "-o", str(exe)], capture_output=True, text=True
    )
    assert compiled.returncode == 0, f"the driver does not compile:\n{compiled.stderr}"
    stdout = subprocess.run([str(exe)], check=True, capture_output=True).stdout
    return np.frombuffer(
        stdout, dtype={"int8_t": np.int8, "int16_t": np.int16, "int32_t": np.int32}[out_type]
    )


def quant_arrays(graph: Graph, op: Op) -> tuple[str, str]:
    """C arrays for the op's per-channel multipliers/shifts and its mnist_quant_params initializer."""
    x, w, y = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]]
    assert set(w.zero_point) == {0}, "int8 weights are symmetric"
    channels = w.shape[w.quantized_dimension or 0]
    scales = np.broadcast_to(np.asarray(w.scale), (channels,))
    multipliers, shifts = conv_per_channel_multipliers(x.scale[0], scales, y.scale[0])
    act_min, act_max = activation_range(op.options["fused_activation"], y.scale[0], y.zero_point[0])
    bias = graph.tensors[op.inputs[2]].data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    arrays = (
        c_array("int32_t", "multiplier", multipliers)
        + c_array("int32_t", "shift", shifts)
        + c_array("int8_t", "filter", w.data)
        + (c_array("int32_t", "bias", bias) if bias is not None else "")
    )
    params = (
        f"    const mnist_quant_params params = {{{-x.zero_point[0]}, {y.zero_point[0]}, "
        f"{act_min}, {act_max}}};\n"
        "    const mnist_per_channel_quant quant = {multiplier, shift};\n"
    )
    return arrays, params + f"    const int32_t *bias_or_null = {'bias' if bias is not None else 'NULL'};\n"


def padding(stride: int, dilation: int, size: int, filter_size: int, pad: str) -> tuple[int, int]:
    """(output size, padding) as TFLite's ComputeOutSize/ComputePaddingHeightWidth."""
    effective = (filter_size - 1) * dilation + 1
    out = (size + stride - 1) // stride if pad == "SAME" else (size - effective + stride) // stride
    return out, max(((out - 1) * stride + effective - size) // 2, 0)


def run_layer(
    tmp_path: Path, code: LayerCode, inputs: list[np.ndarray], out_shape: tuple[int, ...]
) -> np.ndarray:
    """Run one emitted layer on each image: ``inputs`` are the activation inputs stacked over images.

    The layer's function is built exactly as the generator builds it (``in0``, ``in1``, ``out``),
    called once per image, and its outputs returned as an int8 array of ``(images, *out_shape)``.
    """
    images = len(inputs[0])
    per_image = [int(np.prod(x.shape[1:])) for x in inputs]
    out_size = int(np.prod(out_shape))
    params = ", ".join([f"const int8_t *in{i}" for i in range(len(inputs))] + ["int8_t *out"])
    arrays = code.definitions + "".join(c_array("int8_t", f"input{i}", x) for i, x in enumerate(inputs))
    scratch = ""
    if code.scratch_bytes:  # planned by the generator; here a static area of its own
        arrays += f"static int8_t layer_scratch[{code.scratch_bytes}] MNIST_ALIGNED(4);\n"
        scratch = "    int8_t *scratch = layer_scratch;\n"
    arrays += f"static void layer({params}) {{\n{scratch}{code.statements}}}\n"
    args = ", ".join(
        [f"input{i} + (size_t)n * {size}" for i, size in enumerate(per_image)]
        + [f"out + (size_t)n * {out_size}"]
    )
    body = f"    for (int n = 0; n < {images}; ++n) layer({args});"
    headers = tuple(dict.fromkeys(("mnist_int8.h", *code.headers)))
    got = run_c(tmp_path, arrays, body, "int8_t", images * out_size, headers=headers)
    return got.reshape(images, *out_shape)

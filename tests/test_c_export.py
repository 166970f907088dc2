"""`export --format c`: the generated C, bit-exact with LiteRT's reference kernels, on host and Cortex-M4.

Unit tests use the tiny model; integration tests train every arch briefly on the real MNIST and
compare the host build's int8 outputs with LiteRT BUILTIN_REF's on 1,000 test images and on random
int8 inputs, and build the whole bundle (10,000 images on the host, 1,000 under QEMU when the
Cortex-M4 tools are installed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mnistedge.cli import app
from mnistedge.core.manifest import read_manifest
from mnistedge.export.c.plan import Buffer, plan_buffers

GCC = shutil.which("gcc")
M4_TOOLS = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm"))
needs_gcc = pytest.mark.skipif(GCC is None, reason="the generated C is built with the host gcc")
runner = CliRunner()


def test_plan_reuses_memory_only_between_buffers_that_are_never_alive_together() -> None:
    buffers = [
        Buffer("a", 100, 0, 1),  # written by step 0, read by step 1
        Buffer("b", 60, 1, 2),
        Buffer("c", 100, 2, 3),  # may reuse a's bytes
        Buffer("scratch", 8, 1, 1),
    ]
    placements, total = plan_buffers(buffers)
    assert [p.buffer.name for p in placements] == ["a", "b", "c", "scratch"]
    for p in placements:
        assert p.offset % 4 == 0
        for q in placements:
            if p is not q and p.buffer.overlaps_in_time(q.buffer):
                assert p.end <= q.offset or q.end <= p.offset, (p, q)
    assert total == 168  # a/c share [0, 100), b [100, 160), scratch [160, 168)
    with pytest.raises(ValueError, match="make no sense"):
        plan_buffers([Buffer("x", 4, 3, 1)])


def _litert_reference(path: Path, tensors: np.ndarray) -> np.ndarray:
    """LiteRT BUILTIN_REF's int8 outputs for int8 input tensors (N, 28, 28, 1), one image a call."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for tensor in tensors:
        interpreter.set_tensor(inp["index"], tensor.reshape(inp["shape"]))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"]).reshape(-1).copy())
    return np.stack(outputs)


def _host_outputs(path: Path, tensors: np.ndarray, build: Path, name: str = "mnist_model") -> np.ndarray:
    from mnistedge.export.c.codegen import generate_c
    from mnistedge.export.c.graph import read_graph
    from mnistedge.export.c.harness import build_host, run_host, write_sources

    generated = generate_c(read_graph(path), name)
    write_sources(generated, build)
    exe = build_host(generated, build, build / "model_host")
    return run_host(exe, tensors, generated.output_size).outputs


@pytest.fixture(scope="module")
def tiny_int8(tiny_export: Path) -> Path:
    return tiny_export / "model_int8.tflite"


@needs_gcc
def test_header_carries_the_api_and_the_tflite_quantization(tiny_int8: Path, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from mnistedge.export.c.codegen import generate_c
    from mnistedge.export.c.graph import read_graph

    generated = generate_c(read_graph(tiny_int8), "digits")
    inp = Interpreter(model_path=str(tiny_int8)).get_input_details()[0]
    out = Interpreter(model_path=str(tiny_int8)).get_output_details()[0]
    header = generated.header
    assert "int digits_invoke(const int8_t input[784], int8_t output[10]);" in header
    assert f"#define DIGITS_INPUT_ZERO_POINT ({inp['quantization'][1]})" in header
    assert f"#define DIGITS_OUTPUT_ZERO_POINT ({out['quantization'][1]})" in header
    scale = float(header.split("#define DIGITS_INPUT_SCALE ")[1].split("f")[0])
    assert np.float32(scale) == np.float32(inp["quantization"][0])
    assert f"#define DIGITS_ACTIVATION_BYTES {generated.activation_bytes}" in header
    # The plan is printed in the source, and nothing in it uses the heap.
    assert "Activation buffer plan" in generated.source and "malloc" not in generated.source
    assert f"static int8_t digits_activations[{max(generated.activation_bytes, 4)}]" in generated.source


@needs_gcc
def test_tiny_model_is_bit_exact_on_images_and_random_inputs(
    tiny_int8: Path, tiny_data, tmp_path: Path
) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from mnistedge.export.tflm.fidelity import quantize_images

    scale, zero_point = Interpreter(model_path=str(tiny_int8)).get_input_details()[0]["quantization"]
    images = quantize_images(tiny_data.x_test, scale, zero_point)
    fuzz = np.random.default_rng(0).integers(-128, 128, size=(300, 28, 28, 1), dtype=np.int8)
    tensors = np.concatenate([images, fuzz])
    got = _host_outputs(tiny_int8, tensors, tmp_path / "src")
    want = _litert_reference(tiny_int8, tensors)
    assert np.array_equal(got, want), f"{int((got != want).sum())} int8 outputs differ"


@needs_gcc
def test_export_writes_the_folder_and_the_record(tiny_int8: Path, tiny_data, tmp_path: Path) -> None:
    from mnistedge.export.c import export_c

    bundle = export_c(tiny_int8, out_dir=tmp_path, data=tiny_data, name="digits", qemu_images=0)
    folder = tmp_path / "c"
    names = sorted(p.name for p in folder.iterdir())
    assert {"digits.h", "digits.c", "mnist_int8.h", "c.json", "model_int8.tflite"} <= set(names)
    record = json.loads((folder / "c.json").read_text())
    assert record == bundle.record and record["schema_version"] == 1 and record["name"] == "digits"
    assert record["source"]["sha256"] and record["macs"] > 0 and record["layers"]
    assert record["ram"]["activation_bytes"] == bundle.record["ram"]["activation_bytes"] > 0
    fidelity = {c["against"]: c for c in record["fidelity"]}
    assert set(fidelity) == {"reference", "cpu", "xnnpack"}
    assert fidelity["reference"]["outputs_differing"] == 0 and fidelity["reference"]["n"] == len(
        tiny_data.x_test
    )
    assert record["cortex_m4"] == {"skipped": "qemu_images is 0"}
    entry = read_manifest(tmp_path)["artifacts"]["c"]
    assert entry["format"] == "c" and entry["status"] == "ok" and entry["name"] == "digits"
    # The shipped folder compiles on its own, strictly, with a user's main.
    (tmp_path / "main.c").write_text(
        '#include "digits.h"\nint main(void) {\n'
        "    static int8_t x[DIGITS_INPUT_SIZE], y[DIGITS_OUTPUT_SIZE];\n"
        "    const float scales = DIGITS_INPUT_SCALE * DIGITS_OUTPUT_SCALE;\n"
        "    if (scales <= 0.0f || DIGITS_INPUT_ZERO_POINT < -128) return 2;\n"
        "    return digits_invoke(x, y) == 0 && digits_invoke(0, y) == 1 ? 0 : 1;\n}\n"
    )
    exe = tmp_path / "user"
    command = [GCC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", f"-I{folder}",
               str(folder / "digits.c"), str(tmp_path / "main.c"), "-o", str(exe)]  # fmt: skip
    subprocess.run(command, check=True)
    assert subprocess.run([str(exe)], check=False).returncode == 0


def _tanh_model(tmp_path: Path, tiny_data) -> Path:
    keras = pytest.importorskip("keras")
    from mnistedge.export import export_artifact

    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1), name="pixels"), L.Rescaling(1 / 255), L.Flatten(),
        L.Dense(8, activation="tanh", name="squash"), L.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.save(tmp_path / "tanh.keras")
    return export_artifact(
        tmp_path / "tanh.keras",
        "tflite",
        quantize="int8",
        out_dir=tmp_path / "tanh",
        data=tiny_data,
        verify=False,
    ).path


def test_unsupported_op_is_refused_naming_op_and_layer_before_writing(tmp_path: Path, tiny_data) -> None:
    model = _tanh_model(tmp_path, tiny_data)
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "--format", "c", "--model", str(model), "--out", str(out)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "no kernel for TANH" in text and "squash" in text and "Supported ops" in text
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("kind", ["float", "uint8_io"])
def test_float_or_uint8_model_is_refused(
    kind: str, tiny_export: Path, tiny_model_path: Path, tiny_data, tmp_path
):
    if kind == "float":
        model = tiny_export / "model.tflite"
    else:
        from mnistedge.export import export_artifact

        model = export_artifact(tiny_model_path, "tflite", quantize="int8", io_type="uint8",
                                out_dir=tmp_path / "uint8", data=tiny_data, verify=False).path  # fmt: skip
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "--format", "c", "--model", str(model), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "model_int8.tflite" in result.output and "--quantize int8" in " ".join(result.output.split())
    assert not (out / "c").exists()


def test_flags_that_do_not_apply_exit_2(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["export", "--format", "c", "--name", "int", "--out", str(tmp_path)])
    assert bad.exit_code in (1, 2) and "keyword" in bad.output
    qemu = runner.invoke(app, ["export", "--format", "onnx", "--qemu-images", "5", "--out", str(tmp_path)])
    assert qemu.exit_code == 2 and "--qemu-images applies to --format c" in " ".join(qemu.output.split())
    assert not any(tmp_path.iterdir())


# ---- Real MNIST ------------------------------------------------------------------------------------


# Every arch but int8-fragile, whose LayerNorm lowers to ops generated C does not have (its
# refusal is tested below).
C_ARCHS = ["cnn", "cnn-v1", "tiny", "tutorial-sigmoid10", "tutorial-relu10x2", "tutorial-dense128",
           "tutorial-dense512"]  # fmt: skip


@pytest.fixture(scope="module")
def arch_models(tmp_path_factory: pytest.TempPathFactory, mnist) -> dict[str, Path]:
    """Every arch in C_ARCHS, one short epoch on 6,000 real digits, as full-int8 .tflite."""
    keras = pytest.importorskip("keras", reason="training needs mnistedge[train]")
    from mnistedge.export import export_artifact
    from mnistedge.train.archs import build_model

    root = tmp_path_factory.mktemp("c_archs")
    paths = {}
    for arch in C_ARCHS:
        keras.utils.set_random_seed(0)
        model = build_model(arch)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(mnist.x_train[:6000, ..., None].astype(np.float32), mnist.y_train[:6000], epochs=1,
                  batch_size=64, verbose=0)  # fmt: skip
        model.save(root / f"{arch}.keras")
        paths[arch] = export_artifact(
            root / f"{arch}.keras", "tflite", quantize="int8", out_dir=root / arch, data=mnist, verify=False
        ).path
    return paths


@needs_gcc
@pytest.mark.integration
@pytest.mark.parametrize("arch", C_ARCHS)
def test_every_arch_is_bit_exact_with_the_reference_kernels(
    arch: str, arch_models: dict[str, Path], mnist, tmp_path: Path
) -> None:
    """1,000 real test images and 200 random int8 inputs: every output byte equals BUILTIN_REF's."""
    from ai_edge_litert.interpreter import Interpreter

    from mnistedge.export.tflm.fidelity import quantize_images

    path = arch_models[arch]
    scale, zero_point = Interpreter(model_path=str(path)).get_input_details()[0]["quantization"]
    fuzz = np.random.default_rng(1).integers(-128, 128, size=(200, 28, 28, 1), dtype=np.int8)
    tensors = np.concatenate([quantize_images(mnist.x_test[:1000], scale, zero_point), fuzz])
    got = _host_outputs(path, tensors, tmp_path / "src")
    want = _litert_reference(path, tensors)
    assert np.array_equal(got, want), f"{arch}: {int((got != want).sum())} int8 outputs differ"


def test_int8_fragile_arch_is_refused_naming_its_layernorm_ops(tmp_path: Path, tiny_data) -> None:
    """The one registered arch generated C cannot run: the error names the op and Keras layer."""
    pytest.importorskip("tensorflow", reason="exporting needs mnistedge[export]")
    from mnistedge.export import export_artifact
    from mnistedge.export.c.graph import read_graph
    from mnistedge.train import build_model

    build_model("int8-fragile").save(tmp_path / "model.keras")
    path = export_artifact(
        tmp_path / "model.keras", "tflite", quantize="int8", out_dir=tmp_path, data=tiny_data, verify=False
    ).path
    with pytest.raises(ValueError, match=r"Generated C has no kernel for .*stem_norm") as err:
        read_graph(path)
    assert "Supported ops: " in str(err.value)


@needs_gcc
@pytest.mark.integration
def test_real_mnist_bundle_bit_exact_on_host_and_cortex_m4(mnist_model: Path, mnist, tmp_path: Path) -> None:
    """The acceptance run: 10,000 images on the host, 1,000 on the M4 (when its tools are here)."""
    from mnistedge.export.c import export_c

    bundle = export_c(mnist_model, out_dir=tmp_path, data=mnist, qemu_images=1000 if M4_TOOLS else 0)
    record = bundle.record
    print("\n".join(bundle.describe()))
    fidelity = {c["against"]: c for c in record["fidelity"]}
    assert fidelity["reference"]["n"] == 10_000 and fidelity["reference"]["outputs_differing"] == 0
    assert fidelity["xnnpack"]["label_agreement"] >= 0.999
    if not M4_TOOLS:
        pytest.skip("arm-none-eabi-gcc / qemu-system-arm not installed: scripts/system-deps.sh installs them")
    m4 = record["cortex_m4"]
    assert m4["images"] == 1000 and m4["bit_exact_with_host"] and m4["outputs_differing"] == 0
    assert m4["instructions_per_inference"]["mean"] > record["macs"]  # counted, and at least 1 a MAC
    assert 0 < record["ram"]["stack_bytes"] < 4096
    assert record["flash"]["model_bytes"] <= 1.1 * record["flash"]["tflite_bytes"]
    if record["ram"]["tflm_arena_bytes"] is not None:
        assert record["ram"]["total_bytes"] <= 0.7 * record["ram"]["tflm_arena_bytes"]

"""quant-debug: layer mapping, SQNR figures, keep-float resolution, mixed artifacts, CLI errors.

Unit tests build the graphs and activations by hand; the TensorFlow ones use the session's
tiny model and its export (copied: fixtures are read-only); the integration test trains the
int8-fragile preset briefly on the real MNIST and checks the acceptance of issue 15.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mnistedge.core.io import atomic_write_json
from mnistedge.core.manifest import MANIFEST_NAME, read_manifest
from mnistedge.export.debug import DebugReport, KerasLayer, Node, resolve_keep_float, sqnr_db
from mnistedge.export.debug.engines import Activations
from mnistedge.export.debug.layers import assign_layers, resolve_scopes
from mnistedge.export.debug.stats import SQNR_CAP_DB, engine_debug


def test_public_names_exist_and_importing_loads_no_engine() -> None:
    import subprocess
    import sys

    import mnistedge.export.debug as debug

    assert all(hasattr(debug, name) for name in debug.__all__)
    code = (
        "import sys, mnistedge.export.debug; print(sorted({'tensorflow', 'onnxruntime'} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_scopes_resolve_through_tensorflows_unique_suffixes() -> None:
    # Keras layer conv2d traced as scope conv2d_1, layer conv2d_1 as conv2d_1_2: only elimination
    # tells them apart (conv2d_1 fits both layers, conv2d_1_2 only the second).
    scopes = {"conv2d_1", "conv2d_1_2", "dense_1", "not_a_layer"}
    resolved = resolve_scopes(scopes, ["conv2d", "conv2d_1", "dense"])
    assert resolved == {"conv2d_1": "conv2d", "conv2d_1_2": "conv2d_1", "dense_1": "dense"}


def test_layers_come_from_fused_names_and_from_the_order_of_weighted_ops() -> None:
    layers = [KerasLayer(n, k) for n, k in
              [("conv2d", "Conv2D"), ("batch_normalization", "BatchNormalization"), ("re_lu", "ReLU"),
               ("probabilities", "Dense")]]  # fmt: skip
    nodes = [
        # tf2onnx names a BN-folded conv after the BN: the conv comes from weighted-op order
        Node("m_1/batch_normalization_1/batchnorm/mul_1", "Conv", "t0", ()),
        Node("m_1/re_lu_1/Relu;m_1/batch_normalization_1/add", "ADD", "t1", ("t0",)),
        Node("m_1/probabilities_1/MatMul", "Gemm", "t2", ("t1",)),
        Node("Transpose__39", "Transpose", "t3", ("t2",)),
    ]
    named = assign_layers(nodes, layers, "m", ("Conv", "Gemm"))
    assert [n.layers for n in named] == [
        ("conv2d", "batch_normalization"),
        ("batch_normalization", "re_lu"),
        ("probabilities",),
        (),
    ]
    assert [n.owner for n in named] == ["batch_normalization", "re_lu", "probabilities", None]


def test_sqnr_is_orts_formula_and_capped_for_exact_tensors() -> None:
    signal = np.random.default_rng(0).normal(size=1000)
    noise = np.random.default_rng(1).normal(size=1000)
    noise *= np.linalg.norm(signal) / np.linalg.norm(noise) / 10  # 10x smaller norm: 20 dB
    assert sqnr_db(signal, signal + noise) == pytest.approx(20.0)
    assert sqnr_db(signal, signal) == SQNR_CAP_DB


def _acts(noise: dict[str, float]) -> Activations:
    """A chain x -> a -> b -> c whose int8 values carry ``noise[tensor]`` relative noise (seeded);
    c copies b, as an identity op that adds no error."""
    rng = np.random.default_rng(0)
    signal = {t: rng.normal(size=4000) for t in ("x", "a", "b")}
    quantized = {t: v + noise.get(t, 0.0) * np.linalg.norm(v) / np.sqrt(v.size) * rng.normal(size=v.size)
                 for t, v in signal.items()}  # fmt: skip
    signal["c"], quantized["c"] = signal["b"], quantized["b"]
    nodes = (
        Node("na", "CONV_2D", "a", ("x",), ("conv",)),
        Node("nb", "MUL", "b", ("a",), ("norm",)),
        Node("nc", "ADD", "c", ("b",), ("norm", "relu")),  # relu fused into norm's last op
    )
    grids = {t: (0.01, 0, -128, 127) for t in signal}
    return Activations(nodes, signal, quantized, grids)


def test_layer_figures_rank_the_layer_that_adds_the_noise_first() -> None:
    keras = [KerasLayer("conv", "Conv2D"), KerasLayer("norm", "LayerNormalization"),
             KerasLayer("relu", "ReLU")]  # fmt: skip
    debug = engine_debug("tflite", "model_int8.tflite", _acts({"a": 0.01, "b": 0.3}), keras)
    conv, norm, relu = debug.layers
    assert conv.sqnr_db == pytest.approx(40.0, abs=0.5) and conv.input_sqnr_db == SQNR_CAP_DB
    assert norm.nodes == ("nb", "nc") and norm.owned == ("nb",)  # nc's output is relu's
    # norm's output has 0.3 relative noise (10.5 dB); 0.01 of it came in (40 dB): its own share
    # is 10·log10 of the difference of the noise powers, almost all of it.
    assert norm.sqnr_db == pytest.approx(10.46, abs=0.3)
    expected_own = -10 * np.log10(10 ** (-norm.sqnr_db / 10) - 10 ** (-conv.sqnr_db / 10))
    assert norm.own_sqnr_db == pytest.approx(expected_own)
    assert relu.own_sqnr_db is None and relu.sqnr_db == norm.sqnr_db  # an identity adds nothing
    assert debug.worst(2) == ["norm", "conv"]
    assert json.loads(json.dumps(debug.to_dict()))["worst"] == ["norm", "conv"]


def _report(tmp_path: Path) -> DebugReport:
    keras = (
        KerasLayer("conv", "Conv2D"),
        KerasLayer("norm", "LayerNormalization"),
        KerasLayer("relu", "ReLU"),
    )
    debug = engine_debug("tflite", "model_int8.tflite", _acts({"a": 0.01, "b": 0.3}), keras)
    return DebugReport(str(tmp_path / "model.keras"), str(tmp_path), 4000, keras, (debug,), ("onnx",))


def test_keep_float_maps_layers_worst_k_and_engine_node_names(tmp_path: Path) -> None:
    report = _report(tmp_path)
    assert resolve_keep_float(report, ["norm"])["tflite"].nodes == ("nb", "nc")
    worst = resolve_keep_float(report, ["worst:1"])["tflite"]
    assert (worst.layers, worst.nodes) == (("norm",), ("nb", "nc"))
    by_node = resolve_keep_float(report, ["na"])["tflite"]
    assert (by_node.layers, by_node.nodes) == ((), ("na",))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no_such_layer", "--keep-float 'no_such_layer' is neither a Keras layer of model.keras"),
        ("worst:0", "--keep-float worst:0: K must be >= 1"),
    ],
)
def test_keep_float_refuses_what_names_nothing(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        resolve_keep_float(_report(tmp_path), [value])
    assert message in str(excinfo.value)
    if value == "no_such_layer":
        assert "Keras layers: conv, norm, relu." in str(excinfo.value)


# --- with TensorFlow: the session's tiny model ---------------------------------------------


@pytest.fixture
def tiny_int8(tmp_path: Path, tiny_export: Path, tiny_model_path: Path) -> tuple[Path, Path]:
    """A writable copy of the tiny export (and its model) for tests that add files to it."""
    pytest.importorskip("tensorflow", reason="quant-debug needs mnistedge[export]")
    out = tmp_path / "export"
    shutil.copytree(tiny_export, out)
    model = tmp_path / "model.keras"
    shutil.copy(tiny_model_path, model)
    return model, out


def test_tiny_model_debugs_both_engines_and_exports_mixed_artifacts(tiny_int8, tiny_data) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from mnistedge.export.debug import debug_quantization, export_mixed
    from mnistedge.runtime import load

    model, out = tiny_int8
    report = debug_quantization(model, out, data=tiny_data, images=50)
    assert [e.engine for e in report.engines] == ["tflite", "onnx"] and report.missing == ()
    # Keras numbers default names per process (dense, dense_1, ...): look the layers up by kind
    kinds = {layer.kind: layer.name for layer in report.keras_layers}
    for engine in report.engines:
        for kind in ("Conv2D", "Dense"):
            stats = engine.layer(kinds[kind])
            assert stats is not None and stats.nodes, f"{engine.engine}: the {kind} layer maps to no node"
        assert all(-10 < n.sqnr_db <= SQNR_CAP_DB and n.scale > 0 for n in engine.nodes)
    conv = kinds["Conv2D"]
    artifacts, plan = export_mixed(model, out, report, [conv], data=tiny_data, verify=False)
    assert sorted(a.file for a in artifacts) == ["model_int8_mixed.onnx", "model_int8_mixed.tflite"]
    entries = read_manifest(out)["artifacts"]
    for artifact in artifacts:
        recorded = entries[artifact.file]["converter"]["keep_float"]
        assert recorded["layers"] == [conv] and recorded["nodes"] == list(plan[artifact.format].nodes)
        probabilities = load(out / artifact.file).predict_proba(tiny_data.x_test[:8])
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.02)
    interpreter = Interpreter(model_path=str(out / "model_int8_mixed.tflite"))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert {"DEQUANTIZE", "QUANTIZE"} <= ops  # the kept conv runs in float between them
    qdq = __import__("onnx").load(str(out / "model_int8_mixed.onnx"))
    conv_inputs = [i for n in qdq.graph.node if n.op_type == "Conv" for i in n.input]
    assert not any(i.endswith("_DequantizeLinear_Output") for i in conv_inputs)


def test_cli_float_only_export_says_which_artifact_to_export(tiny_int8, tiny_npz) -> None:
    from mnistedge.cli import app

    model, out = tiny_int8
    manifest = read_manifest(out)
    for name in list(manifest["artifacts"]):
        if manifest["artifacts"][name]["quantization"] != "none":
            manifest["artifacts"].pop(name)
            (out / name).unlink(missing_ok=True)
    atomic_write_json(out / MANIFEST_NAME, manifest)
    args = ["quant-debug", "--model", str(model), "--out", str(out), "--source", str(tiny_npz)]
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 1
    assert "No int8 artifact in" in result.output
    assert f"mnistedge export --format tflite --quantize int8 --model {model} --out {out}" in result.output
    float_file = ["quant-debug", "--model", str(out / "model.tflite"), "--out", str(out)]
    result = CliRunner().invoke(app, float_file, terminal_width=200)
    assert result.exit_code == 1
    assert "is a float artifact" in result.output and "--quantize int8" in result.output


def test_cli_unknown_keep_float_lists_the_layers_and_writes_nothing_mixed(tiny_int8, tiny_npz) -> None:
    from mnistedge.cli import app

    model, out = tiny_int8
    args = ["quant-debug", "--model", str(model), "--out", str(out), "--source", str(tiny_npz),
            "--images", "40", "--no-plot", "--keep-float", "nope"]  # fmt: skip
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 2, result.output
    assert "'nope' is neither a Keras layer" in result.output
    assert re.search(r"Keras layers: rescaling\w*, conv2d\w*, ", result.output), result.output
    assert "tflite dB" not in result.output  # refused before the debugger ran
    assert not list(out.glob("model_int8_mixed.*"))


# --- the real MNIST: the fragile example (acceptance of issue 15) ---------------------------


@pytest.mark.integration
def test_int8_fragile_model_debugger_picks_recover_most_of_the_loss(tmp_path: Path, mnist) -> None:
    """Build int8-fragile from seed 0 (2 epochs on 12k images, ~10 s), export int8, debug, keep 2 float.

    Measured so (quiet 2-core host): Keras 93.57 %, int8 -1.17 pp (TFLite) / -1.32 pp (ONNX), both
    engines pick stem_norm then stem_conv, and keeping those two float recovers 100 % / 99 %.
    """
    keras = pytest.importorskip("keras", reason="needs mnistedge[train,export]")
    from mnistedge.export import Thresholds, export_artifact
    from mnistedge.export.debug import debug_quantization, export_mixed
    from mnistedge.train import build_model

    keras.utils.set_random_seed(0)
    model = build_model("int8-fragile")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    n = 12_000
    model.fit(
        mnist.x_train[:n, ..., None].astype(np.float32),
        mnist.y_train[:n],
        epochs=2,
        batch_size=128,
        verbose=0,
    )
    path = tmp_path / "model.keras"
    model.save(path)
    out = tmp_path / "export"
    wide = Thresholds(min_agreement=0.9, max_accuracy_drop_pp=5.0)  # int8 is meant to hurt here
    int8 = {f: export_artifact(path, f, quantize="int8", out_dir=out, data=mnist, thresholds=wide).fidelity
            for f in ("tflite", "onnx")}  # fmt: skip
    for fmt, fidelity in int8.items():
        assert fidelity.accuracy_delta_pp <= -0.3, (
            f"{fmt} int8 lost only {fidelity.accuracy_delta_pp:+.2f} pp"
        )

    report = debug_quantization(path, out, data=mnist, images=300)
    for engine in report.engines:
        assert engine.worst(1) == ["stem_norm"], engine.to_dict()["worst"]
    mixed, plan = export_mixed(path, out, report, ["worst:2"], data=mnist)
    for artifact in mixed:
        base = int8[artifact.format]
        recovered = (artifact.fidelity.accuracy - base.accuracy) / (base.reference_accuracy - base.accuracy)
        assert len(plan[artifact.format].layers) <= 2
        assert recovered >= 0.7, f"{artifact.file}: {recovered:.0%} of the int8 loss recovered"
        assert artifact.status.value == "ok"  # and it passes the default int8 thresholds

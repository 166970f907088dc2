"""Every format x quantization on the tiny model, each compared with the Keras model it came from."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mnistedge.core.io import sha256_file
from mnistedge.export import (
    EXPORTERS,
    FidelityError,
    Quantization,
    Status,
    Thresholds,
    export_all,
    export_artifact,
    read_manifest,
)

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

CASES = [(fmt, q) for fmt, exporter in EXPORTERS.items() for q in exporter.quantizations]
# The tiny fixture model is barely trained (near-uniform probabilities), so quantization flips
# more of its close calls than it would on a real model; float formats keep the real bar.
TINY_THRESHOLDS = {
    Quantization.NONE: Thresholds(min_agreement=1.0, max_abs_prob_diff=1e-5),
    Quantization.FP16: Thresholds(min_agreement=0.98, max_abs_prob_diff=1e-3),
    Quantization.DYNAMIC: Thresholds(min_agreement=0.9, max_accuracy_drop_pp=5.0),
    Quantization.INT8: Thresholds(min_agreement=0.85, max_accuracy_drop_pp=6.0),
    Quantization.INT16X8: Thresholds(min_agreement=0.98, max_accuracy_drop_pp=1.0),
}


@pytest.fixture(scope="module")
def keras_probabilities(tiny_model_path: Path, tiny_data) -> np.ndarray:
    import keras

    model = keras.models.load_model(tiny_model_path)
    return model.predict(tiny_data.x_test[..., None].astype(np.float32), verbose=0)


def _engine_probabilities(path: Path, images: np.ndarray) -> np.ndarray:
    if path.is_dir():  # SavedModel: TensorFlow's own loader
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # keep a reference: it owns the variables
        return loaded.serve(images[..., None].astype(np.float32))["probabilities"].numpy()
    from mnistedge.runtime import load

    return load(path).predict_proba(images)


@pytest.mark.parametrize(("fmt", "quantization"), CASES, ids=[f"{f}-{q.value}" for f, q in CASES])
def test_artifact_matches_keras_and_manifest(
    fmt: str,
    quantization: Quantization,
    tiny_model_path: Path,
    tiny_data,
    keras_probabilities,
    tmp_path: Path,
) -> None:
    artifact = export_artifact(
        tiny_model_path, fmt, quantize=quantization, out_dir=tmp_path, data=tiny_data,
        calibration_samples=200, thresholds=TINY_THRESHOLDS[quantization],
    )  # fmt: skip
    assert artifact.status is Status.OK and artifact.path.exists()
    assert artifact.path.name == EXPORTERS[fmt].filename(quantization, {})

    # The fidelity figures agree with an independent run of the artifact against Keras.
    probabilities = _engine_probabilities(artifact.path, tiny_data.x_test)
    agreement = np.mean(probabilities.argmax(1) == keras_probabilities.argmax(1))
    assert artifact.fidelity.agreement == pytest.approx(agreement)
    assert artifact.fidelity.n == len(tiny_data.y_test)
    assert artifact.fidelity.reference_accuracy == pytest.approx(
        np.mean(keras_probabilities.argmax(1) == tiny_data.y_test)
    )
    if quantization is Quantization.NONE:
        np.testing.assert_allclose(probabilities, keras_probabilities, atol=1e-5)
    else:
        assert agreement >= TINY_THRESHOLDS[quantization].min_agreement

    entry = read_manifest(tmp_path)["artifacts"][artifact.file]
    assert entry == json.loads(json.dumps(artifact.to_dict()))
    assert entry["format"] == fmt and entry["quantization"] == quantization.value
    assert entry["source_model"]["sha256"] == sha256_file(tiny_model_path)
    assert entry["preprocessing"]["normalization"] == "in_graph"
    assert entry["size_bytes"] > 0 and len(entry["sha256"]) == 64
    if artifact.path.is_file():
        assert entry["sha256"] == sha256_file(artifact.path)
        assert entry["size_bytes"] == artifact.path.stat().st_size
    assert (entry["calibration"] is not None) == quantization.calibrated
    assert entry["converter"]["versions"]["tensorflow"] != "not installed"
    assert entry["input"]["shape"] == [-1, 28, 28, 1] and entry["output"]["shape"] == [-1, 10]


def _int8_data(tiny_data):
    """tiny_data with some pure-black and pure-white pixels, as real MNIST has."""
    x_train = tiny_data.x_train.copy()
    x_train[:, 0, 0], x_train[:, 27, 27] = 0, 255
    return dataclasses.replace(tiny_data, x_train=x_train)


@pytest.mark.parametrize("io_type", ["int8", "uint8", "float32"])
def test_int8_tflite_is_integer_between_input_and_output(
    io_type: str, tiny_model_path: Path, tiny_data, tmp_path: Path
) -> None:
    from ai_edge_litert.interpreter import Interpreter

    artifact = export_artifact(
        tiny_model_path, "tflite", quantize="int8", io_type=io_type, out_dir=tmp_path,
        data=_int8_data(tiny_data), calibration_samples=100, verify=False,
    )  # fmt: skip
    assert artifact.status is Status.UNVERIFIED and artifact.fidelity is None
    interpreter = Interpreter(model_path=str(artifact.path))
    io_indices = {d["index"] for d in (*interpreter.get_input_details(), *interpreter.get_output_details())}
    inner = [t for t in interpreter.get_tensor_details() if t["index"] not in io_indices]
    floats = [(t["name"], t["dtype"]) for t in inner if not np.issubdtype(t["dtype"], np.integer)]
    assert inner and not floats
    # Calibrated on 0..255 pixels: int8 pixel = p - 128 exactly (scale 1); uint8 pixel = p.
    expected_input = {
        "int8": ("int8", 1.0, -128),
        "uint8": ("uint8", 1.0, 0),
        "float32": ("float32", None, None),
    }
    spec = artifact.input
    assert (spec.dtype, spec.scale, spec.zero_point) == expected_input[io_type]
    assert artifact.output.dtype == io_type


def test_int8_tflite_is_under_a_third_of_float(tiny_data, tmp_path: Path) -> None:
    """On a model the size of the default convnet (weights dominate the file)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1), name="pixels"), keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.save(tmp_path / "model.keras")
    common = {"out_dir": tmp_path / "export", "verify": False, "calibration_samples": 50}
    fp32 = export_artifact(tmp_path / "model.keras", "tflite", data=tiny_data, **common)
    int8 = export_artifact(tmp_path / "model.keras", "tflite", quantize="int8", data=tiny_data, **common)
    assert model.count_params() > 30_000
    assert int8.size_bytes <= 0.30 * fp32.size_bytes, (int8.size_bytes, fp32.size_bytes)


def test_export_all_writes_nine_and_merges_the_manifest(
    tiny_model_path: Path, tiny_data, tmp_path: Path
) -> None:
    export_artifact(tiny_model_path, "saved_model", out_dir=tmp_path, data=tiny_data)
    artifacts = export_all(
        tiny_model_path, out_dir=tmp_path, data=tiny_data, calibration_samples=100,
        calibration_method="entropy", thresholds={q.value: t for q, t in TINY_THRESHOLDS.items()},
    )  # fmt: skip
    files = [a.file for a in artifacts]
    assert files == [
        "model.tflite", "model_fp16.tflite", "model_dynamic.tflite", "model_int8.tflite",
        "model_int16x8.tflite", "model.onnx", "model_fp16.onnx", "model_dynamic.onnx", "model_int8.onnx",
    ]  # fmt: skip
    manifest = read_manifest(tmp_path)
    assert manifest["schema_version"] == 1
    assert set(manifest["artifacts"]) == {*files, "saved_model"}  # the earlier entry is kept
    assert all(manifest["artifacts"][f]["status"] == "ok" for f in files)
    calibrated = ("model_int8.tflite", "model_int16x8.tflite", "model_int8.onnx")
    methods = {f: manifest["artifacts"][f]["calibration"]["method"] for f in calibrated}
    assert methods == {
        "model_int8.tflite": "minmax",
        "model_int16x8.tflite": "minmax",
        "model_int8.onnx": "entropy",
    }
    assert manifest["artifacts"]["model.onnx"]["converter"]["opset"] == 17


def test_fidelity_miss_keeps_the_file_marked_failed(tiny_model_path: Path, tiny_data, tmp_path: Path) -> None:
    impossible = Thresholds(min_agreement=1.0, max_abs_prob_diff=0.0)
    with pytest.raises(FidelityError, match=r"model_int8.tflite: .*max\|Δp\|") as caught:
        export_artifact(
            tiny_model_path, "tflite", quantize="int8", out_dir=tmp_path, data=tiny_data,
            calibration_samples=100, thresholds=impossible,
        )  # fmt: skip
    fidelity = caught.value.fidelity
    assert not fidelity.passed and fidelity.max_abs_prob_diff > 0
    entry = read_manifest(tmp_path)["artifacts"]["model_int8.tflite"]
    assert entry["status"] == "failed" and entry["fidelity"]["failures"] == list(fidelity.failures)
    assert (tmp_path / "model_int8.tflite").is_file()


def test_int8_onnx_weights_are_seven_bit_for_cpus_without_vnni(artifacts: dict) -> None:
    """reduce_range: AVX2-only CPUs saturate int16 pair sums with full-range int8 weights."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    path = artifacts["model_int8.onnx"]
    graph = onnx.load(str(path)).graph
    weights = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    conv_weights = [w for w in weights if w.ndim == 4]
    # ORT's reduced range for symmetric int8 weights is [-64, 64]; full range would reach +-127.
    assert conv_weights and all(int(np.abs(w.astype(np.int16)).max()) <= 64 for w in conv_weights)
    quantizer = read_manifest(path.parent)["artifacts"][path.name]["converter"]["quantizer"]
    assert quantizer["reduce_range"] is True and quantizer["weight_type"] == "QInt8"


def test_int16x8_tflite_has_int16_activations_float_io_and_no_xnnpack(artifacts: dict) -> None:
    """16x8: int16 activations, int8 weights, float32 I/O; XNNPACK takes none of it (measured)."""
    from ai_edge_litert.interpreter import Interpreter

    from mnistedge.runtime import load

    path = artifacts["model_int16x8.tflite"]
    interpreter = Interpreter(model_path=str(path))
    dtypes = {np.dtype(d["dtype"]) for d in interpreter.get_tensor_details()}
    assert {np.dtype(np.int16), np.dtype(np.int8)} <= dtypes  # activations, weights
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    assert interpreter.get_output_details()[0]["dtype"] == np.float32
    classifier = load(path)  # provider "auto": XNNPACK is asked for, and leaves every op to LiteRT
    assert classifier.backend.provider == "cpu"
    assert classifier.info.quantization == "int16x8"
    assert {"QUANTIZE", "DEQUANTIZE", "CONV_2D", "FULLY_CONNECTED"} <= set(classifier.backend.op_names)
    from mnistedge.runtime._tflite_check import verify

    assert verify(path.read_bytes())["quantization"] == "int16x8"  # the file alone says so too


def test_onnx_fp16_is_a_float16_graph_with_float32_io(artifacts: dict) -> None:
    onnx = pytest.importorskip("onnx")
    from mnistedge.runtime._onnx_check import verify

    path = artifacts["model_fp16.onnx"]
    graph = onnx.load(str(path)).graph
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    assert {t.data_type for t in graph.initializer if t.data_type in floats} == {onnx.TensorProto.FLOAT16}
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [n.op_type for n in graph.node].count("Cast") >= 2  # float32 -> float16 in, back out
    assert verify(path.read_bytes())["quantization"] == "fp16"
    quantizer = read_manifest(path.parent)["artifacts"][path.name]["converter"]["quantizer"]
    assert quantizer == {
        "name": "onnxruntime.transformers.float16.convert_float_to_float16",
        "keep_io_types": True,
    }


def test_onnx_dynamic_quantizes_conv_and_matmul_to_integer_ops(artifacts: dict) -> None:
    onnx = pytest.importorskip("onnx")
    from mnistedge.runtime._onnx_check import verify

    path = artifacts["model_dynamic.onnx"]
    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    assert "Conv" not in ops and "MatMul" not in ops  # every weight op became an integer op
    assert {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"} <= set(ops)
    weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.UINT8]
    assert weights and not any(
        t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 4 for t in graph.initializer
    )
    assert verify(path.read_bytes())["quantization"] == "dynamic"
    quantizer = read_manifest(path.parent)["artifacts"][path.name]["converter"]["quantizer"]
    assert quantizer["name"] == "onnxruntime.quantization.quantize_dynamic"
    assert (quantizer["weight_type"], quantizer["per_channel"], quantizer["reduce_range"]) == (
        "QUInt8",
        False,
        False,
    )

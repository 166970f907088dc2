"""mnistedge.runtime.load over every artifact kind: equal to the raw engines and to Keras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from runtime_fixtures import BATCH_DEPENDENT, EDGE_FILES, linear_reference, raw_engine_proba

import mnistedge.runtime as runtime
from mnistedge.runtime import RuntimeInfo, TensorSpec, load

# Keras vs artifact: max |dp| for float formats, label agreement for quantized ones.
KERAS_ATOL = {"none": 1e-5, "fp16": 2e-3}
MIN_AGREEMENT = {"dynamic": 0.95, "int8": 0.9, "int16x8": 0.98}
EXPECTED = {  # file -> (format, quantization, engine, input dtype)
    "model.tflite": ("tflite", "none", "litert", "float32"),
    "model_fp16.tflite": ("tflite", "fp16", "litert", "float32"),
    "model_dynamic.tflite": ("tflite", "dynamic", "litert", "float32"),
    "model_int8.tflite": ("tflite", "int8", "litert", "int8"),
    "model_int16x8.tflite": ("tflite", "int16x8", "litert", "float32"),
    "model.onnx": ("onnx", "none", "onnxruntime", "float32"),
    "model_fp16.onnx": ("onnx", "fp16", "onnxruntime", "float32"),
    "model_dynamic.onnx": ("onnx", "dynamic", "onnxruntime", "float32"),
    "model_int8.onnx": ("onnx", "int8", "onnxruntime", "float32"),
}


def test_public_surface_is_what_we_mean() -> None:
    assert sorted(runtime.__all__) == sorted(
        ["Classifier", "RuntimeInfo", "TensorSpec", "available_providers", "load"]
    )


@pytest.mark.parametrize("name", EDGE_FILES)
def test_runtime_equals_the_raw_engine(name: str, artifacts, tiny_data) -> None:
    clf = load(artifacts[name])
    expected = raw_engine_proba(artifacts[name], tiny_data.x_test)
    proba = clf.predict_proba(tiny_data.x_test)
    assert proba.dtype == np.float32 and proba.shape == (len(tiny_data.x_test), 10)
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-6)
    labels = clf.predict(tiny_data.x_test)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, expected.argmax(axis=1))


@pytest.mark.parametrize("name", EDGE_FILES)
def test_runtime_follows_keras(name: str, artifacts, tiny_data, keras_proba) -> None:
    clf = load(artifacts[name])
    proba = clf.predict_proba(tiny_data.x_test)
    quantization = clf.info.quantization
    if quantization in KERAS_ATOL:
        np.testing.assert_allclose(proba, keras_proba, atol=KERAS_ATOL[quantization])
    else:
        agreement = (proba.argmax(1) == keras_proba.argmax(1)).mean()
        assert agreement >= MIN_AGREEMENT[quantization], agreement
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=0.05)


@pytest.mark.parametrize("name", EDGE_FILES)
def test_info_says_what_was_loaded(name: str, artifacts) -> None:
    from mnistedge.core.io import sha256_file

    path = artifacts[name]
    info = load(path).info
    fmt, quantization, engine, dtype = EXPECTED[name]
    assert isinstance(info, RuntimeInfo) and isinstance(info.input, TensorSpec)
    assert (info.format, info.quantization, info.engine, info.input.dtype) == (
        fmt, quantization, engine, dtype,
    )  # fmt: skip
    assert info.manifest_verified is True
    assert info.sha256 == sha256_file(path) and info.size_bytes == path.stat().st_size
    assert info.input.shape == (-1, 28, 28, 1) and info.output.shape == (-1, 10)
    assert info.provider in ("xnnpack", "cpu", "CPUExecutionProvider")
    assert info.input.quantized == (dtype == "int8")
    d = info.to_dict()
    assert d["input"]["shape"] == [-1, 28, 28, 1] and d["path"] == str(path)


@pytest.mark.parametrize("name", EDGE_FILES)
def test_any_batch_size_in_any_order(name: str, artifacts, tiny_data) -> None:
    clf = load(artifacts[name])
    x = tiny_data.x_test
    sizes = (1, 7, 1, 3, 16, 1, 12)  # resizes up, down and back
    whole = clf.predict_proba(x[: sum(sizes)])
    # A batch-dependent model (one activation scale per batch) moves a little with its batch mates.
    atol = BATCH_DEPENDENT.get(name, 1e-6)
    start = 0
    for n in sizes:
        part = clf.predict_proba(x[start : start + n])
        np.testing.assert_allclose(part, whole[start : start + n], atol=atol)
        np.testing.assert_array_equal(part.argmax(1), whole[start : start + n].argmax(1))
        start += n


@pytest.mark.parametrize("name", EDGE_FILES)
def test_every_accepted_layout_gives_the_same_answer(name: str, artifacts, tiny_data) -> None:
    clf = load(artifacts[name])
    one = tiny_data.x_test[3]
    expected = clf.predict_proba(one[None])
    layouts = [one, one[None], one[None, :, :, None], one.reshape(1, 784),
               np.asfortranarray(one)[None], np.repeat(one[None], 2, axis=0)[::2]]  # fmt: skip
    for images in layouts:
        np.testing.assert_array_equal(clf.predict_proba(images), expected)
    assert clf.predict(one).shape == (1,)


@pytest.mark.parametrize("name", EDGE_FILES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_floats_in_unit_range_equal_uint8_pixels(name: str, dtype, artifacts, tiny_data) -> None:
    clf = load(artifacts[name])
    x = tiny_data.x_test[:50]
    from_floats = clf.predict_proba((x / 255.0).astype(dtype))
    atol = 2e-3 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(from_floats, clf.predict_proba(x), atol=atol)


def test_onnx_built_without_tensorflow_matches_numpy(linear_onnx: Path, tiny_data) -> None:
    clf = load(linear_onnx)
    expected = linear_reference(tiny_data.x_test)
    np.testing.assert_allclose(clf.predict_proba(tiny_data.x_test), expected, atol=1e-6)
    assert clf.info.manifest_verified is False and clf.info.quantization == "none"
    assert repr(clf).startswith("Classifier(")


def test_backend_gives_bench_the_raw_engine(artifacts, tiny_data) -> None:
    """The documented raw path: prepare() then the engine itself, equal to predict_proba."""
    raw = tiny_data.x_test[:4].reshape(-1, 28, 28, 1).astype(np.float32)
    lite = load(artifacts["model_int8.tflite"]).backend
    tensor = lite.prepare(raw)
    assert tensor.dtype == np.int8
    lite.resize(len(tensor))
    lite.interpreter.set_tensor(lite.input_index, tensor)
    lite.interpreter.invoke()
    out = lite.output_codec.to_proba(lite.interpreter.get_tensor(lite.output_index))
    np.testing.assert_array_equal(out, lite.run(raw))
    ort = load(artifacts["model.onnx"]).backend
    out = ort.session.run(ort.output_names, {ort.input_name: ort.prepare(raw)})[0]
    np.testing.assert_array_equal(out, ort.run(raw))

"""Providers: what is available, what "auto" picks, fallback with a warning or strict errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mnistedge.runtime import available_providers, load


def test_available_providers_lists_each_engine() -> None:
    found = available_providers()
    assert set(found) == {"onnxruntime", "litert"}
    assert found["litert"] == ["xnnpack", "cpu", "reference"]
    assert found["onnxruntime"][-1] == "CPUExecutionProvider"
    assert "AzureExecutionProvider" not in found["onnxruntime"]


@pytest.mark.parametrize("name", ["model.tflite", "model.onnx"])
def test_unknown_provider_names_list_the_valid_ones(name: str, artifacts) -> None:
    with pytest.raises(ValueError, match=r"unknown provider 'gpu-please'; valid: auto, tensorrt, cuda"):
        load(artifacts[name], provider="gpu-please")


@pytest.mark.parametrize(
    ("name", "provider", "used"),
    [("model.onnx", "coreml", "CPUExecutionProvider"), ("model.tflite", "cuda", "xnnpack")],
)
def test_missing_provider_falls_back_with_a_warning_or_raises_when_strict(
    name: str, provider: str, used: str, artifacts
) -> None:
    with pytest.warns(RuntimeWarning, match=f"provider '{provider}' is not available.*falling back"):
        clf = load(artifacts[name], provider=provider)
    assert clf.info.provider == used
    with pytest.raises(RuntimeError, match=f"provider '{provider}' is not available.*strict=False"):
        load(artifacts[name], provider=provider, strict=True)


def test_info_reports_what_the_session_actually_got(artifacts, monkeypatch) -> None:
    """ORT claims CUDA is available, the session cannot start it: info says CPU, with a warning."""
    import onnxruntime

    fake = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: fake)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = load(artifacts["model.onnx"], isolate=False)
    assert clf.info.provider == "CPUExecutionProvider"
    assert any("did not start provider 'CUDAExecutionProvider'" in str(w.message) for w in caught)
    with pytest.raises(RuntimeError, match="did not start provider"):
        load(artifacts["model.onnx"], provider="cuda", strict=True, isolate=False)


def test_litert_cpu_kernels_and_xnnpack_agree(artifacts, tiny_data) -> None:
    xnn = load(artifacts["model.tflite"], provider="xnnpack", threads=2)
    ref = load(artifacts["model.tflite"], provider="cpu")
    assert (xnn.info.provider, xnn.info.threads, ref.info.provider) == ("xnnpack", 2, "cpu")
    np.testing.assert_allclose(
        xnn.predict_proba(tiny_data.x_test), ref.predict_proba(tiny_data.x_test), atol=1e-5
    )


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_bad_thread_counts(threads, artifacts) -> None:
    for name in ("model.tflite", "model.onnx"):
        with pytest.raises(ValueError, match="threads must be a positive int or None"):
            load(artifacts[name], threads=threads)


def test_litert_reference_kernels_are_a_provider(artifacts, tiny_data) -> None:
    """ "reference" runs TFLite's reference kernels (BUILTIN_REF): the arithmetic TFLM follows."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = artifacts["model_int8.tflite"]
    ref = load(path, provider="reference", isolate=False)
    assert ref.info.provider == "reference"
    raw = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    raw.allocate_tensors()
    inp, out = raw.get_input_details()[0], raw.get_output_details()[0]
    (scale, zero), (out_scale, out_zero) = inp["quantization"], out["quantization"]
    expected = []
    for image in tiny_data.x_test[:50]:
        q = np.clip(np.round(image.astype(np.float32) / scale) + zero, -128, 127).astype(np.int8)
        raw.set_tensor(inp["index"], q.reshape(inp["shape"]))
        raw.invoke()
        expected.append((raw.get_tensor(out["index"])[0].astype(np.float32) - out_zero) * out_scale)
    np.testing.assert_array_equal(ref.predict_proba(tiny_data.x_test[:50]), np.array(expected, np.float32))

"""Export pieces that need no converter: fidelity figures, thresholds, manifest, validation, API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mnistedge.export as export
from mnistedge.core.env import capture_env
from mnistedge.core.io import digest
from mnistedge.core.manifest import update_manifest
from mnistedge.export import (
    EXPORTERS,
    FidelityError,
    Quantization,
    Thresholds,
    export_all,
    export_artifact,
    read_manifest,
)
from mnistedge.export.calibration import CalibrationConfig, calibration_set
from mnistedge.export.fidelity import compute_fidelity


def _onehot(labels: list[int], confidence: float = 0.91) -> np.ndarray:
    probs = np.full((len(labels), 10), (1 - confidence) / 9, dtype=np.float32)
    probs[np.arange(len(labels)), labels] = confidence
    return probs


def test_public_names() -> None:
    assert set(export.__all__) >= {
        "EXPORTERS", "Artifact", "Fidelity", "FidelityError", "export_artifact", "export_all"
    }  # fmt: skip
    assert set(EXPORTERS) == {"tflite", "onnx", "saved_model"}


def test_importing_export_stays_light() -> None:
    code = (
        "import sys, mnistedge.export, mnistedge.export._cli; "
        "print('tensorflow' in sys.modules, 'onnx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_fidelity_figures_against_hand_computed_reference() -> None:
    labels = np.array([0, 1, 2, 3])
    reference = _onehot([0, 1, 2, 9])  # Keras: 3 of 4 right
    artifact = _onehot([0, 1, 5, 9])  # flips image 2, which Keras got right
    artifact[0, 0] -= 0.01
    fidelity = compute_fidelity(artifact, reference, labels, Thresholds(min_agreement=0.5))
    assert fidelity.reference_accuracy == 0.75
    assert fidelity.accuracy == 0.5
    assert fidelity.accuracy_delta_pp == pytest.approx(-25.0)
    assert fidelity.agreement == 0.75
    assert fidelity.flipped_indices == (2,) and fidelity.flipped_count == 1
    assert fidelity.max_abs_prob_diff == pytest.approx(0.91 - 0.01, abs=1e-6)  # image 2, classes 2 and 5
    assert fidelity.n == 4 and fidelity.passed
    json.dumps(fidelity.to_dict(), allow_nan=False)  # manifest-ready


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        (Thresholds(min_agreement=1.0), "agreement 75.0000% < 100.0000%"),
        (Thresholds(min_agreement=0.5, max_abs_prob_diff=1e-5), "max|Δp|"),
        (Thresholds(min_agreement=0.5, max_accuracy_drop_pp=0.3), "accuracy drop 25.00 pp > 0.30 pp"),
    ],
)
def test_each_threshold_can_fail(thresholds: Thresholds, expected: str) -> None:
    fidelity = compute_fidelity(_onehot([0, 1, 5, 9]), _onehot([0, 1, 2, 9]), np.arange(4), thresholds)
    assert not fidelity.passed
    assert len(fidelity.failures) == 1 and expected in fidelity.failures[0]
    assert fidelity.to_dict()["passed"] is False


def test_nan_probabilities_fail_the_diff_check() -> None:
    artifact = _onehot([0, 1])
    artifact[1, 3] = np.nan
    fidelity = compute_fidelity(artifact, _onehot([0, 1]), np.arange(2), Thresholds(0.0, 1e-5))
    assert not fidelity.passed and fidelity.max_abs_prob_diff == float("inf")


def test_fidelity_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"same N images"):
        compute_fidelity(_onehot([0, 1]), _onehot([0]), np.arange(2), Thresholds(1.0))


@pytest.mark.parametrize("bad", [{"min_agreement": 1.5}, {"min_agreement": 1.0, "max_abs_prob_diff": -1.0}])
def test_thresholds_validate(bad: dict) -> None:
    with pytest.raises(ValueError, match=r"must be|fraction"):
        Thresholds(**bad)


def test_manifest_merges_and_refuses_foreign_files(tmp_path: Path) -> None:
    update_manifest(tmp_path, {"file": "a.tflite", "sha256": "1"})
    update_manifest(tmp_path, {"file": "b.onnx", "sha256": "2"})
    update_manifest(tmp_path, {"file": "a.tflite", "sha256": "3"})
    manifest = read_manifest(tmp_path)
    assert manifest["schema_version"] == 1
    assert manifest["artifacts"] == {
        "a.tflite": {"file": "a.tflite", "sha256": "3"},
        "b.onnx": {"file": "b.onnx", "sha256": "2"},
    }
    assert manifest["env"] == capture_env().to_dict()  # the same block bench and train.json carry
    (tmp_path / "manifest.json").write_text('{"schema_version": 7, "artifacts": {}}')
    with pytest.raises(ValueError, match=r"not a schema_version 1 .* Delete it"):
        update_manifest(tmp_path, {"file": "c.onnx"})
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_manifest(tmp_path)


def test_directory_digest_tracks_names_and_contents(tmp_path: Path) -> None:
    (tmp_path / "d" / "v").mkdir(parents=True)
    (tmp_path / "d" / "a.pb").write_bytes(b"abc")
    (tmp_path / "d" / "v" / "w").write_bytes(b"12345")
    size, first = digest(tmp_path / "d")
    assert size == 8
    (tmp_path / "d" / "v" / "w").write_bytes(b"12346")
    assert digest(tmp_path / "d")[1] != first


def test_calibration_set_is_balanced_seeded_and_from_train(tiny_data) -> None:
    data = tiny_data
    first = calibration_set(data, CalibrationConfig(samples=50, seed=3))
    again = calibration_set(data, CalibrationConfig(samples=50, seed=3))
    assert first.images.shape == (50, 28, 28, 1) and first.images.dtype == np.float32
    np.testing.assert_array_equal(first.images, again.images)
    # Every image comes from x_train, five per class.
    flat = data.x_train.reshape(len(data.x_train), -1).astype(np.float32)
    rows = [int(np.flatnonzero((flat == img.ravel()).all(axis=1))[0]) for img in first.images]
    assert np.bincount(data.y_train[rows], minlength=10).tolist() == [5] * 10


BAD_REQUESTS = [
    ({"format": "coreml"}, r"Unknown format 'coreml'. Supported formats are: tflite, onnx, saved_model"),
    (
        {"quantize": "int4"},
        r"Unknown quantization 'int4'. Valid quantizations are: none, fp16, dynamic, int8, int16x8",
    ),
    (
        {"format": "onnx", "quantize": "int16x8"},
        r"onnx does not support quantization 'int16x8'. Supported for onnx: none, fp16, dynamic, int8",
    ),
    (
        {"format": "onnx", "io_type": "int8"},
        r"Unknown option\(s\) \['io_type'\] for onnx. Valid options: opset",
    ),
    ({"format": "onnx", "opset": 7}, r"opset must be an integer in 13..18, got 7"),
    (
        {"quantize": "int8", "io_type": "int4"},
        r"Unknown io_type 'int4'. Valid io types are: int8, uint8, float32",
    ),
    ({"quantize": "fp16", "io_type": "uint8"}, r"applies only to --quantize int8"),
    ({"quantize": "int16x8", "io_type": "int8"}, r"int16x8 TFLite models take and return float32"),
    (
        {"quantize": "int16x8", "calibration_method": "entropy"},
        r"tflite int16x8 does not support calibration method",
    ),
    (
        {"quantize": "int8", "calibration_method": "entropy"},
        r"tflite int8 does not support calibration method",
    ),
    (
        {"format": "onnx", "quantize": "int8", "calibration_method": "kl"},
        r"Valid methods are: minmax, entropy, perc",
    ),
    (
        {"quantize": "int8", "calibration_samples": 601},
        r"calibration samples \(601\) exceed the 600 training images",
    ),
    ({"quantize": "int8", "data": object(), "verify": False}, r"int8 quantization needs calibration data"),
    ({"data": object()}, r"data has no x_test/y_test"),
    ({"filename": "../x.tflite"}, r"bare file name"),
    ({"model": "missing.keras"}, r"No Keras model at .*missing.keras"),
]


@pytest.mark.parametrize(("request_", "match"), BAD_REQUESTS, ids=[m[:30] for _, m in BAD_REQUESTS])
def test_bad_requests_fail_before_any_conversion(
    request_: dict, match: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_data
) -> None:
    # Any model loading or conversion here would mean a bad request was caught too late.
    monkeypatch.setattr("mnistedge.export.api._export_one", _must_not_run)
    monkeypatch.setattr("mnistedge.export.api.load_keras_model", _must_not_run)
    monkeypatch.setattr("mnistedge.export.api.require", lambda *a: None)  # runs without TensorFlow too
    (tmp_path / "model.keras").write_bytes(b"never loaded")
    kwargs = {"format": "tflite", "data": tiny_data, "out_dir": tmp_path / "out", **request_}
    model = tmp_path / kwargs.pop("model", "model.keras")
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        export_artifact(model, kwargs.pop("format"), **kwargs)
    assert not (tmp_path / "out").exists()


def test_export_all_refuses_unknown_options(tmp_path: Path, tiny_data) -> None:
    valid = r"Valid options: batch, io_type, opset"
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['bogus'\]. " + valid):
        export_all(tmp_path / "model.keras", data=tiny_data, bogus=1)


def _must_not_run(*args, **kwargs):
    raise AssertionError("conversion started although the request was invalid")


def test_fidelity_error_carries_the_figures() -> None:
    from mnistedge.export.artifact import Artifact, Status, TensorSpec

    fidelity = compute_fidelity(_onehot([0, 1, 5, 9]), _onehot([0, 1, 2, 9]), np.arange(4), Thresholds(1.0))
    spec = TensorSpec("pixels", (-1, 28, 28, 1), "float32")
    artifact = Artifact(
        Path("x/model_int8.tflite"), "tflite", Quantization.INT8, 1, "0", Status.FAILED,
        {}, {}, spec, spec, {}, None, fidelity,
    )  # fmt: skip
    error = FidelityError([artifact])
    assert error.fidelity is fidelity and error.exported == (artifact,)
    assert "model_int8.tflite: agreement 75.0000% < 100.0000%" in str(error)
    assert "--no-verify" in str(error)

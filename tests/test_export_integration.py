"""All nine edge artifacts from a quickly trained model, checked on the full 10,000-image test set."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnistedge.export import Status, export_all, read_manifest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")


@pytest.mark.integration
def test_export_all_on_real_mnist(mnist, mnist_model: Path, tmp_path: Path) -> None:
    # Default thresholds: float formats must agree on every image, int8 lose at most 0.3 pp.
    artifacts = export_all(mnist_model, out_dir=tmp_path / "export", data=mnist)
    assert len(artifacts) == 9 and all(a.status is Status.OK for a in artifacts)
    by_file = {a.file: a for a in artifacts}
    assert all(a.fidelity.n == 10_000 for a in artifacts)
    assert by_file["model.tflite"].fidelity.reference_accuracy > 0.95
    for name in ("model_int8.tflite", "model_int16x8.tflite", "model_int8.onnx"):
        assert by_file[name].fidelity.accuracy_delta_pp >= -0.3
        assert by_file[name].calibration.samples == 500
    for name in ("model_fp16.onnx", "model_dynamic.onnx"):  # the new precisions, on all 10k
        assert by_file[name].fidelity.accuracy_delta_pp >= -0.3 and by_file[name].calibration is None
    assert by_file["model_int16x8.tflite"].fidelity.agreement >= 0.998
    assert by_file["model_fp16.onnx"].size_bytes < 0.6 * by_file["model.onnx"].size_bytes
    int8_input = by_file["model_int8.tflite"].input
    assert (int8_input.dtype, int8_input.scale, int8_input.zero_point) == ("int8", 1.0, -128)
    manifest = read_manifest(tmp_path / "export")
    assert set(manifest["artifacts"]) == set(by_file)

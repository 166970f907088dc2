"""All six edge artifacts from a quickly trained model, checked on the full 10,000-image test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnistedge.export import Status, export_all, read_manifest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")


@pytest.mark.integration
def test_export_all_on_real_mnist(mnist, tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1), name="pixels"), keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(mnist.x_train[..., None].astype(np.float32), mnist.y_train, epochs=1, batch_size=128, verbose=0)
    model.save(tmp_path / "model.keras")

    # Default thresholds: float formats must agree on every image, int8 lose at most 0.3 pp.
    artifacts = export_all(tmp_path / "model.keras", out_dir=tmp_path / "export", data=mnist)
    assert len(artifacts) == 6 and all(a.status is Status.OK for a in artifacts)
    by_file = {a.file: a for a in artifacts}
    assert all(a.fidelity.n == 10_000 for a in artifacts)
    assert by_file["model.tflite"].fidelity.reference_accuracy > 0.95
    for name in ("model_int8.tflite", "model_int8.onnx"):
        assert by_file[name].fidelity.accuracy_delta_pp >= -0.3
        assert by_file[name].calibration.samples == 500
    int8_input = by_file["model_int8.tflite"].input
    assert (int8_input.dtype, int8_input.scale, int8_input.zero_point) == ("int8", 1.0, -128)
    manifest = read_manifest(tmp_path / "export")
    assert set(manifest["artifacts"]) == set(by_file)

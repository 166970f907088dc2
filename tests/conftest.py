"""Fixtures of the unit tests; the tiny data, model and export come from the repo-root conftest.py.

Unit tests use the tiny fixtures (seconds); tests marked ``integration`` use the
real MNIST, fetched once through the mirror and cached.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from runtime_fixtures import EDGE_FILES, write_linear_onnx


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory: pytest.TempPathFactory, tiny_data) -> Path:
    """tiny_data as a Keras-layout .npz, for CLI tests that take --source."""
    path = tmp_path_factory.mktemp("tiny_npz") / "tiny.npz"
    np.savez(
        path,
        x_train=tiny_data.x_train,
        y_train=tiny_data.y_train,
        x_test=tiny_data.x_test,
        y_test=tiny_data.y_test,
    )
    return path


@pytest.fixture(scope="session")
def artifacts(tiny_export: Path) -> dict[str, Path]:
    """file name -> path of each edge artifact of the tiny model, manifest.json beside them."""
    found = {name: tiny_export / name for name in EDGE_FILES}
    missing = [name for name, path in found.items() if not path.is_file()]
    assert not missing, f"the tiny export lacks {missing}"
    return found


@pytest.fixture(scope="session")
def keras_proba(tiny_model_path: Path, tiny_data) -> np.ndarray:
    """The tiny Keras model's probabilities on tiny_data.x_test (the reference)."""
    keras = pytest.importorskip("keras")
    model = keras.models.load_model(tiny_model_path)
    return np.asarray(model(tiny_data.x_test[..., None].astype(np.float32)))


@pytest.fixture(scope="session")
def linear_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX softmax classifier built with onnx.helper (no TensorFlow); numpy knows its answers."""
    return write_linear_onnx(tmp_path_factory.mktemp("linear") / "linear.onnx")


@pytest.fixture(scope="session")
def mnist():
    """The real, checksum-verified MNIST (cached after the first fetch)."""
    from mnistedge.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def mnist_model(tmp_path_factory: pytest.TempPathFactory, mnist) -> Path:
    """A small CNN trained two epochs on the real MNIST (≈97.7 % test accuracy, ~35 s), as model.keras.

    For integration tests that need real digits recognised (drawings, the browser bundle)
    without the minutes the default recipe takes.
    """
    keras = pytest.importorskip("keras", reason="training needs mnistedge[train]")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1), name="pixels"), keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(mnist.x_train[..., None].astype(np.float32), mnist.y_train, epochs=2, batch_size=128, verbose=0)
    path = tmp_path_factory.mktemp("mnist_model") / "model.keras"
    model.save(path)
    return path

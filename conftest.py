"""Session fixtures shared by tests/ and benchmarks/: tiny seeded digits, a tiny model, its nine artifacts.

Each is built once per session, in pytest's temporary directory, and never from files
lying in the working tree: ``tiny_data`` (numpy, instant), ``tiny_model_path`` (a ~1k
parameter Keras model trained on it, seconds) and ``tiny_export`` (that model exported
to all nine edge artifacts with manifest.json). Tests treat them as read-only: a test that
damages an artifact works on a copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class TinyData:
    x_train: np.ndarray  # uint8 (N, 28, 28)
    y_train: np.ndarray  # uint8 (N,)
    x_test: np.ndarray
    y_test: np.ndarray


def make_tiny_data(n_train: int = 600, n_test: int = 200, seed: int = 0) -> TinyData:
    """Learnable MNIST-shaped data: class k lights a 6x6 patch at a class-specific spot."""
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 10
        rng.shuffle(y)
        x = rng.integers(0, 60, size=(n, 28, 28)).astype(np.int16)
        for i, label in enumerate(y):
            r, c = 3 + (label // 5) * 12, 2 + (label % 5) * 5
            x[i, r : r + 6, c : c + 6] += rng.integers(150, 196)
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.uint8)

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    return TinyData(x_train, y_train, x_test, y_test)


@pytest.fixture(scope="session")
def tiny_data() -> TinyData:
    return make_tiny_data()


def build_tiny_keras_model(seed: int = 0):
    """A ~1k-parameter convnet that follows mnistedge.core.contract (raw pixels in, softmax out)."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="pixels"),
            keras.layers.Rescaling(1.0 / 255.0),
            keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory, tiny_data: TinyData) -> Path:
    """A tiny model trained for a few epochs on tiny_data, saved as model.keras."""
    pytest.importorskip("tensorflow", reason="training the tiny model needs mnistedge[train]")
    keras = pytest.importorskip("keras")
    model = build_tiny_keras_model()
    # At Adam's default 1e-3 three epochs leave it near-uniform (~50 %, top p ~0.13), too weak a
    # reference for label agreement; at 1e-2 it learns the patches (100 %, confident outputs).
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(
        tiny_data.x_train[..., None].astype("float32"),
        tiny_data.y_train,
        epochs=3,
        batch_size=32,
        verbose=0,
    )
    path = tmp_path_factory.mktemp("tiny_model") / "model.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path, tiny_data: TinyData) -> Path:
    """The tiny model's nine edge artifacts and manifest.json, exported once per session."""
    pytest.importorskip("tensorflow", reason="exporting the tiny model needs mnistedge[export]")
    from mnistedge.export import export_all

    out = tmp_path_factory.mktemp("tiny_export")
    # verify=False: int8 of a 1k-parameter model misses the fidelity thresholds meant for real MNIST.
    export_all(tiny_model_path, out_dir=out, data=tiny_data, verify=False)
    return out

"""Shared fixtures: tiny seeded data and a tiny Keras model, plus the real MNIST.

Unit tests use the tiny fixtures (seconds); tests marked ``integration`` use the
real MNIST, fetched once through the mirror and cached.
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
def tiny_npz(tmp_path_factory: pytest.TempPathFactory, tiny_data: TinyData) -> Path:
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
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory, tiny_data: TinyData) -> Path:
    """A tiny model trained for a few epochs on tiny_data, saved as model.keras."""
    pytest.importorskip("tensorflow")
    model = build_tiny_keras_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
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
def mnist():
    """The real, checksum-verified MNIST (cached after the first fetch)."""
    from mnistedge.data import load_mnist

    return load_mnist()

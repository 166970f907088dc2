"""One real-MNIST training: a tutorial preset lands in its tutorial's range (~97-98 %)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mnistedge.train import TrainConfig, train

keras = pytest.importorskip("keras")


@pytest.mark.integration
def test_dense128_tutorial_reaches_its_published_accuracy(mnist, tmp_path: Path) -> None:
    result = train(TrainConfig(arch="tutorial-dense128"), mnist, tmp_path, quiet=True)
    assert 0.97 <= result.test_accuracy <= 0.99
    assert result.target["met"] is True and result.target["preset_overrides"] == []
    assert result.target["value"] == result.test_accuracy
    model = keras.models.load_model(tmp_path / "model.keras")
    probabilities = model.predict(mnist.x_test[..., None].astype(np.float32), verbose=0)
    assert json.loads((tmp_path / "train.json").read_text())["test_accuracy"] == float(
        (probabilities.argmax(1) == mnist.y_test).mean()
    )
    assert result.data["canonical"] is True and result.data["n_fit"] == 60_000

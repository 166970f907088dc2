"""train() on tiny seeded data: every arch trains, saves and reloads; runs are reproducible."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from mnistedge.core import contract
from mnistedge.core.env import capture_env
from mnistedge.core.images import check_dataset
from mnistedge.train import ARCHS, Preset, TrainConfig, train
from mnistedge.train.evaluate import evaluate_probabilities
from mnistedge.train.pipeline import train_dataset

keras = pytest.importorskip("keras")

TRAIN_JSON_KEYS = {
    "schema_version",
    "arch",
    "params",
    "macs",
    "epochs",
    "seed",
    "batch_size",
    "optimizer",
    "learning_rate",
    "test_accuracy",
    "test_loss",
    "target",
    "per_class_accuracy",
    "history",
    "wall_seconds",
    "device",
    "data",
    "env",
    "preprocessing",
}


def _reference_accuracy(model_path: Path, data) -> tuple[float, np.ndarray]:
    """What a user gets from keras.models.load_model on the test set, computed independently."""
    model = keras.models.load_model(model_path)
    probabilities = np.asarray(model(data.x_test[..., None].astype(np.float32), training=False))
    return float((probabilities.argmax(1) == data.y_test).mean()), probabilities


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_arch_trains_saves_and_reloads(arch: str, tiny_data, tmp_path: Path) -> None:
    result = train(TrainConfig(arch=arch, epochs=1), tiny_data, tmp_path, quiet=True, plots=False)

    record = json.loads((tmp_path / "train.json").read_text())
    assert set(record) >= TRAIN_JSON_KEYS
    assert record == json.loads(json.dumps(result.to_dict()))
    assert record["schema_version"] == 1 and record["arch"] == arch
    assert record["preprocessing"] == contract.PREPROCESSING
    assert record["epochs"] == 1 and len(record["history"]["loss"]) == 1
    assert record["batch_size"] == ARCHS[arch].preset.batch_size
    preset = ARCHS[arch].preset
    assert record["augmentation"] == (
        {"max_rotation_deg": preset.max_rotation_deg, "max_scale": 0.1, "max_shift_px": 2.0, "epochs": 1}
        if preset.augment
        else None
    )
    assert record["device"]["type"] in {"CPU", "GPU"}
    assert record["device"]["intra_op_threads"] >= 1 and record["device"]["inter_op_threads"] >= 1
    assert set(record["device"]["load_average"]) == {"start", "end"}
    assert record["device"]["compute_dtype"] == "float32"
    features = record["device"]["cpu_features"]
    assert features is None or (features.keys() >= {"avx2", "avx512_bf16", "amx_bf16"})
    assert len(record["history"]["epoch_seconds"]) == 1 and record["history"]["epoch_seconds"][0] > 0
    assert 0 < record["fit_seconds"] <= record["wall_seconds"]
    assert record["env"].keys() == capture_env().to_dict().keys()  # the block bench and manifest carry
    assert record["env"]["versions"]["keras"] == keras.__version__
    assert record["data"]["n_test"] == len(tiny_data.x_test)

    accuracy, probabilities = _reference_accuracy(tmp_path / "model.keras", tiny_data)
    assert record["test_accuracy"] == accuracy
    assert record["params"] == keras.models.load_model(tmp_path / "model.keras").count_params()
    assert record["macs"] > 0
    labels = tiny_data.y_test.astype(np.int64)
    expected_loss = -np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1)).mean()
    assert record["test_loss"] == pytest.approx(expected_loss, rel=1e-4)

    target = ARCHS[arch].target
    by_metric = {"test_accuracy": accuracy, "train_accuracy": record["history"]["accuracy"][-1]}
    assert record["target"]["value"] == by_metric[target.metric]
    assert record["target"]["met"] is target.met(record["target"]["value"])
    assert record["target"]["stated"] == target.stated
    assert record["target"]["preset_overrides"] == ["epochs"]  # every preset trains for more than 1


def test_same_seed_gives_the_same_predictions(tiny_data, tmp_path: Path) -> None:
    """Augmentation, shuffling, the split and the weights all follow the seed."""
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        config = TrainConfig(arch="tiny", epochs=2, batch_size=64, seed=seed)
        train(config, tiny_data, tmp_path / name, quiet=True, plots=False)
        runs[name] = _reference_accuracy(tmp_path / name / "model.keras", tiny_data)[1]
    np.testing.assert_array_equal(runs["a"], runs["b"])
    assert not np.array_equal(runs["a"], runs["c"])


def test_training_learns_the_tiny_task(tiny_data, tmp_path: Path) -> None:
    config = TrainConfig(arch="tutorial-dense128", epochs=3, validation_split=0.1)
    result = train(config, tiny_data, tmp_path, quiet=True, plots=False)
    assert result.test_accuracy >= 0.9
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert len(result.history["val_accuracy"]) == 3 and len(result.history["epoch_seconds"]) == 3


def test_plots_are_written_and_look_like_images(tiny_data, tmp_path: Path) -> None:
    from PIL import Image

    result = train(
        TrainConfig(arch="tutorial-dense128", epochs=1, validation_split=0.2), tiny_data, tmp_path, quiet=True
    )
    assert set(result.plots) == {"training_curves", "confusion_matrix", "misclassified"}
    for path in result.plots.values():
        assert Path(path).parent == tmp_path / "plots"
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 200
    assert not list((tmp_path / "plots").glob(".*"))  # no temp files left behind


def test_summary_line_unless_quiet(tiny_data, tmp_path: Path, capsys) -> None:
    train(TrainConfig(arch="tutorial-sigmoid10", epochs=1), tiny_data, tmp_path, plots=False)
    out = capsys.readouterr().out
    assert "tutorial-sigmoid10: test accuracy" in out and "model.keras" in out
    assert "target ~90 % test accuracy: " in out
    assert "7,960 params, 7.9k MACs" in out  # 784*10 + 10*10 multiply-accumulates
    timing = re.search(
        r"^time per epoch: (\d+\.\d) s, fit (\d+) s, total (\d+) s \(CPU, \d+ threads\)$", out, re.M
    )
    assert timing, out
    train(TrainConfig(arch="tutorial-sigmoid10", epochs=1), tiny_data, tmp_path, quiet=True, plots=False)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("value", "overrides", "verdict"),
    [
        (0.9523, [], "95.23%, met"),
        (0.9377, [], "93.77%, missed"),
        (0.9377, ["epochs", "learning_rate"], "93.77%, missed (preset overridden: epochs, learning_rate)"),
    ],
)
def test_summary_says_whether_the_target_was_met(value: float, overrides: list, verdict: str) -> None:
    from mnistedge.train.loop import target_record
    from mnistedge.train.result import TrainResult

    config = TrainConfig(
        arch="tutorial-relu10x2",
        epochs=1 if "epochs" in overrides else None,
        learning_rate=0.5 if "learning_rate" in overrides else None,
    ).resolve()
    record = target_record(config, {"accuracy": [0.5, value]}, test_accuracy=0.1)
    assert record["preset_overrides"] == overrides and record["value"] == value
    result = TrainResult(**{name: None for name in TrainResult.__dataclass_fields__} | {"target": record})
    assert result.target_verdict() == f"target > 95 % training accuracy: {verdict}"


def test_validation_split_holds_out_that_share(tiny_data, tmp_path: Path) -> None:
    result = train(
        TrainConfig(arch="tutorial-relu10x2", epochs=1), tiny_data, tmp_path, quiet=True, plots=False
    )
    assert (result.data["n_fit"], result.data["n_validation"]) == (480, 120)  # the 48k/12k split
    assert "val_loss" in result.history


def test_evaluate_probabilities_against_a_hand_count() -> None:
    probabilities = np.full((4, 10), 0.01, np.float32)
    probabilities[[0, 1, 2, 3], [3, 3, 5, 7]] = 0.91
    evaluation = evaluate_probabilities(probabilities, np.array([3, 5, 5, 7], np.uint8))
    assert evaluation.accuracy == 0.75
    assert evaluation.per_class_accuracy["5"] == 0.5 and evaluation.per_class_accuracy["3"] == 1.0
    assert evaluation.confusion_matrix[5][3] == 1 and evaluation.confusion_matrix[7][7] == 1
    assert evaluation.loss == pytest.approx(-(3 * np.log(0.91) + np.log(0.01)) / 4, rel=1e-5)


def test_train_dataset_visits_every_image_once_per_epoch() -> None:
    x = np.arange(10, dtype=np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)
    ds, steps = train_dataset(
        x, np.arange(10, dtype=np.uint8), batch_size=4, epochs=2, seed=0, augment_epochs=0, one_hot=True
    )
    batches = [(xb.numpy(), yb.numpy()) for xb, yb in ds]
    assert steps == 3 and [len(b[1]) for b in batches] == [4, 4, 2, 4, 4, 2]
    for epoch in (batches[:3], batches[3:]):
        labels = np.concatenate([yb.argmax(1) for _, yb in epoch])
        assert sorted(labels) == list(range(10))
        pixels = np.concatenate([xb[:, 0, 0, 0] for xb, _ in epoch])
        np.testing.assert_array_equal(pixels, labels)  # images stay paired with their labels
    assert batches[0][0].dtype == np.float32 and batches[0][0].shape[1:] == (28, 28, 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x_train": np.zeros((5, 28, 28), np.float32)}, r"x_train must be uint8 \(N, 28, 28\)"),
        ({"x_test": np.zeros((5, 784), np.uint8)}, "x_test must be uint8"),
        (
            {"y_train": np.eye(10, dtype=np.uint8)[:5]},
            r"y_train must be integer digits of shape \(N,\), got uint8 shape \(5, 10\)",
        ),
        ({"y_test": np.zeros(4, np.uint8)}, "x_test has 5 images but y_test has 4 labels"),
        ({"y_test": np.full(5, 12)}, r"y_test must hold digits 0-9, got values in \[12, 12\]"),
    ],
)
def test_bad_data_is_named(change: dict, message: str) -> None:
    from types import SimpleNamespace

    good = {
        "x_train": np.zeros((5, 28, 28), np.uint8),
        "y_train": np.zeros(5, np.uint8),
        "x_test": np.zeros((5, 28, 28), np.uint8),
        "y_test": np.zeros(5, np.uint8),
    }
    with pytest.raises(ValueError, match=message):
        check_dataset(SimpleNamespace(**{**good, **change}))


def test_cpu_features_reads_the_flags_line(tmp_path: Path) -> None:
    from mnistedge.train.environment import cpu_features

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma amx_bf16 avx512f\n")
    got = cpu_features(str(info))
    assert got is not None and got["avx2"] and got["amx_bf16"] and got["avx512f"]
    assert not got["avx512_bf16"] and not got["avx_vnni"]
    assert cpu_features(str(tmp_path / "missing")) is None


def test_the_presets_rotation_range_reaches_the_augmentation() -> None:
    # One bar image, augmented in epoch 0 with the same seed: only the rotation range differs.
    # With 0 degrees the bar keeps its direction (scale and shift only); with 45 it turns.
    x = np.zeros((8, 28, 28), np.uint8)
    x[:, 4:24, 13:15] = 255  # a vertical stroke
    y = np.zeros(8, np.uint8)

    def batch(max_rotation_deg: float) -> np.ndarray:
        ds, _ = train_dataset(x, y, batch_size=8, epochs=1, seed=3, augment_epochs=1, one_hot=False,
                              max_rotation_deg=max_rotation_deg)  # fmt: skip
        return next(iter(ds))[0].numpy()[..., 0]

    def column_spread(images: np.ndarray) -> np.ndarray:  # how far the ink strays across columns
        cols = np.arange(28)[None, :]
        weight = images.sum(axis=1)
        mean = (weight * cols).sum(1) / weight.sum(1)
        return np.sqrt((weight * (cols - mean[:, None]) ** 2).sum(1) / weight.sum(1))

    upright, turned = column_spread(batch(0.0)), column_spread(batch(45.0))
    assert upright.max() < 1.5 and turned.mean() > 2 * upright.mean()


def test_a_preset_rejects_a_rotation_range_past_45_degrees() -> None:
    with pytest.raises(ValueError, match=r"max_rotation_deg=90\.0: use 0-45 degrees"):
        Preset(epochs=1, batch_size=8, optimizer="sgd", learning_rate=0.1, loss="sparse",
               validation_split=0.0, max_rotation_deg=90.0)  # fmt: skip
    assert ARCHS["cnn"].preset.max_rotation_deg == 15.0 and ARCHS["cnn-v1"].preset.max_rotation_deg == 10.0

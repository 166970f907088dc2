"""The architecture registry, TrainConfig, MAC counting and the augmentation geometry."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest

import mnistedge.train as train_pkg
from mnistedge.core import contract
from mnistedge.train import ARCHS, Target, TrainConfig, build_model, count_macs
from mnistedge.train.archs import TARGET_METRICS, Preset

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

TUTORIALS = ["tutorial-sigmoid10", "tutorial-relu10x2", "tutorial-dense128", "tutorial-dense512"]


def test_public_names_are_the_documented_api() -> None:
    assert set(train_pkg.__all__) == {
        "ARCHS",
        "Arch",
        "LRFindResult",
        "Preset",
        "Target",
        "TrainConfig",
        "TrainResult",
        "build_model",
        "count_macs",
        "lr_find",
        "train",
    }
    assert all(hasattr(train_pkg, name) for name in train_pkg.__all__)


def test_registry_holds_the_default_tiny_and_four_tutorials() -> None:
    assert list(ARCHS)[:2] == ["cnn", "tiny"]
    assert set(TUTORIALS) <= set(ARCHS)
    assert TrainConfig().arch == "cnn"


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_arch_follows_the_model_contract(arch: str) -> None:
    model = build_model(arch)
    assert tuple(model.input_shape) == (None, *contract.MODEL_INPUT_SHAPE)
    assert model.inputs[0].name == contract.INPUT_NAME
    first, last = model.layers[0], model.layers[-1]
    assert type(first).__name__ == "Rescaling" and first.scale == pytest.approx(1 / 255)
    assert last.name == contract.OUTPUT_NAME and last.units == contract.NUM_CLASSES
    assert last.activation.__name__ == "softmax"
    probabilities = np.asarray(model(np.full((2, 28, 28, 1), 255.0, np.float32)))
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_no_augmentation_or_preprocessing_layers_inside_the_graph() -> None:
    kinds = {type(layer).__name__ for arch in ARCHS for layer in build_model(arch).layers}
    assert not {k for k in kinds if k.startswith("Random")}


def test_tiny_stays_under_ten_thousand_parameters() -> None:
    assert build_model("tiny").count_params() < 10_000


@pytest.mark.parametrize(
    ("arch", "hidden"),
    [
        ("tutorial-sigmoid10", [(784, 10, "sigmoid")]),
        ("tutorial-relu10x2", [(784, 10, "relu"), (10, 10, "relu")]),
        ("tutorial-dense128", [(784, 128, "relu")]),
        ("tutorial-dense512", [(784, 512, "relu")]),
    ],
)
def test_tutorial_models_keep_their_published_layers(arch: str, hidden: list) -> None:
    model = build_model(arch)
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    got = [(layer.input.shape[-1], layer.units, layer.activation.__name__) for layer in dense]
    assert got == [*hidden, (hidden[-1][1], 10, "softmax")]
    dropout = [layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"]
    assert dropout == ([0.2] if arch == "tutorial-dense128" else [])


def test_tutorial_presets_match_their_tutorials() -> None:
    p = {name: ARCHS[name].preset for name in TUTORIALS}
    assert (
        p["tutorial-sigmoid10"].optimizer,
        p["tutorial-sigmoid10"].loss,
        p["tutorial-sigmoid10"].epochs,
    ) == ("sgd", "categorical", 10)
    assert (p["tutorial-relu10x2"].optimizer, p["tutorial-relu10x2"].validation_split) == ("adam", 0.2)
    assert (
        p["tutorial-dense128"].optimizer,
        p["tutorial-dense128"].loss,
        p["tutorial-dense128"].batch_size,
        p["tutorial-dense128"].epochs,
    ) == ("adam", "sparse", 64, 5)
    assert (
        p["tutorial-dense512"].optimizer,
        p["tutorial-dense512"].loss,
        p["tutorial-dense512"].batch_size,
        p["tutorial-dense512"].epochs,
    ) == ("rmsprop", "categorical", 128, 5)
    assert not any(preset.augment for preset in p.values())


# The stated words, read independently of Target: "~A %" and "~A-B %" mean within one
# percentage point of A (of A..B); ">= A %" and "> A %" reach up to 100 %.
STATED = re.compile(r"(?P<op>~|>=|>) ?(?P<a>\d+(?:\.\d+)?)(?:-(?P<b>\d+(?:\.\d+)?))? %")


def bounds_of(stated: str) -> tuple[float, float, bool]:
    """(low, high, low_inclusive) as fractions, from a target's stated words."""
    match = STATED.fullmatch(stated)
    assert match, f"cannot read the target {stated!r}"
    a, b = Fraction(match["a"]), Fraction(match["b"] or match["a"])
    if match["op"] == "~":
        return float((a - 1) / 100), float((b + 1) / 100), True
    assert match["b"] is None, f"a range after {match['op']!r}: {stated!r}"
    return float(a / 100), 1.0, match["op"] == ">="


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_arch_states_a_target_it_can_be_held_to(arch: str) -> None:
    target = ARCHS[arch].target
    assert target.metric in TARGET_METRICS
    low, high, low_inclusive = bounds_of(target.stated)
    assert (target.low, target.high, target.low_inclusive) == (low, high, low_inclusive)
    step = 1e-6  # well under the 0.01 % that separates accuracies on the 10k test set
    assert target.met(low) is low_inclusive and not target.met(low - step) and target.met(low + step)
    assert target.met(high) and (high == 1.0 or not target.met(high + step))
    assert target.describe() == f"{target.stated} {TARGET_METRICS[target.metric]}"
    assert ARCHS[arch].to_dict()["target"] == {
        "stated": target.stated, "metric": target.metric, "low": low, "high": high,
        "low_inclusive": low_inclusive,
    }  # fmt: skip


def test_target_bounds_follow_the_stated_words() -> None:
    strict = Target("> 95 %", "train_accuracy", 0.95, low_inclusive=False)
    assert not strict.met(0.95) and strict.met(0.9501) and strict.met(1.0)
    about = Target("~90 %", "test_accuracy", 0.89, 0.91)
    assert about.met(0.89) and about.met(0.91) and not about.met(0.8899) and not about.met(0.9101)
    assert about.describe() == "~90 % test accuracy"
    # The relu10x2 tutorial states its goal for training accuracy; the others for the test set.
    assert ARCHS["tutorial-relu10x2"].target.describe() == "> 95 % training accuracy"
    assert {ARCHS[name].target.metric for name in ARCHS if name != "tutorial-relu10x2"} == {"test_accuracy"}


def test_count_macs_matches_a_hand_count() -> None:
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(4, 3, strides=2),  # 13x13x4 outputs, 9 taps on 1 channel
            L.DepthwiseConv2D(3, padding="same"),  # 13x13x4 outputs, 9 taps each
            L.MaxPooling2D(2),  # 6x6x4
            L.Flatten(),
            L.Dense(10),
        ]
    )
    assert count_macs(model) == 13 * 13 * 4 * 9 + 13 * 13 * 4 * 9 + 6 * 6 * 4 * 10
    assert count_macs(build_model("tutorial-relu10x2")) == 784 * 10 + 10 * 10 + 10 * 10


def test_unknown_arch_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown arch 'resnet'.*cnn, tiny, tutorial-sigmoid10"):
        TrainConfig(arch="resnet")
    with pytest.raises(ValueError, match="Known archs"):
        build_model("resnet")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"batch_size": -1}, "batch_size must be a positive integer, got -1"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0, got 0.0"),
        ({"validation_split": 1.0}, r"validation_split must be in \[0, 1\), got 1.0"),
        ({"seed": -3}, "seed must be a non-negative integer, got -3"),
    ],
)
def test_bad_config_values_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_resolve_fills_only_the_unset_fields_from_the_preset() -> None:
    preset = ARCHS["tutorial-dense128"].preset
    cfg = TrainConfig(arch="tutorial-dense128", epochs=2).resolve()
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.validation_split) == (
        2,
        preset.batch_size,
        preset.learning_rate,
        preset.validation_split,
    )
    assert TrainConfig(validation_split=0.0).resolve().validation_split == 0.0


def _transform(
    image: np.ndarray, angle: float = 0.0, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    from mnistedge.train.pipeline import affine_transforms, transform_images

    matrix = affine_transforms(
        tf, tf.constant([angle]), tf.constant([scale]), tf.constant([shift], tf.float32)
    )
    batch = tf.constant(image[None, ..., None].astype(np.float32))
    return transform_images(tf, batch, matrix).numpy()[0, ..., 0]


def test_augmentation_geometry_matches_numpy_references() -> None:
    image = np.random.default_rng(0).integers(0, 256, (28, 28)).astype(np.float32)
    np.testing.assert_allclose(_transform(image), image, atol=1e-4)
    shifted = np.zeros_like(image)
    shifted[3:, 2:] = image[:-3, :-2]  # 2 px right, 3 px down, zeros fill
    np.testing.assert_allclose(_transform(image, shift=(2.0, 3.0)), shifted, atol=1e-3)
    np.testing.assert_allclose(_transform(image, angle=math.pi / 2), np.rot90(image), atol=1e-3)


def test_importing_the_package_does_not_load_tensorflow() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mnistedge.train, mnistedge.train._cli; "
        "sys.exit(1 if 'tensorflow' in sys.modules or 'matplotlib' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_label_smoothing_needs_the_categorical_loss() -> None:
    from mnistedge.train.loop import make_loss

    with pytest.raises(ValueError, match="label_smoothing needs the categorical loss"):
        Preset(epochs=1, batch_size=8, optimizer="sgd", learning_rate=0.1, loss="sparse",
               validation_split=0.0, label_smoothing=0.1)  # fmt: skip
    smooth = Preset(epochs=1, batch_size=8, optimizer="sgd", learning_rate=0.1, loss="categorical",
                    validation_split=0.0, label_smoothing=0.1)  # fmt: skip
    loss = make_loss(keras, smooth)
    assert (
        isinstance(loss, keras.losses.CategoricalCrossentropy) and loss.get_config()["label_smoothing"] == 0.1
    )
    # (1 - 0.1) one-hot + 0.1 / 10: a perfect prediction still costs the smoothed cross-entropy.
    y = np.eye(10, dtype=np.float32)[[3]]
    target = 0.9 * y + 0.01
    expected = -(target * np.log(np.clip(y, 1e-7, 1))).sum()
    assert float(loss(y, y)) == pytest.approx(expected, rel=1e-4)
    assert make_loss(keras, ARCHS["tutorial-dense128"].preset) == "sparse_categorical_crossentropy"

"""train(): fit an architecture on MNIST, save it, evaluate the saved model, plot, record."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core import contract
from mnistedge.core.deps import require
from mnistedge.core.env import capture_env
from mnistedge.core.images import check_dataset
from mnistedge.core.io import atomic_path, atomic_write_json
from mnistedge.train.archs import build_model, count_macs, get_arch
from mnistedge.train.config import TrainConfig
from mnistedge.train.environment import data_record, device_record, load_average
from mnistedge.train.evaluate import evaluate_saved_model
from mnistedge.train.optim import make_optimizer
from mnistedge.train.pipeline import AUGMENTATION, eval_dataset, train_dataset
from mnistedge.train.result import TrainResult

__all__ = ["LOSSES", "seed_everything", "target_record", "train"]

LOSSES: dict[str, str] = {
    "sparse": "sparse_categorical_crossentropy",
    "categorical": "categorical_crossentropy",
}


def make_loss(keras: Any, preset: Any) -> Any:
    """The preset's loss: its Keras name, or a loss object when it smooths the labels."""
    if preset.label_smoothing:
        return keras.losses.CategoricalCrossentropy(label_smoothing=preset.label_smoothing)
    return LOSSES[preset.loss]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic (process-wide)."""
    tf = require("tensorflow", "train")
    keras = require("keras", "train", package="tensorflow")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Seeded hold-out of ``fraction`` of (x, y) as validation data."""
    n_val = round(len(x) * fraction)
    if n_val == 0:
        return x, y, x[:0], y[:0]
    order = np.random.default_rng(seed).permutation(len(x))
    val, fit = np.sort(order[:n_val]), np.sort(order[n_val:])
    return x[fit], y[fit], x[val], y[val]


def _epoch_timer(keras: Any) -> Any:
    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def target_record(cfg: TrainConfig, history: dict[str, list[float]], test_accuracy: float) -> dict[str, Any]:
    """train.json's ``target``: the arch's Target, this run's figure for it, and whether it was met.

    ``cfg`` must be resolved. ``preset_overrides`` names the hyperparameters the caller
    changed from the preset the target was stated for.
    """
    target = get_arch(cfg.arch).target
    value = test_accuracy if target.metric == "test_accuracy" else history["accuracy"][-1]
    overrides = [
        name
        for name in ("epochs", "batch_size", "learning_rate", "validation_split")
        if getattr(cfg, name) != getattr(cfg.preset, name)
    ]
    return {
        **target.to_dict(),
        "description": target.describe(),
        "value": float(value),
        "met": target.met(value),
        "preset_overrides": overrides,
    }


@dataclass(frozen=True)
class _Fitted:
    model: Any
    history: dict[str, list[float]]  # Keras history plus epoch_seconds
    seconds: float
    n_fit: int
    n_validation: int


def _fit(cfg: TrainConfig, data: Any, keras: Any, quiet: bool) -> _Fitted:
    """Split, build, compile and fit; returns the model, its history and the split sizes."""
    preset = cfg.preset
    x_fit, y_fit, x_val, y_val = _split(data.x_train, data.y_train, cfg.validation_split, cfg.seed)
    one_hot = preset.loss == "categorical"
    train_ds, steps = train_dataset(
        x_fit,
        y_fit,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        seed=cfg.seed,
        augment_epochs=preset.augment_epochs(cfg.epochs),
        one_hot=one_hot,
        max_rotation_deg=preset.max_rotation_deg,
    )
    val_ds = eval_dataset(x_val, y_val, batch_size=1000, one_hot=one_hot) if len(x_val) else None
    model = build_model(cfg.arch)
    model.compile(
        optimizer=make_optimizer(
            keras, preset.optimizer, preset.schedule, cfg.learning_rate, steps * cfg.epochs
        ),
        loss=make_loss(keras, preset),
        metrics=["accuracy"],
    )
    timer = _epoch_timer(keras)
    start = time.perf_counter()
    fitted = model.fit(
        train_ds,
        epochs=cfg.epochs,
        steps_per_epoch=steps,
        validation_data=val_ds,
        callbacks=[timer],
        verbose=0 if quiet else (1 if sys.stdout.isatty() else 2),
        shuffle=False,  # the dataset is already reshuffled every epoch
    )
    history = {k: [float(v) for v in vs] for k, vs in fitted.history.items()}
    history["epoch_seconds"] = timer.seconds
    return _Fitted(model, history, time.perf_counter() - start, len(x_fit), len(x_val))


def _result(
    cfg: TrainConfig,
    fit: _Fitted,
    evaluation: Any,
    data: Any,
    tf: Any,
    model_path: Path,
    plot_paths: dict[str, str],
    wall_seconds: float,
    load_at_start: list[float] | None,
) -> TrainResult:
    """Everything train.json records about a finished run."""
    preset = cfg.preset
    return TrainResult(
        arch=cfg.arch,
        source=get_arch(cfg.arch).source,
        model_path=str(model_path),
        params=int(fit.model.count_params()),
        macs=count_macs(fit.model),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        optimizer=preset.optimizer,
        learning_rate=float(cfg.learning_rate),
        schedule=preset.schedule,
        loss=LOSSES[preset.loss],
        label_smoothing=float(preset.label_smoothing),
        validation_split=float(cfg.validation_split),
        augmentation=(
            {
                "max_rotation_deg": preset.max_rotation_deg,
                **AUGMENTATION,
                "epochs": preset.augment_epochs(cfg.epochs),
            }
            if preset.augment
            else None
        ),
        test_accuracy=evaluation.accuracy,
        test_loss=evaluation.loss,
        target=target_record(cfg, fit.history, evaluation.accuracy),
        per_class_accuracy=evaluation.per_class_accuracy,
        confusion_matrix=evaluation.confusion_matrix,
        history=fit.history,
        wall_seconds=round(wall_seconds, 3),
        fit_seconds=round(fit.seconds, 3),
        device=device_record(tf, load_at_start),
        data=data_record(data, fit.n_fit, fit.n_validation),
        env=capture_env().to_dict(),
        preprocessing=dict(contract.PREPROCESSING),
        plots=plot_paths,
    )


def train(
    config: TrainConfig,
    data: Any,
    out_dir: str | Path = "artifacts",
    *,
    quiet: bool = False,
    plots: bool = True,
) -> TrainResult:
    """Train ``config.arch`` on ``data`` and write model.keras, train.json and plots/.

    Args:
        config: what to train; ``None`` fields take the arch's preset.
        data: ``mnistedge.data.MNIST`` or any object with uint8 x_train (N, 28, 28),
            y_train (N,), x_test, y_test arrays.
        out_dir: where model.keras, train.json and plots/ go.
        quiet: no progress bar and no summary line.
        plots: draw the PNGs (tests switch it off for speed).
    Returns:
        The TrainResult that train.json records; test figures come from the saved model
        reloaded with ``keras.models.load_model``.
    Raises:
        ValueError: bad data or config. MissingDependencyError: TensorFlow not installed.
    """
    start = time.perf_counter()
    load_at_start = load_average()
    cfg = config.resolve()
    check_dataset(data)
    tf = require("tensorflow", "train")
    keras = require("keras", "train", package="tensorflow")
    seed_everything(cfg.seed)
    fit = _fit(cfg, data, keras, quiet)

    out = Path(out_dir)
    model_path = out / "model.keras"
    with atomic_path(model_path) as tmp:
        fit.model.save(tmp)
    evaluation = evaluate_saved_model(model_path, data.x_test, data.y_test)
    plot_paths: dict[str, str] = {}
    if plots:
        from mnistedge.train.plots import draw_training_plots

        plot_paths = draw_training_plots(
            out / "plots", cfg.arch, fit.history, evaluation, data, get_arch(cfg.arch).target
        )

    result = _result(
        cfg, fit, evaluation, data, tf, model_path, plot_paths, time.perf_counter() - start, load_at_start
    )
    atomic_write_json(out / "train.json", result.to_dict())
    if not quiet:
        print(result.summary_line(), flush=True)
        print(result.timing_line(), flush=True)
    return result

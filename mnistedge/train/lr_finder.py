"""The learning-rate range test of the relu10x2 tutorial: LR = 1e-4 · 10^(epoch/20).

Each epoch trains at one rate, ten times larger every 20 epochs, and records
the training loss. The loss falls while the rate helps and climbs once it is
too large; as in the tutorial, the suggested rate is the one at the bottom of
that valley (the lowest loss). Because the sweep keeps training the same model
epoch after epoch, its valley sits well below the divergence cliff, so no
extra safety factor is applied (the per-batch fastai rule of "a tenth of the
minimum" would be far too timid here).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistedge.core.deps import require
from mnistedge.core.images import check_dataset
from mnistedge.core.io import atomic_write_json
from mnistedge.train.archs import build_model
from mnistedge.train.config import TrainConfig
from mnistedge.train.loop import make_loss, seed_everything
from mnistedge.train.optim import make_optimizer
from mnistedge.train.pipeline import train_dataset
from mnistedge.train.result import SCHEMA_VERSION

__all__ = ["LRFindResult", "lr_find", "lr_for_epoch", "suggest_rate"]

START_RATE = 1e-4
EPOCHS_PER_DECADE = 20


@dataclass(frozen=True)
class LRFindResult:
    arch: str
    learning_rates: list[float]  # one per epoch
    losses: list[float]  # mean training loss of that epoch (NaN once it diverged)
    suggested_learning_rate: float
    stopped_early: bool  # True when the loss diverged before max_rate
    seed: int
    batch_size: int
    wall_seconds: float
    plot_path: str | None
    json_path: str

    def to_dict(self) -> dict[str, Any]:
        record = {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(self)}
        record["losses"] = [v if math.isfinite(v) else None for v in self.losses]  # JSON has no NaN
        return record


def lr_for_epoch(epoch: int) -> float:
    """The tutorial's schedule: 1e-4 at epoch 0, ten times larger every 20 epochs."""
    return START_RATE * 10 ** (epoch / EPOCHS_PER_DECADE)


def suggest_rate(rates: list[float], losses: list[float]) -> float:
    """The rate of the epoch with the lowest finite training loss."""
    finite = [(loss, rate) for rate, loss in zip(rates, losses, strict=True) if math.isfinite(loss)]
    if not finite:
        raise ValueError("Every LR-finder epoch diverged; start lower or check the data.")
    return min(finite)[1]


def _range_test(cfg: TrainConfig, data: Any, max_rate: float, quiet: bool) -> tuple[list[float], int]:
    """Train one epoch per rate step; return the losses and how many epochs were planned."""
    keras = require("keras", "train", package="tensorflow")
    seed_everything(cfg.seed)
    preset = cfg.preset
    epochs = math.floor(EPOCHS_PER_DECADE * math.log10(max_rate / START_RATE) + 1e-9) + 1
    train_ds, steps = train_dataset(
        data.x_train,
        data.y_train,
        batch_size=cfg.batch_size,
        epochs=epochs,
        seed=cfg.seed,
        augment_epochs=preset.augment_epochs(epochs),
        one_hot=preset.loss == "categorical",
        max_rotation_deg=preset.max_rotation_deg,
    )
    model = build_model(cfg.arch)
    model.compile(
        optimizer=make_optimizer(keras, preset.optimizer, "constant", START_RATE, 1),
        loss=make_loss(keras, preset),
    )
    best = [math.inf]

    class StopOnDivergence(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            loss = float((logs or {}).get("loss", math.nan))
            best[0] = min(best[0], loss) if math.isfinite(loss) else best[0]
            if not math.isfinite(loss) or loss > 4 * best[0]:
                self.model.stop_training = True

    history = model.fit(
        train_ds,
        epochs=epochs,
        steps_per_epoch=steps,
        shuffle=False,
        callbacks=[keras.callbacks.LearningRateScheduler(lambda e, _lr: lr_for_epoch(e)), StopOnDivergence()],
        verbose=0 if quiet else 2,
    ).history
    return [float(v) for v in history["loss"]], epochs


def lr_find(
    config: TrainConfig,
    data: Any,
    out_dir: str | Path = "artifacts",
    *,
    max_rate: float = 1.0,
    quiet: bool = False,
    plot: bool = True,
) -> LRFindResult:
    """Run the range test on a fresh ``config.arch`` model; write lr_find.json and the plot.

    Stops after the epoch whose rate reaches ``max_rate`` or once the loss is NaN or
    four times its lowest value. Uses the arch's optimizer, loss and batch size and
    the whole training split each epoch, as the tutorial does.
    """
    if not max_rate > START_RATE:
        raise ValueError(f"max_rate must be above {START_RATE}, got {max_rate!r}.")
    start = time.perf_counter()
    cfg = config.resolve()
    check_dataset(data)
    losses, epochs = _range_test(cfg, data, max_rate, quiet)
    rates = [lr_for_epoch(e) for e in range(len(losses))]
    suggestion = suggest_rate(rates, losses)
    out = Path(out_dir)
    plot_path = None
    if plot:
        from mnistedge.train.plots import lr_find_plot

        plot_path = lr_find_plot(
            rates,
            losses,
            suggestion,
            out / "plots" / "lr_find.png",
            f"Learning-rate finder: --arch {cfg.arch}",
        )
    result = LRFindResult(
        arch=cfg.arch,
        learning_rates=rates,
        losses=losses,
        suggested_learning_rate=suggestion,
        stopped_early=len(losses) < epochs,
        seed=cfg.seed,
        batch_size=int(cfg.batch_size),
        wall_seconds=round(time.perf_counter() - start, 3),
        plot_path=plot_path,
        json_path=str(out / "lr_find.json"),
    )
    atomic_write_json(out / "lr_find.json", result.to_dict())
    if not quiet:
        print(
            f"{cfg.arch}: lowest loss {min(losses):.4f}; suggested learning rate "
            f"{suggestion:.2g} (train with --learning-rate {suggestion:.2g})",
            flush=True,
        )
    return result

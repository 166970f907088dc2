"""Optimizers and learning-rate schedules by name: the registries presets refer to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["OPTIMIZERS", "SCHEDULES", "make_optimizer"]

WARMUP_FRACTION = 0.2  # one-cycle: rise over the first fifth of the steps, then cosine to 0

# name -> (keras, learning rate or schedule) -> optimizer
OPTIMIZERS: dict[str, Callable[[Any, Any], Any]] = {
    "adam": lambda keras, rate: keras.optimizers.Adam(learning_rate=rate),
    "sgd": lambda keras, rate: keras.optimizers.SGD(learning_rate=rate),
    "sgd-nesterov": lambda keras, rate: keras.optimizers.SGD(
        learning_rate=rate, momentum=0.9, nesterov=True, weight_decay=5e-4
    ),
    "rmsprop": lambda keras, rate: keras.optimizers.RMSprop(learning_rate=rate),
}


def _constant(keras: Any, peak: float, total_steps: int) -> Any:
    return peak


def _one_cycle(keras: Any, peak: float, total_steps: int) -> Any:
    """Linear warm-up from peak/25 to peak, then cosine decay to zero (Keras built-ins only,
    so model.keras reloads without custom objects)."""
    warmup = max(1, int(total_steps * WARMUP_FRACTION))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 25,
        decay_steps=max(1, total_steps - warmup),
        alpha=0.0,
        warmup_target=peak,
        warmup_steps=warmup,
    )


# name -> (keras, peak rate, total steps) -> learning rate or schedule
SCHEDULES: dict[str, Callable[[Any, float, int], Any]] = {
    "constant": _constant,
    "one-cycle": _one_cycle,
}


def make_optimizer(keras: Any, name: str, schedule: str, peak: float, total_steps: int) -> Any:
    """Build optimizer ``name`` driven by ``schedule``; ValueError lists the known names."""
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}. Known optimizers: {', '.join(OPTIMIZERS)}.")
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}. Known schedules: {', '.join(SCHEDULES)}.")
    return OPTIMIZERS[name](keras, SCHEDULES[schedule](keras, peak, total_steps))

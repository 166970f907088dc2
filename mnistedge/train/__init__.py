"""Train the MNIST classifiers that export and bench work on.

>>> from mnistedge.train import TrainConfig, train
>>> result = train(TrainConfig(arch="cnn"), load_mnist(), out_dir="artifacts")

Importing this package is light; TensorFlow and matplotlib load when training starts.
"""

from __future__ import annotations

from mnistedge.train.archs import ARCHS, Arch, Preset, Target, build_model, count_macs
from mnistedge.train.config import TrainConfig
from mnistedge.train.loop import train
from mnistedge.train.lr_finder import LRFindResult, lr_find
from mnistedge.train.result import TrainResult

__all__ = [
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
]

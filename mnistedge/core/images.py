"""The one place MNIST image arrays are checked.

* ``check_labeled_images``: a data set's images and labels (train, export, bench, data):
  uint8 (N, 28, 28), N >= 1, one integer label 0-9 per image.
* ``as_batch``: what an app hands the runtime: one image (28, 28) or a batch (N, 28, 28),
  (N, 28, 28, 1), (N, 784); uint8 raw pixels in [0, 255] or floats in [0, 1]. uint8 needs
  no value check, which keeps the batch-1 fast path to a reshape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ACCEPTED", "as_batch", "check_dataset", "check_labeled_images"]

ACCEPTED = (
    "a numpy array of one image (28, 28) or a batch (N, 28, 28), (N, 28, 28, 1) or (N, 784), "
    "N >= 1, dtype uint8 with raw pixels in [0, 255] or float16/float32/float64 in [0, 1]"
)
_FLOAT_KINDS = frozenset("f")
_SHAPE_TAILS = {(28, 28): 3, (28, 28, 1): 4, (784,): 2}


def _batch_shape(shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """Return (N, 28, 28, 1) for an accepted shape, else None."""
    if shape == (28, 28):
        return (1, 28, 28, 1)
    ndim = len(shape)
    for tail, rank in _SHAPE_TAILS.items():
        if ndim == rank and shape[1:] == tail:
            return (shape[0], 28, 28, 1)
    return None


def as_batch(images: Any) -> np.ndarray:
    """Return ``images`` as a C-contiguous (N, 28, 28, 1) array: uint8, or float32 in [0, 1].

    Raises:
        ValueError: not an array, wrong shape, empty batch, wrong dtype, NaN/inf,
            or floats outside [0, 1]; the message names the problem and what is accepted.
    """
    if not isinstance(images, np.ndarray):
        raise ValueError(f"images must be a numpy array, got {type(images).__name__}; expected {ACCEPTED}")
    shape = _batch_shape(images.shape)
    if shape is None:
        raise ValueError(f"images have shape {images.shape}; expected {ACCEPTED}")
    if shape[0] == 0:
        raise ValueError(f"images is an empty batch (shape {images.shape}); expected {ACCEPTED}")
    dtype = images.dtype
    if dtype == np.uint8:
        return np.ascontiguousarray(images.reshape(shape))
    if dtype.kind not in _FLOAT_KINDS:
        raise ValueError(f"images have dtype {dtype}; expected {ACCEPTED}")
    batch = np.ascontiguousarray(images.reshape(shape), dtype=np.float32)
    lo, hi = batch.min(), batch.max()
    if not (lo >= 0.0 and hi <= 1.0):  # also False for NaN
        raise ValueError(_float_problem(images) + f"; expected {ACCEPTED}")
    return batch


def _float_problem(images: np.ndarray) -> str:
    """Describe what is wrong with float images that failed the [0, 1] check."""
    values = images.astype(np.float64, copy=False)
    n_nan = int(np.isnan(values).sum())
    if n_nan:
        return f"images contain {n_nan} NaN value(s)"
    n_inf = int(np.isinf(values).sum())
    if n_inf:
        return f"images contain {n_inf} infinite value(s)"
    lo, hi = float(values.min()), float(values.max())
    hint = " (raw 0-255 pixels? pass them as uint8, or divide by 255)" if hi > 1.0 else ""
    return f"float images must lie in [0, 1], got values in [{lo:g}, {hi:g}]{hint}"


def check_labeled_images(images: Any, labels: Any, split: str, *, where: str = "") -> None:
    """Raise ``ValueError`` unless ``images`` are uint8 (N, 28, 28), N >= 1, with N labels 0-9.

    Args:
        split: "train" or "test": the arrays are named ``x_<split>``/``y_<split>`` in messages.
        where: what holds them, e.g. "data." or "cache:/path: ", put before the names.
    """
    x, y = f"{where}x_{split}", f"{where}y_{split}"
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise ValueError(
            f"{x} must be uint8 (N, 28, 28) raw pixels, got {got}; reshape to (N, 28, 28) and convert "
            "0-1 floats with (x * 255).astype('uint8'), or pass mnistedge.data.load_mnist()."
        )
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{y} must be integer digits of shape (N,), got {labels.dtype} shape {labels.shape}; "
            "for one-hot labels pass y.argmax(axis=1)."
        )
    if len(labels) != len(images) or len(images) == 0:
        raise ValueError(
            f"{x} has {len(images)} images but y_{split} has {len(labels)} labels; need one each (N >= 1)."
        )
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{y} must hold digits 0-9, got values in [{labels.min()}, {labels.max()}].")


def check_dataset(data: Any, splits: tuple[str, ...] = ("train", "test")) -> None:
    """``check_labeled_images`` on each split of an ``mnistedge.data.MNIST`` or look-alike."""
    for split in splits:
        images, labels = getattr(data, f"x_{split}", None), getattr(data, f"y_{split}", None)
        if images is None or labels is None:
            raise ValueError(
                f"data has no x_{split}/y_{split}; pass mnistedge.data.load_mnist() or an object with "
                "x_train, y_train, x_test, y_test arrays."
            )
        check_labeled_images(images, labels, split, where="data.")

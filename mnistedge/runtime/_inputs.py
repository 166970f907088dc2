"""Validate user images and bring them to one batch layout, (N, 28, 28, 1).

Accepted: one image (28, 28) or a batch (N, 28, 28), (N, 28, 28, 1), (N, 784);
uint8 raw pixels in [0, 255] or floats in [0, 1]. uint8 needs no value check,
which keeps the batch-1 fast path to a reshape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ACCEPTED", "as_batch"]

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

"""tf.data input pipelines: seeded shuffling and augmentation outside the model.

Augmentation lives here, not in layers, so the saved and exported graphs hold
only the inference path. Every random draw is stateless and keyed by
(seed, global step), so a run is reproducible and each epoch sees new
variants.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mnistedge.core import contract
from mnistedge.core.deps import require

__all__ = [
    "AUGMENTATION",
    "affine_transforms",
    "eval_dataset",
    "train_dataset",
    "transform_images",
]

# Light geometric jitter: MNIST digits are centred by mass, so small moves stay realistic. Scale and
# shift are the same for every recipe; the rotation range is each preset's (Preset.max_rotation_deg).
AUGMENTATION = {"max_scale": 0.1, "max_shift_px": 2.0}


def affine_transforms(tf: Any, angle: Any, scale: Any, shift: Any) -> Any:
    """(B, 8) ImageProjectiveTransform rows: rotate by ``angle`` (radians, counter-clockwise
    on screen) and scale about the image centre, then move by ``shift`` (x, y) pixels."""
    # The op maps each output pixel back to an input pixel: in = R^-1 (out - c - t) / s + c.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    c = (contract.IMAGE_SHAPE[0] - 1) / 2.0
    cx, cy = c + shift[:, 0], c + shift[:, 1]
    return tf.stack(
        [
            cos,
            -sin,
            c - (cos * cx - sin * cy),
            sin,
            cos,
            c - (sin * cx + cos * cy),
            tf.zeros_like(cos),
            tf.zeros_like(cos),
        ],
        axis=1,
    )


def transform_images(tf: Any, images: Any, transforms: Any) -> Any:
    """Resample a (B, 28, 28, 1) float batch (bilinear, zero outside the image)."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=list(contract.IMAGE_SHAPE),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _augment(tf: Any, images: Any, seed: Any, max_rotation_deg: float) -> Any:
    """Random rotation, scale and shift per image, drawn statelessly from ``seed``."""
    n = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    max_angle = max_rotation_deg * math.pi / 180.0
    angle = tf.random.stateless_uniform([n], seeds[0], -max_angle, max_angle)
    scale = tf.random.stateless_uniform(
        [n], seeds[1], 1.0 - AUGMENTATION["max_scale"], 1.0 + AUGMENTATION["max_scale"]
    )
    shift = tf.random.stateless_uniform(
        [n, 2], seeds[2], -AUGMENTATION["max_shift_px"], AUGMENTATION["max_shift_px"]
    )
    return transform_images(tf, images, affine_transforms(tf, angle, scale, shift))


def _labels(tf: Any, y: Any, one_hot: bool) -> Any:
    return tf.one_hot(tf.cast(y, tf.int32), contract.NUM_CLASSES) if one_hot else y


def _fixed_prefetch(tf: Any, ds: Any) -> Any:
    """Prefetch two batches with tf.data autotuning off.

    With autotuning on, destroying a finished iterator waited on tf.data's autotune
    thread for up to 45 s at the end of fit() (seen with TF 2.21 on 2 CPU cores).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def train_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    epochs: int,
    seed: int,
    augment_epochs: int,
    one_hot: bool,
    max_rotation_deg: float = 0.0,
) -> tuple[Any, int]:
    """Batches for all ``epochs`` (reshuffled each epoch) and the steps in one epoch.

    Args:
        x: uint8 images (N, 28, 28). y: integer labels (N,).
        augment_epochs: how many leading epochs are augmented; later ones see clean images.
        max_rotation_deg: augmented images turn by up to this many degrees either way (the
            preset's; 0 keeps them upright).
    Returns:
        (dataset of (float32 (B, 28, 28, 1) raw pixels, labels), steps_per_epoch)
    """
    tf = require("tensorflow", "train")
    n = len(x)
    steps = math.ceil(n / batch_size)
    rng = np.random.default_rng(seed)
    order = tf.constant(np.stack([rng.permutation(n) for _ in range(epochs)]).astype(np.int32))
    images, labels = tf.constant(x), tf.constant(y)

    def batch(step: Any) -> tuple[Any, Any]:
        epoch, i = step // steps, step % steps
        idx = order[epoch, i * batch_size : tf.minimum((i + 1) * batch_size, n)]
        xb = tf.cast(tf.gather(images, idx), tf.float32)[..., None]
        if augment_epochs > 0:
            xb = tf.cond(
                epoch < augment_epochs,
                lambda: _augment(tf, xb, tf.stack([tf.cast(seed, tf.int64), step]), max_rotation_deg),
                lambda: xb,
            )
        return xb, _labels(tf, tf.gather(labels, idx), one_hot)

    return _fixed_prefetch(tf, tf.data.Dataset.range(epochs * steps).map(batch)), steps


def eval_dataset(x: np.ndarray, y: np.ndarray, *, batch_size: int, one_hot: bool) -> Any:
    """Unshuffled, unaugmented batches of (float32 raw pixels, labels)."""
    tf = require("tensorflow", "train")
    xs = x.astype(np.float32)[..., None]
    ds = tf.data.Dataset.from_tensor_slices((xs, y)).batch(batch_size)
    return _fixed_prefetch(tf, ds.map(lambda a, b: (a, _labels(tf, b, one_hot))))

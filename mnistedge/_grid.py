"""A labelled grid of digits, as the Keras MNIST tutorials show them (matplotlib, lazily)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from mnistedge._deps import require
from mnistedge._io import atomic_path


def save_digit_grid(
    images: np.ndarray,
    titles: Sequence[str],
    path: str | os.PathLike[str],
    *,
    suptitle: str | None = None,
    cols: int = 8,
    title_colors: Sequence[str] | None = None,
) -> None:
    """Write ``images`` (N, 28, 28) as a PNG grid, one title under each digit."""
    if len(images) != len(titles):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    if len(images) == 0:
        raise ValueError("no images to draw")
    matplotlib = require("matplotlib", "train")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(images) // cols)
    cols = min(cols, len(images))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows + 0.6), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
            color = title_colors[i] if title_colors else "black"
            ax.set_title(titles[i], fontsize=10, color=color)
    if suptitle:
        fig.suptitle(suptitle, fontsize=12)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)

"""A labelled grid of digits, as the Keras MNIST tutorials show them (matplotlib, lazily)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from mnistedge.core.deps import require
from mnistedge.core.io import atomic_path


def save_digit_grid(
    images: np.ndarray,
    titles: Sequence[str],
    path: str | os.PathLike[str],
    *,
    suptitle: str | None = None,
    cols: int = 8,
    title_color: str = "black",
    fontsize: int = 10,
    empty_message: str | None = None,
) -> str:
    """Write ``images`` (N, 28, 28) as a PNG grid, one title over each digit; return the path.

    With no images, ``empty_message`` is drawn instead (without one, that is an error).
    """
    if len(images) != len(titles):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    if len(images) == 0 and empty_message is None:
        raise ValueError("no images to draw")
    matplotlib = require("matplotlib", "train")
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    # A fixed width, whatever the count: a short grid keeps its layout (empty cells stay blank).
    rows = max(1, -(-len(images) // cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.3 * cols, 1.5 * rows + 0.6), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=fontsize, color=title_color)
    if len(images) == 0:
        axes.flat[0].text(0, 0.5, empty_message, fontsize=12)
    if suptitle:
        fig.suptitle(suptitle, fontsize=12, fontweight="bold")
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight")
    plt.close(fig)
    return str(path)

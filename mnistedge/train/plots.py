"""The PNGs a training run leaves in plots/: curves, confusion matrix, mistakes, LR finder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.deps import require
from mnistedge.core.grid import save_digit_grid
from mnistedge.core.io import atomic_path

__all__ = [
    "confusion_matrix_plot",
    "draw_training_plots",
    "lr_find_plot",
    "misclassified_gallery",
    "training_curves",
]

_TRAIN, _VAL, _TEST = "#1f77b4", "#ff7f0e", "#2ca02c"


def _pyplot() -> Any:
    matplotlib = require("matplotlib", "train")
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight")
    _pyplot().close(fig)
    return str(path)


def training_curves(
    history: dict[str, list[float]],
    test_accuracy: float,
    test_loss: float,
    path: Path,
    title: str,
    target: Any = None,
) -> str:
    """Loss and accuracy per epoch, train vs validation, with the final test figures and,
    given the arch's ``Target``, its band on the accuracy panel."""
    plt = _pyplot()
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for ax, key, test_value, label in (
        (ax_loss, "loss", test_loss, "cross-entropy loss"),
        (ax_acc, "accuracy", test_accuracy, "accuracy"),
    ):
        ax.plot(epochs, history[key], "o-", color=_TRAIN, label="train", ms=4)
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "s-", color=_VAL, label="validation", ms=4)
        ax.axhline(test_value, color=_TEST, ls="--", lw=1.2, label=f"test (final model): {test_value:.4f}")
        if target is not None and key == "accuracy":
            label_target = f"target: {target.describe()}"
            if target.high < 1.0:
                ax.axhspan(target.low, target.high, color="0.6", alpha=0.25, lw=0, label=label_target)
            else:
                ax.axhline(target.low, color="0.35", ls=":", lw=1.4, label=label_target)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
        ax.set_xticks(epochs if len(epochs) <= 20 else epochs[:: max(1, len(epochs) // 10)])
    ax_loss.set_yscale("log")
    ax_loss.set_title("Loss (log scale)")
    ax_acc.set_title("Accuracy")
    fig.suptitle(title, fontsize=13, fontweight="bold")
    return _save(fig, path)


def confusion_matrix_plot(confusion: list[list[int]], path: Path, title: str) -> str:
    """10x10 counts, rows true digit, columns predicted; colour is the row share."""
    plt = _pyplot()
    counts = np.asarray(confusion)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.2, 6.4), layout="constrained")
    # A power norm keeps the rare off-diagonal mistakes visible next to ~99 % diagonals.
    from matplotlib.colors import PowerNorm

    image = ax.imshow(share, cmap="Blues", norm=PowerNorm(gamma=0.3, vmin=0, vmax=1))
    for (i, j), n in np.ndenumerate(counts):
        if n:
            color = "white" if share[i, j] > 0.5 else ("#b00020" if i != j else "black")
            ax.text(
                j,
                i,
                str(n),
                ha="center",
                va="center",
                fontsize=9,
                color=color,
                fontweight="bold" if i != j else "normal",
            )
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    errors = int(counts.sum() - np.trace(counts))
    ax.set_title(f"{title}\n{errors} of {int(counts.sum())} test images misclassified")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true digit's images")
    return _save(fig, path)


def misclassified_gallery(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    path: Path,
    title: str,
    max_images: int = 40,
) -> str:
    """The most confidently wrong test digits, each titled with prediction and truth."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:max_images]
    titles = [f"pred {predicted[i]} ({probabilities[i, predicted[i]]:.0%})\ntrue {labels[i]}" for i in wrong]
    shown = f"{len(wrong)} most confident" if len(wrong) == max_images else f"all {len(wrong)}"
    return save_digit_grid(
        images[wrong],
        titles,
        path,
        suptitle=f"{title}: {shown} misclassified test digits",
        cols=10,
        title_color="#b00020",
        fontsize=8,
        empty_message="no misclassified test images",
    )


def lr_find_plot(rates: list[float], losses: list[float], suggestion: float, path: Path, title: str) -> str:
    """Training loss against learning rate (log axis), the valley bottom marked as the suggestion."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    ax.plot(rates, losses, "o-", color=_TRAIN, ms=3, label="training loss (one epoch per rate)")
    ax.set_xscale("log")
    best = int(np.nanargmin(losses))
    ax.axvline(suggestion, color="#b00020", ls="--", lw=1.2)
    ax.plot(
        rates[best],
        losses[best],
        "v",
        color="#b00020",
        ms=10,
        label=f"lowest loss {losses[best]:.3f}: suggested --learning-rate {suggestion:.2g}",
    )
    diverged = [r for r, v in zip(rates, losses, strict=True) if r > suggestion and v > 2 * losses[best]]
    if diverged:
        ax.axvspan(diverged[0], rates[-1], color="#b00020", alpha=0.07, label="loss > 2x its minimum")
    finite = [v for v in losses if np.isfinite(v)]
    ax.set_ylim(0, min(max(finite), 4 * min(finite) + 1.0) * 1.05)
    ax.set_xlabel("learning rate (log scale): 1e-4 · 10^(epoch/20)")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False, loc="upper right")
    ax.set_title(title, fontweight="bold")
    return _save(fig, path)


def draw_training_plots(
    plots_dir: Path,
    arch: str,
    history: dict[str, list[float]],
    evaluation: Any,
    data: Any,
    target: Any = None,
) -> dict[str, str]:
    """Draw the three standard plots of a run; returns name -> path."""
    plots_dir = Path(plots_dir)
    title = f"mnistedge train --arch {arch}"
    return {
        "training_curves": training_curves(
            history,
            evaluation.accuracy,
            evaluation.loss,
            plots_dir / "training_curves.png",
            title,
            target,
        ),
        "confusion_matrix": confusion_matrix_plot(
            evaluation.confusion_matrix,
            plots_dir / "confusion_matrix.png",
            f"{title}: test confusion matrix",
        ),
        "misclassified": misclassified_gallery(
            data.x_test,
            data.y_test.astype(np.int64),
            evaluation.probabilities,
            plots_dir / "misclassified.png",
            arch,
        ),
    }

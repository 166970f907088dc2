"""Turn a photo or scan of one handwritten digit into an MNIST-style 28x28 image.

MNIST's own recipe (LeCun et al.): light digit on a black background, the digit
fitted into a 20x20 box keeping its aspect ratio, then placed in a 28x28 field
so that its centre of mass sits at the centre. Steps here, Pillow + numpy only:

1. grayscale (transparent pixels become background);
2. invert when the background (the border's median) is light;
3. subtract the background level, find the ink with Otsu's threshold, drop specks;
4. crop to the ink, thicken thin strokes (pen on a big photo) to MNIST's ~2 px at 20x20;
5. fit into 20x20 keeping aspect, stretch contrast to 0..255;
6. paste into 28x28 so the centre of mass is at (14, 14).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "gray_from_array", "load_image", "preprocess_file", "to_mnist", "to_png_bytes"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".npy")
_FIT = 20  # MNIST digits fill a 20x20 box
_SIZE = 28
_MAX_SIDE = 1024  # big photos are shrunk first: the result is 28x28 anyway
_TARGET_STROKE = 2.2  # MNIST stroke width in pixels at the 20x20 scale, roughly


def load_image(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG/... (any mode) or a ``.npy`` as a float32 grayscale array in [0, 255].

    A ``.npy`` may hold (H, W) or (H, W, 3|4) pixels, uint8 or floats in [0, 1].
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return gray_from_array(np.load(path, allow_pickle=False), path)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, rgba)  # transparent = light background
            gray = img.convert("L")
            if max(gray.size) > _MAX_SIDE:
                gray.thumbnail((_MAX_SIDE, _MAX_SIDE), Image.Resampling.LANCZOS)
            return np.asarray(gray, dtype=np.float32)
    except UnidentifiedImageError:
        raise ValueError(
            f"{path}: not an image Pillow can read; use PNG, JPEG, BMP, GIF, WebP, TIFF or .npy"
        ) from None


def gray_from_array(array: np.ndarray, path: str | Path) -> np.ndarray:
    """One image array (H, W) or (H, W, 1|3|4), uint8 or floats in [0, 1] -> float32 [0, 255]."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].astype(np.float32).mean(axis=-1)
    if array.ndim != 2 or min(array.shape) < 2:
        raise ValueError(f"{path}: array has shape {array.shape}; expected one image (H, W) or (H, W, 3|4)")
    values = array.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: array contains NaN or infinite values")
    if array.dtype.kind == "f" and values.max(initial=0) <= 1.0:
        values = values * 255.0
    if values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise ValueError(f"{path}: pixel values outside [0, 255] (or [0, 1] for floats)")
    return values


def _otsu(values: np.ndarray) -> float:
    hist = np.bincount(np.clip(values, 0, 255).astype(np.uint8).ravel(), minlength=256)
    prob = hist / max(hist.sum(), 1)
    omega = np.cumsum(prob)
    mu = np.cumsum(prob * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    return float(np.nanargmax(between))


def _despeckle(mask: np.ndarray) -> np.ndarray:
    """Keep ink pixels with at least two ink neighbours (drops sensor noise and dust)."""
    padded = np.pad(mask, 1).astype(np.int8)
    neighbours = sum(
        padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if dy or dx
    )
    return mask & (neighbours >= 2)


def _thicken(ink: np.ndarray, mask: np.ndarray, side: int) -> np.ndarray:
    """Dilate strokes thinner than MNIST's, measured as 2 * area / perimeter."""
    from PIL import Image, ImageFilter

    area = mask.sum()
    edges = (mask[:, 1:] != mask[:, :-1]).sum() + (mask[1:, :] != mask[:-1, :]).sum()
    width = 2.0 * area / max(edges, 1)
    wanted = _TARGET_STROKE * side / _FIT
    radius = round((wanted - width) / 2)
    if radius < 1:
        return ink
    img = Image.fromarray(ink.astype(np.uint8)).filter(ImageFilter.MaxFilter(2 * radius + 1))
    return np.asarray(img, dtype=np.float32)


def to_mnist(gray: np.ndarray) -> np.ndarray:
    """A grayscale image (H, W) in [0, 255] -> an MNIST-style uint8 (28, 28) digit.

    Raises:
        ValueError: the image has no ink that stands out from its background.
    """
    from PIL import Image

    gray = np.asarray(gray, dtype=np.float32)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:  # dark ink on light paper -> light ink on black, like MNIST
        gray = 255.0 - gray
        border = 255.0 - border
    ink = np.clip(gray - np.median(border), 0, None)
    if ink.max() < 16:
        raise ValueError("no digit found: nothing stands out from the background")
    mask = _despeckle(ink > max(_otsu(ink * 255.0 / ink.max()) * ink.max() / 255.0, 8.0))
    if not mask.any():
        raise ValueError("no digit found: the ink is only isolated specks")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = np.where(mask, ink, 0)[top:bottom, left:right]
    crop = _thicken(crop, mask[top:bottom, left:right], max(crop.shape))
    h, w = crop.shape
    scale = _FIT / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(crop.astype(np.uint8)).resize(size, Image.Resampling.LANCZOS)
    digit = np.asarray(small, dtype=np.float32)
    digit = np.clip(digit * (255.0 / max(digit.max(), 1.0)), 0, 255)
    return _centre_of_mass_paste(digit)


def _centre_of_mass_paste(digit: np.ndarray) -> np.ndarray:
    h, w = digit.shape
    total = digit.sum()
    cy = (digit.sum(axis=1) @ np.arange(h)) / total
    cx = (digit.sum(axis=0) @ np.arange(w)) / total
    top = int(np.clip(round(_SIZE / 2 - 0.5 - cy), 0, _SIZE - h))
    left = int(np.clip(round(_SIZE / 2 - 0.5 - cx), 0, _SIZE - w))
    out = np.zeros((_SIZE, _SIZE), dtype=np.float32)
    out[top : top + h, left : left + w] = digit
    return np.rint(out).astype(np.uint8)


def to_png_bytes(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (28, 28) image (for ``--show``; write them with _io.atomic_write_bytes)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def preprocess_file(path: str | Path) -> np.ndarray:
    """``to_mnist(load_image(path))`` with the path in any error message."""
    try:
        return to_mnist(load_image(path))
    except ValueError as exc:
        message = str(exc)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from None

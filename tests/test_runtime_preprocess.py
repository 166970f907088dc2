"""MNIST-style preprocessing of photos and scans (Pillow + numpy only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from digit_images import FONT_DIR, render_font_digit, render_stroke_digit
from PIL import Image, ImageOps

from mnistedge.runtime.preprocess import load_image, preprocess_file, to_mnist


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


@pytest.mark.parametrize("digit", [0, 1, 4, 7, 8])
def test_output_is_mnist_shaped(digit: int) -> None:
    out = to_mnist(_gray(render_stroke_digit(digit, np.random.default_rng(digit))))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (19, 20, 21)  # the 20x20 box
    assert out.max() == 255 and out[0].max() == 0 and out[:, 0].max() == 0  # black border
    total = out.sum()
    cy = (out.sum(axis=1) @ np.arange(28)) / total
    cx = (out.sum(axis=0) @ np.arange(28)) / total
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75  # centre of mass in the middle


def test_same_digit_at_any_size_place_and_polarity_gives_the_same_image() -> None:
    rng = np.random.default_rng(0)
    ink = Image.new("L", (60, 80), 0)
    ink.paste(255, (20, 5, 40, 75))  # a bar: a "1"
    ink.paste(255, (5, 5, 40, 20))
    small = Image.new("L", (200, 200), 230)
    small.paste(ImageOps.invert(ink), (30, 100))
    big = Image.new("L", (900, 700), 200)
    big.paste(ImageOps.invert(ink.resize((240, 320))), (500, 40))
    dark = ImageOps.invert(small)  # light chalk on a dark board
    reference = to_mnist(_gray(small))
    for variant in (big, dark):
        noisy = _gray(variant) + rng.normal(0, 3, (variant.height, variant.width))
        assert _correlation(to_mnist(np.clip(noisy, 0, 255)), reference) > 0.95


def test_thin_pen_on_a_big_photo_is_thickened_like_mnist() -> None:
    out = to_mnist(_gray(render_stroke_digit(7, np.random.default_rng(1), size=1024, width=5)))
    strokes = (out > 127).sum(axis=1)
    assert np.median(strokes[strokes > 0]) >= 2  # MNIST strokes are 2-3 px wide


def test_photo_files_transparency_and_npy(tmp_path: Path) -> None:
    if not (FONT_DIR / "DejaVuSans.ttf").is_file():
        pytest.skip(f"no DejaVu fonts in {FONT_DIR} to render a digit with")
    photo = render_font_digit(3, "DejaVuSans.ttf", np.random.default_rng(2))
    photo.save(tmp_path / "three.jpg")
    from_file = preprocess_file(tmp_path / "three.jpg")
    rgba = Image.new("RGBA", (120, 120), (0, 0, 0, 0))  # transparent: becomes light paper
    rgba.paste(Image.new("RGBA", (20, 80), (0, 0, 0, 255)), (50, 20))
    rgba.save(tmp_path / "bar.png")
    assert preprocess_file(tmp_path / "bar.png").max() == 255
    np.save(tmp_path / "three.npy", np.asarray(photo) / 255.0)  # floats in [0, 1], RGB
    assert _correlation(preprocess_file(tmp_path / "three.npy"), from_file) > 0.97
    assert load_image(tmp_path / "three.jpg").dtype == np.float32


def test_what_cannot_be_a_digit(tmp_path: Path) -> None:
    Image.new("L", (64, 64), 200).save(tmp_path / "blank.png")
    with pytest.raises(ValueError, match=r"blank.png: no digit found"):
        preprocess_file(tmp_path / "blank.png")
    (tmp_path / "fake.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"fake.png: not an image Pillow can read"):
        preprocess_file(tmp_path / "fake.png")
    np.save(tmp_path / "nan.npy", np.full((28, 28), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        preprocess_file(tmp_path / "nan.npy")
    np.save(tmp_path / "cube.npy", np.zeros((4, 4, 4, 4)))
    with pytest.raises(ValueError, match=r"shape \(4, 4, 4, 4\)"):
        preprocess_file(tmp_path / "cube.npy")

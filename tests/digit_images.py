"""Digits that are not from MNIST: font-rendered and pen-stroke drawings, photographed.

"Photographed" = dark ink on off-white paper with a lighting gradient, a small
rotation, blur, sensor noise, and JPEG compression, at a few hundred pixels, with
the digit anywhere in the frame. Used by the CLI tests, and as a script to score
real-MNIST-trained models on them (the project's out-of-distribution check;
``--extended`` adds more fonts, alternative ways of writing 1, 2, 4, 7 and 9, and
thin and thick pens):

    python tests/digit_images.py artifacts/export/model_int8.tflite --out /tmp/digits
    python tests/digit_images.py old/model.keras new/model.keras --extended --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "DejaVuSans-Oblique.ttf", "DejaVuSerif-Bold.ttf")  # fmt: skip

# Pen strokes on a 0..1 square, one list of points per stroke: how people write digits.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [[(0.5, 0.05), (0.25, 0.15), (0.15, 0.5), (0.25, 0.85), (0.5, 0.95), (0.75, 0.85),
         (0.85, 0.5), (0.75, 0.15), (0.5, 0.05)]],
    1: [[(0.35, 0.2), (0.55, 0.05), (0.55, 0.95)]],
    2: [[(0.2, 0.25), (0.35, 0.08), (0.6, 0.05), (0.8, 0.2), (0.75, 0.45), (0.2, 0.92),
         (0.85, 0.92)]],
    3: [[(0.2, 0.12), (0.5, 0.04), (0.78, 0.18), (0.7, 0.4), (0.42, 0.48), (0.75, 0.58),
         (0.82, 0.8), (0.5, 0.95), (0.18, 0.85)]],
    4: [[(0.65, 0.95), (0.65, 0.05), (0.15, 0.65), (0.88, 0.65)]],
    5: [[(0.8, 0.06), (0.28, 0.06), (0.22, 0.45), (0.55, 0.4), (0.8, 0.58), (0.75, 0.85),
         (0.45, 0.95), (0.18, 0.85)]],
    6: [[(0.72, 0.06), (0.38, 0.3), (0.22, 0.65), (0.35, 0.92), (0.65, 0.92), (0.78, 0.7),
         (0.6, 0.5), (0.3, 0.55), (0.22, 0.65)]],
    7: [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)]],
    8: [[(0.5, 0.48), (0.25, 0.3), (0.3, 0.1), (0.5, 0.04), (0.7, 0.1), (0.75, 0.3), (0.5, 0.48),
         (0.22, 0.7), (0.3, 0.92), (0.5, 0.96), (0.72, 0.9), (0.78, 0.7), (0.5, 0.48)]],
    9: [[(0.78, 0.4), (0.55, 0.52), (0.28, 0.42), (0.25, 0.18), (0.5, 0.05), (0.75, 0.15),
         (0.78, 0.4), (0.72, 0.95)]],
}  # fmt: skip

# How else people write some digits: a 1 with a flag and a base, a 2 with a loop, an open 4,
# a 7 with a crossbar, a 9 with a straight stem.
STROKES_ALT: dict[int, list[list[tuple[float, float]]]] = {
    1: [[(0.3, 0.25), (0.55, 0.05), (0.55, 0.95)], [(0.3, 0.95), (0.8, 0.95)]],
    2: [[(0.2, 0.25), (0.4, 0.06), (0.7, 0.08), (0.78, 0.3), (0.5, 0.65), (0.25, 0.9), (0.3, 0.8),
         (0.5, 0.88), (0.85, 0.92)]],
    4: [[(0.45, 0.05), (0.2, 0.6), (0.85, 0.6)], [(0.68, 0.3), (0.68, 0.95)]],
    7: [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)], [(0.35, 0.5), (0.75, 0.5)]],
    9: [[(0.75, 0.35), (0.5, 0.5), (0.25, 0.35), (0.35, 0.08), (0.65, 0.06), (0.75, 0.35),
         (0.75, 0.95)]],
}  # fmt: skip

# The extended check's fonts: every DejaVu face that Debian's fonts-dejavu-core ships.
EXTENDED_FONTS = (*FONTS, "DejaVuSans-BoldOblique.ttf", "DejaVuSansMono-Bold.ttf",
                  "DejaVuSerif-Italic.ttf", "DejaVuSansCondensed.ttf")  # fmt: skip


def _photo(ink_mask, rng: np.random.Generator, size: int, hard: bool = False):
    """Compose an ink mask (PIL 'L', 255 = ink) into a photo-like RGB image of paper.

    ``hard``: a worse photo: rotation up to 25 degrees, a slant, more blur, faint ink, more
    noise. The default path draws the same random numbers as before ``hard`` existed.
    """
    from PIL import Image, ImageFilter

    angle = float(rng.uniform(-25, 25) if hard else rng.uniform(-12, 12))
    if hard:
        shear = float(rng.uniform(-0.35, 0.35))
        width = ink_mask.width + int(abs(shear) * ink_mask.height)
        offset = -shear * ink_mask.height if shear > 0 else 0.0
        ink_mask = ink_mask.transform(
            (width, ink_mask.height), Image.Transform.AFFINE, (1, shear, offset, 0, 1, 0), fillcolor=0
        )
    mask = ink_mask.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=0)
    canvas = Image.new("L", (size, size), 0)
    scale = rng.uniform(0.4, 0.8) * size / max(mask.size)
    mask = mask.resize((max(1, int(mask.width * scale)), max(1, int(mask.height * scale))))
    x0 = int(rng.integers(0, size - mask.width + 1))
    y0 = int(rng.integers(0, size - mask.height + 1))
    canvas.paste(mask, (x0, y0))
    blur = rng.uniform(1.5, 2.5) if hard else rng.uniform(0.5, 1.5)
    alpha = np.asarray(canvas.filter(ImageFilter.GaussianBlur(blur)), np.float32)
    alpha /= 255.0
    yy, xx = np.mgrid[0:size, 0:size] / size
    paper = rng.uniform(190, 240) + rng.uniform(-25, 25) * xx + rng.uniform(-25, 25) * yy
    ink = rng.uniform(50, 100) if hard else rng.uniform(15, 70)
    gray = paper * (1 - alpha) + ink * alpha + rng.normal(0, 6 if hard else 4, (size, size))
    tint = np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.88, 1.0)])
    rgb = np.clip(gray[..., None] * tint, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def render_font_digit(digit: int, font: str, rng: np.random.Generator, size: int = 320, hard: bool = False):
    """A digit typeset in a TrueType font, photographed (``hard``: badly, see _photo)."""
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(FONT_DIR / font), 200)
    box = face.getbbox(str(digit))
    mask = Image.new("L", (box[2] - box[0] + 20, box[3] - box[1] + 20), 0)
    ImageDraw.Draw(mask).text((10 - box[0], 10 - box[1]), str(digit), fill=255, font=face)
    return _photo(mask, rng, size, hard)


def render_stroke_digit(
    digit: int,
    rng: np.random.Generator,
    size: int = 320,
    width: int = 0,
    strokes: dict | None = None,
    hard: bool = False,
):
    """A digit drawn with a pen along STROKES (or ``strokes``; jittered), photographed."""
    from PIL import Image, ImageDraw

    side = 240
    mask = Image.new("L", (side, int(side * 1.2)), 0)
    draw = ImageDraw.Draw(mask)
    pen = width or int(rng.integers(10, 26))
    for stroke in (strokes or STROKES)[digit]:
        points = [
            (20 + (x + rng.normal(0, 0.02)) * (side - 40) * 0.8,
             20 + (y + rng.normal(0, 0.02)) * (mask.height - 40))
            for x, y in stroke
        ]  # fmt: skip
        draw.line(points, fill=255, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):  # round pen ends
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return _photo(mask, rng, size, hard)


def write_digit_set(out: Path, seed: int = 0, strokes_per_digit: int = 2) -> list[tuple[Path, int]]:
    """Render every digit in every font plus pen-stroke versions; return (file, true digit)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for digit in range(10):
        images = [(f"font{i}", render_font_digit(digit, f, rng)) for i, f in enumerate(FONTS)]
        images += [(f"pen{i}", render_stroke_digit(digit, rng)) for i in range(strokes_per_digit)]
        for tag, image in images:
            path = out / f"digit{digit}_{tag}.jpg"
            image.save(path, quality=int(rng.integers(70, 95)))
            written.append((path, digit))
    return written


def write_extended_set(out: Path, seed: int = 0) -> list[tuple[Path, int]]:
    """The extended check: 10 fonts, pens along STROKES at thin, usual and thick widths, the
    alternative shapes of STROKES_ALT, and badly photographed fonts and pens; 250 images per seed."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for digit in range(10):
        images = [(f"font{i}", render_font_digit(digit, f, rng)) for i, f in enumerate(EXTENDED_FONTS)]
        for tag, (low, high) in {"thin": (5, 9), "pen": (10, 26), "thick": (26, 36)}.items():
            images += [(f"{tag}{i}", render_stroke_digit(digit, rng, width=int(rng.integers(low, high))))
                       for i in range(2)]  # fmt: skip
        if digit in STROKES_ALT:
            images += [(f"alt{i}", render_stroke_digit(digit, rng, strokes=STROKES_ALT)) for i in range(2)]
        fonts = rng.choice(len(EXTENDED_FONTS), 4, replace=False)
        images += [(f"hard{i}", render_font_digit(digit, EXTENDED_FONTS[f], rng, hard=True))
                   for i, f in enumerate(fonts)]  # fmt: skip
        images += [(f"hard{4 + i}", render_stroke_digit(digit, rng, hard=True)) for i in range(4)]
        for tag, image in images:
            path = out / f"digit{digit}_{tag}.jpg"
            image.save(path, quality=int(rng.integers(70, 95)))
            written.append((path, digit))
    return written


def _kind(name: str) -> str:
    tag = name.split("_", 1)[1]
    return tag.rstrip(".jpg0123456789")


def score(models: list[Path], images: list[tuple[Path, int]]) -> list[dict]:
    """Each model's correct count per kind of image (font, pen, thin, thick, alt) and its misses."""
    from mnistedge.runtime import load
    from mnistedge.runtime.preprocess import preprocess_file

    batch = np.stack([preprocess_file(path).reshape(28, 28) for path, _ in images])
    truth = np.array([digit for _, digit in images])
    results = []
    for model in models:
        predicted = load(model).predict_proba(batch).argmax(axis=1)
        by_kind: dict[str, list[bool]] = {}
        hits = predicted == truth
        for (path, _), ok in zip(images, hits, strict=True):
            by_kind.setdefault(_kind(path.name), []).append(bool(ok))
        correct = {k: f"{sum(v)}/{len(v)}" for k, v in by_kind.items()}
        correct["all"] = f"{int(hits.sum())}/{len(images)}"
        wrong = [f"{p.parent.name}/{p.name}->{int(y)}"
                 for (p, _), y, ok in zip(images, predicted, hits, strict=True) if not ok]  # fmt: skip
        results.append({"model": str(model), "correct": correct, "wrong": wrong})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="Score models on rendered, photographed digits.")
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("rendered_digits"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--extended", action="store_true", help="250 images per seed instead of 80")
    args = parser.parse_args()
    images = []
    for seed in args.seeds:
        write = write_extended_set if args.extended else write_digit_set
        images += write(args.out / f"seed{seed}", seed)
    print(json.dumps(score(args.models, images), indent=1))


if __name__ == "__main__":
    main()

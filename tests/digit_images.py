"""Digits that are not from MNIST: font-rendered and pen-stroke drawings, photographed.

"Photographed" = dark ink on off-white paper with a lighting gradient, a small
rotation, blur, sensor noise, and JPEG compression, at a few hundred pixels, with
the digit anywhere in the frame. Used by the CLI tests, and as a script to score a
real-MNIST-trained model on them:

    python tests/digit_images.py artifacts/export/model_int8.tflite --out /tmp/digits
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


def _photo(ink_mask, rng: np.random.Generator, size: int):
    """Compose an ink mask (PIL 'L', 255 = ink) into a photo-like RGB image of paper."""
    from PIL import Image, ImageFilter

    angle = float(rng.uniform(-12, 12))
    mask = ink_mask.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=0)
    canvas = Image.new("L", (size, size), 0)
    scale = rng.uniform(0.4, 0.8) * size / max(mask.size)
    mask = mask.resize((max(1, int(mask.width * scale)), max(1, int(mask.height * scale))))
    x0 = int(rng.integers(0, size - mask.width + 1))
    y0 = int(rng.integers(0, size - mask.height + 1))
    canvas.paste(mask, (x0, y0))
    alpha = np.asarray(canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5))), np.float32)
    alpha /= 255.0
    yy, xx = np.mgrid[0:size, 0:size] / size
    paper = rng.uniform(190, 240) + rng.uniform(-25, 25) * xx + rng.uniform(-25, 25) * yy
    ink = rng.uniform(15, 70)
    gray = paper * (1 - alpha) + ink * alpha + rng.normal(0, 4, (size, size))
    tint = np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.88, 1.0)])
    rgb = np.clip(gray[..., None] * tint, 0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def render_font_digit(digit: int, font: str, rng: np.random.Generator, size: int = 320):
    """A digit typeset in a TrueType font, photographed."""
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(FONT_DIR / font), 200)
    box = face.getbbox(str(digit))
    mask = Image.new("L", (box[2] - box[0] + 20, box[3] - box[1] + 20), 0)
    ImageDraw.Draw(mask).text((10 - box[0], 10 - box[1]), str(digit), fill=255, font=face)
    return _photo(mask, rng, size)


def render_stroke_digit(digit: int, rng: np.random.Generator, size: int = 320, width: int = 0):
    """A digit drawn with a pen along STROKES (jittered), photographed."""
    from PIL import Image, ImageDraw

    side = 240
    mask = Image.new("L", (side, int(side * 1.2)), 0)
    draw = ImageDraw.Draw(mask)
    pen = width or int(rng.integers(10, 26))
    for stroke in STROKES[digit]:
        points = [
            (20 + (x + rng.normal(0, 0.02)) * (side - 40) * 0.8,
             20 + (y + rng.normal(0, 0.02)) * (mask.height - 40))
            for x, y in stroke
        ]  # fmt: skip
        draw.line(points, fill=255, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):  # round pen ends
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return _photo(mask, rng, size)


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


def main() -> None:
    parser = argparse.ArgumentParser(description="Score a model on rendered, photographed digits.")
    parser.add_argument("model", type=Path)
    parser.add_argument("--out", type=Path, default=Path("rendered_digits"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from mnistedge.core.io import atomic_write_bytes
    from mnistedge.runtime import load
    from mnistedge.runtime.preprocess import preprocess_file, to_png_bytes

    clf = load(args.model)
    rows = []
    for path, digit in write_digit_set(args.out, args.seed):
        image = preprocess_file(path)
        atomic_write_bytes(path.with_suffix(".mnist.png"), to_png_bytes(image))
        proba = clf.predict_proba(image)[0]
        rows.append({"file": path.name, "true": digit, "predicted": int(proba.argmax()),
                     "p": round(float(proba.max()), 3)})  # fmt: skip
    by_kind: dict[str, list[bool]] = {}
    for r in rows:
        kind = "pen" if "_pen" in r["file"] else "font"
        by_kind.setdefault(kind, []).append(r["true"] == r["predicted"])
    summary = {k: f"{sum(v)}/{len(v)}" for k, v in by_kind.items()}
    summary["all"] = f"{sum(r['true'] == r['predicted'] for r in rows)}/{len(rows)}"
    wrong = [r for r in rows if r["true"] != r["predicted"]]
    print(json.dumps({"model": str(args.model), "correct": summary, "wrong": wrong}, indent=1))


if __name__ == "__main__":
    main()

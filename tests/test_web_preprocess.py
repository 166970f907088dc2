"""The browser's preprocess.js gives the tensors Python's to_mnist gives, on drawing-pad digits.

The drawings are what the page's pad produces: a 280x280 canvas, black pen strokes
with round joins and caps, antialiased. Python reads each as load_image reads an
RGBA PNG; the JS gets the same RGBA bytes through grayFromRGBA. All drawings go
through one Node process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from digit_images import STROKES
from PIL import Image, ImageDraw

from mnistedge.runtime.preprocess import load_image, to_mnist

MODULE = Path(__file__).resolve().parents[1] / "mnistedge/export/web/assets/preprocess.js"
SIDE = 280  # the drawing pad's canvas
SUPERSAMPLE = 4  # drawn 4x larger, then box-averaged: antialiased edges like a canvas
MAX_MEAN_DELTA = 2.0  # on the 0..255 scale, over all pixels of all drawings

# (digit size in px, centre x, centre y as canvas fractions, pen width in px, cleared canvas?)
# Some big and centred, some small and off-centre; one per digit on a transparent canvas
# (cleared, not filled white), which grayFromRGBA must composite onto white like load_image.
LAYOUTS = (
    (220, 0.50, 0.50, 18, False),
    (100, 0.30, 0.28, 14, False),
    (160, 0.62, 0.60, 22, False),
    (70, 0.76, 0.30, 16, True),
)


class Drawing(NamedTuple):
    name: str
    digit: int | None  # None: no digit to find
    rgba: np.ndarray  # (SIDE, SIDE, 4) uint8, as ImageData gives it


def _draw(digit: int, size: float, cx: float, cy: float, pen: int, seed: int, *, cleared=False) -> np.ndarray:
    """One digit written along STROKES (jittered), as the canvas's RGBA pixels."""
    rng = np.random.default_rng(seed)
    s = SUPERSAMPLE
    coverage = Image.new("L", (SIDE * s, SIDE * s), 0)
    draw = ImageDraw.Draw(coverage)
    x0, y0 = cx * SIDE - size / 2, cy * SIDE - size / 2
    for stroke in STROKES[digit]:
        points = [
            ((x0 + (x + rng.normal(0, 0.02)) * size) * s, (y0 + (y + rng.normal(0, 0.02)) * size) * s)
            for x, y in stroke
        ]
        draw.line(points, fill=255, width=pen * s, joint="curve")
        r = pen * s / 2
        for x, y in points:  # round caps (and joins where "curve" leaves a notch)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    alpha = np.asarray(coverage.reduce(s))
    rgba = np.zeros((SIDE, SIDE, 4), np.uint8)
    if cleared:  # black ink over transparent pixels
        rgba[..., 3] = alpha
    else:  # black ink over an opaque white fill
        rgba[..., :3] = 255 - alpha[..., None]
        rgba[..., 3] = 255
    return rgba


def _drawings() -> list[Drawing]:
    out = [
        Drawing(f"{digit}-{i}", digit, _draw(digit, size, cx, cy, pen, seed=10 * digit + i, cleared=cleared))
        for digit in range(10)
        for i, (size, cx, cy, pen, cleared) in enumerate(LAYOUTS)
    ]
    out.append(Drawing("thin-7", 7, _draw(7, 240, 0.5, 0.5, 3, seed=100)))  # must get thickened
    out.append(Drawing("border-1", 1, _draw(1, 320, 0.5, 0.5, 18, seed=101)))  # runs off top and bottom
    blank = np.full((SIDE, SIDE, 4), 255, np.uint8)
    out.append(Drawing("empty", None, blank))
    speck = blank.copy()
    speck[140, 140, :3] = 0  # one black pixel: despeckled away
    out.append(Drawing("speck", None, speck))
    return out


DRIVER = """
import { readFileSync } from "node:fs";
const [moduleUrl, dataPath, width, height] = process.argv.slice(2);
const { grayFromRGBA, toMnist } = await import(moduleUrl);
const w = Number(width), h = Number(height), bytes = w * h * 4;
const data = readFileSync(dataPath);
const results = [];
for (let offset = 0; offset < data.length; offset += bytes) {
  const rgba = new Uint8ClampedArray(data.buffer, data.byteOffset + offset, bytes);
  try {
    results.push({ pixels: Array.from(toMnist(grayFromRGBA(rgba, w, h), w, h)) });
  } catch (error) {
    results.push({ error: error.message });
  }
}
process.stdout.write(JSON.stringify(results));
"""


def _run_js(drawings: list[Drawing], tmp: Path) -> list[np.ndarray | str]:
    """Each drawing through grayFromRGBA + toMnist in one Node process: (28, 28) or the error text."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: cannot run the browser's preprocess.js")
    data, driver = tmp / "drawings.rgba", tmp / "driver.mjs"
    data.write_bytes(b"".join(d.rgba.tobytes() for d in drawings))
    driver.write_text(DRIVER)
    args = [node, str(driver), MODULE.as_uri(), str(data), str(SIDE), str(SIDE)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"node failed:\n{done.stderr}"
    return [
        r["error"] if "error" in r else np.array(r["pixels"], np.float32).reshape(28, 28)
        for r in json.loads(done.stdout)
    ]


def _run_python(drawing: Drawing, tmp: Path) -> np.ndarray | str:
    """to_mnist of the drawing read back as an RGBA PNG by load_image, or the error text."""
    path = tmp / f"{drawing.name}.png"
    Image.fromarray(drawing.rgba, "RGBA").save(path)
    try:
        return to_mnist(load_image(path)).astype(np.float32)
    except ValueError as exc:
        return str(exc)


class Results(NamedTuple):
    drawings: list[Drawing]
    python: list[np.ndarray | str]
    js: list[np.ndarray | str]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    tmp = tmp_path_factory.mktemp("web_preprocess")
    drawings = _drawings()
    js = _run_js(drawings, tmp)
    assert len(js) == len(drawings)
    return Results(drawings, [_run_python(d, tmp) for d in drawings], js)


def _digit_pairs(results: Results) -> tuple[list[Drawing], np.ndarray, np.ndarray]:
    """The drawings with a digit, and their Python and JS tensors stacked (N, 28, 28)."""
    keep = [i for i, d in enumerate(results.drawings) if d.digit is not None]
    for i in keep:
        name = results.drawings[i].name
        assert not isinstance(results.python[i], str), f"{name}: Python found no digit: {results.python[i]}"
        assert not isinstance(results.js[i], str), f"{name}: JS found no digit: {results.js[i]}"
    return (
        [results.drawings[i] for i in keep],
        np.stack([results.python[i] for i in keep]),
        np.stack([results.js[i] for i in keep]),
    )


def test_js_tensors_match_python(results: Results) -> None:
    drawings, python, js = _digit_pairs(results)
    delta = np.abs(python - js)
    mean, worst = float(delta.mean()), float(delta.max())
    summary = f"mean |Δ| {mean:.4f}, max |Δ| {worst:.0f} over {len(drawings)} drawings"
    if worst:
        summary += f" (worst: {drawings[int(delta.max(axis=(1, 2)).argmax())].name})"
    print(f"\npreprocess.js vs to_mnist: {summary}")
    assert mean <= MAX_MEAN_DELTA, summary
    for d, out in zip(drawings, js, strict=True):  # MNIST's contract: integers 0..255, full contrast
        assert out.min() >= 0 and out.max() == 255 and np.array_equal(out, np.rint(out)), d.name


NO_DIGIT = (
    ("empty", "no digit found: nothing stands out from the background"),
    ("speck", "no digit found: the ink is only isolated specks"),
)


def test_js_raises_like_python(results: Results) -> None:
    names = [d.name for d in results.drawings]
    for name, message in NO_DIGIT:
        i = names.index(name)
        assert (results.python[i], results.js[i]) == (message, message), name


def test_thin_stroke_is_thickened_in_js(results: Results) -> None:
    out = results.js[[d.name for d in results.drawings].index("thin-7")]
    strokes = (out > 127).sum(axis=1)
    assert np.median(strokes[strokes > 0]) >= 2  # MNIST strokes are 2-3 px wide, the pen was 3 px of 280


@pytest.mark.integration
def test_a_real_mnist_model_reads_both_the_same(results: Results, mnist_model: Path) -> None:
    keras = pytest.importorskip("keras")
    drawings, python, js = _digit_pairs(results)
    model = keras.models.load_model(mnist_model)
    labels_py = np.asarray(model(python[..., None])).argmax(axis=1)
    labels_js = np.asarray(model(js[..., None])).argmax(axis=1)
    truth = np.array([d.digit for d in drawings])
    misread = [f"{d.name}->{p}" for d, p, t in zip(drawings, labels_py, truth, strict=True) if p != t]
    print(  # for information: how well a real MNIST model reads pad drawings at all
        f"\nreal-MNIST model: {int((labels_py == truth).sum())}/{len(truth)} right on Python's tensors, "
        f"{int((labels_js == truth).sum())}/{len(truth)} on the JS's; Python's misread: {misread}"
    )
    differ = [
        (d.name, int(p), int(j)) for d, p, j in zip(drawings, labels_py, labels_js, strict=True) if p != j
    ]
    assert not differ, f"labels differ (drawing, Python, JS): {differ}"

"""The web bundle in headless Chromium: offline, the Python runtime's labels, drawing, errors, API.

One bundle is exported from the real-MNIST model and one Chromium serves the module; every test
opens its own page (a fresh context, so a cold cache) and closes it. The page's hooks and
``window.mnistedge`` are pinned here because the bench and users' scripts rely on them.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from digit_images import STROKES
from runtime_fixtures import WEB_MODELS

from mnistedge.bench.browser import SET_IMAGES  # the bench's own transfer of test images
from mnistedge.export.web import export_web, read_catalog
from mnistedge.export.web.chromium import BrowserSession, browser_session, find_chromium
from mnistedge.export.web.server import serve_in_thread


def _missing() -> list[str]:
    missing = []
    if find_chromium() is None:
        missing.append("Chromium (`apt-get install chromium`, or scripts/system-deps.sh)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("Playwright (`pip install 'mnistedge[web]'`)")
    if shutil.which("npm") is None:
        missing.append("npm (`apt-get install nodejs npm`, or scripts/system-deps.sh)")
    return missing


MISSING = _missing()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(MISSING), reason=f"the browser tests need {'; '.join(MISSING)}"),
]

PATHS = [f"models/{name}" for name in WEB_MODELS]
N_LABELS = 300  # x_test[:300]: every model, each its own test, in a few seconds in all
# max |Δp| page vs Python runtime on those 300 images, measured here (Chromium 156, x86-64):
# fp32 ONNX 4.8e-7, fp32/fp16 TFLite 1.2e-7, dynamic-range TFLite 1.9e-5 (activations are
# quantized on the fly), int8 ONNX and TFLite 0.0. Labels: 300/300 for all ten.
MAX_PROB_DIFF = 1e-4
# int8 outputs are quantized in steps of 1/256: allow one step, should a wasm kernel round
# one value the other way (the labels must still all agree).
MAX_PROB_DIFF_INT8 = 1 / 256

# float32 values survive JSON exactly (a double holds each one), so no base64 on the way back.
PREDICT = """async (model) => {
  const {labels, probabilities} = await window.mnistedge.predict(window.__mnistedgeTest, model);
  return {labels: Array.from(labels), probabilities: Array.from(probabilities)};
}"""
INFO = "(model) => window.mnistedge.info(model)"
# The pad predicts once per frame while strokes come in, and once more after the last one: the
# answer is final once the prediction and the timing line (new ms each run) stop changing.
SETTLED_PREDICTION = """async ({quietMs, timeoutMs}) => {
  const read = () => ['prediction', 'timing']
    .map((id) => document.querySelector(`[data-testid="${id}"]`).textContent);
  const start = performance.now();
  let last = '', since = start;
  while (performance.now() - start < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, 40));
    const [prediction, timing] = read();
    if (prediction + timing !== last) [last, since] = [prediction + timing, performance.now()];
    else if (/^[0-9]$/.test(prediction) && performance.now() - since >= quietMs) return prediction;
  }
  throw new Error(`no settled prediction after ${timeoutMs} ms: ${read()}`);
}"""
DARK_PIXELS = """() => {
  const pad = document.querySelector('[data-testid="pad"]');
  const {data} = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height);
  let dark = 0;
  for (let i = 0; i < data.length; i += 4) dark += data[i] < 128;
  return dark;
}"""
# Each call's rejection as "Name: message" (null if it resolved), in one round trip.
REJECTIONS = """async () => {
  const api = window.mnistedge;
  const withValue = (index, value) => {
    const pixels = new Float32Array(2 * 784);
    pixels[index] = value;
    return pixels;
  };
  const calls = {
    plain_array: () => api.predict(new Array(784).fill(0)),
    bad_length: () => api.predict(new Float32Array(785)),
    nan: () => api.predict(withValue(5, NaN)),
    above_one: () => api.predict(withValue(800, 2.0)),
    unknown_model: () => api.predict(new Float32Array(784), 'models/nope.onnx'),
    fixed_batch: () => api.bench({model: 'models/model_b1.tflite', batch: 2}),
  };
  const out = {};
  for (const [name, call] of Object.entries(calls)) {
    try {
      await call();
      out[name] = null;
    } catch (error) {
      out[name] = `${error.name}: ${error.message}`;
    }
  }
  return out;
}"""


def _b64(images: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).decode("ascii")


@contextlib.contextmanager
def _page(session, **query) -> Iterator:
    """A fresh page of the bundle (``?threads=&model=``), closed with its context afterwards."""
    opened = session.open(**query)
    try:
        yield opened
    finally:
        opened.page.context.close()


def _predict(opened, model: str) -> tuple[np.ndarray, np.ndarray]:
    """The page's labels and probabilities (N, 10) for the images set by SET_IMAGES (the bench's)."""
    result = opened.evaluate(PREDICT, model)
    labels = np.asarray(result["labels"])
    return labels, np.asarray(result["probabilities"], np.float32).reshape(len(labels), -1)


@pytest.fixture(scope="module")
def web_bundle(tmp_path_factory: pytest.TempPathFactory, mnist_model: Path, mnist) -> Path:
    """The bundle of the real-MNIST model, each model checked on the test set (~20 s)."""
    out = tmp_path_factory.mktemp("web_export")
    return export_web(mnist_model, out_dir=out, data=mnist, verify=True).path


@pytest.fixture(scope="module")
def session(web_bundle: Path):
    with browser_session(web_bundle) as running:
        yield running


# ---- 1. offline ----


def test_the_page_fetches_only_from_its_own_origin(session, web_bundle: Path, mnist) -> None:
    models = read_catalog(web_bundle)["models"]
    one_per_runtime = {m["runtime"]: m["path"] for m in models}
    with _page(session, threads=2) as opened:
        opened.evaluate(SET_IMAGES, _b64(mnist.x_test[:4]))
        labels = {m["path"]: _predict(opened, m["path"])[0].tolist() for m in models}
        isolated = opened.evaluate("crossOriginIsolated")
        infos = {runtime: opened.evaluate(INFO, path) for runtime, path in one_per_runtime.items()}
        # The page's own list of what it loaded, independent of the session's request routing.
        resources = opened.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    with _page(session, threads=1) as single:
        single_infos = {runtime: single.evaluate(INFO, path) for runtime, path in one_per_runtime.items()}

    assert opened.blocked == [], f"requests that left 127.0.0.1: {opened.blocked}"
    origin = urlsplit(session.url)
    off_origin = [u for u in opened.local + resources if urlsplit(u)[:2] != origin[:2]]
    assert not off_origin, f"fetched from elsewhere than {session.url}: {off_origin}"
    fetched = {urlsplit(u).path.lstrip("/") for u in opened.local}
    assert {m["path"] for m in models} <= fetched, "a model was predicted with but never fetched"
    for folder in ("vendor/onnxruntime-web/", "vendor/litertjs/wasm/"):  # both runtimes really loaded
        assert any(p.startswith(folder) and p.endswith(".wasm") for p in fetched), (folder, sorted(fetched))
    assert opened.page_errors == []
    truth = mnist.y_test[:4].tolist()  # 7 2 1 0: any working model gets these
    assert all(got == truth for got in labels.values()), labels

    assert isolated is True, "not cross-origin isolated: no SharedArrayBuffer, so no wasm threads"
    assert set(infos) == {"onnxruntime-web", "litert.js"}
    for runtime, info in infos.items():
        assert (info["threads"], info["cross_origin_isolated"]) == (2, True), info
        assert info["workers"] > 0, f"{runtime}: 2 threads asked but no worker started: {info}"
    for runtime, info in single_infos.items():
        assert (info["threads"], info["workers"]) == (1, 0), f"{runtime} with ?threads=1: {info}"


# ---- 2. the page's labels are the Python runtime's, for every model ----


@pytest.fixture(scope="module")
def labels_page(session, mnist):
    with _page(session, threads=2) as opened:
        assert opened.evaluate(SET_IMAGES, _b64(mnist.x_test[:N_LABELS])) == N_LABELS * 784
        yield opened


@pytest.mark.parametrize("name", WEB_MODELS)
def test_page_labels_equal_the_python_runtime(name: str, labels_page, web_bundle: Path, mnist) -> None:
    from mnistedge.runtime import load

    path = f"models/{name}"
    labels, proba = _predict(labels_page, path)
    python = load(web_bundle / path).predict_proba(mnist.x_test[:N_LABELS])
    assert proba.shape == python.shape == (N_LABELS, 10)
    differ = np.flatnonzero(labels != python.argmax(axis=1))
    delta = float(np.abs(proba - python).max())
    print(f"\n{path}: labels {N_LABELS - differ.size}/{N_LABELS} equal, max |Δp| {delta:.2g}")
    assert differ.size == 0, (
        f"images {differ.tolist()}: page {labels[differ]}, Python {python[differ].argmax(1)}"
    )
    assert delta <= (MAX_PROB_DIFF_INT8 if "int8" in name else MAX_PROB_DIFF), delta
    assert labels_page.page_errors == []


# ---- 3. drawing on the pad with the mouse ----

DIGIT_PX = 180  # the 0..1 square of STROKES, centred on the 280 px pad: a 50 px margin each side


def _draw(page, box: dict[str, float], strokes: list[list[tuple[float, float]]]) -> None:
    """Each stroke as press, moves through its points (with steps between: pointermove events), release."""
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for stroke in strokes:
        points = [(cx + (x - 0.5) * DIGIT_PX, cy + (y - 0.5) * DIGIT_PX) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=3)
        page.mouse.up()


def test_digits_drawn_with_the_mouse_are_recognised(session, tmp_path: Path) -> None:
    from PIL import Image

    got: dict[int, str] = {}
    screenshot = tmp_path / "drawn-3.png"
    with _page(session, threads=2) as opened:
        page = opened.page
        pad = page.locator('[data-testid="pad"]')
        prediction = page.locator('[data-testid="prediction"]')
        box = pad.bounding_box()
        assert prediction.text_content() == "–"
        for digit in range(10):
            _draw(page, box, STROKES[digit])
            got[digit] = opened.evaluate(SETTLED_PREDICTION, {"quietMs": 200, "timeoutMs": 10_000})
            if digit == 3:
                page.screenshot(path=screenshot)
            page.locator('[data-testid="clear"]').click()
            assert prediction.text_content() == "–", f"Clear after {digit} left {prediction.text_content()!r}"
            assert opened.evaluate(DARK_PIXELS) == 0, f"Clear after {digit} left ink on the pad"
        assert opened.page_errors == []

    wrong = {digit: label for digit, label in got.items() if label != str(digit)}
    print(f"\ndrawn digits: {10 - len(wrong)}/10 recognised; drawn -> read: {got}")
    assert len(wrong) <= 2, f"misread (drawn -> read): {wrong}"

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(screenshot) as image:  # the 3 really is on the pad in the picture
        left, top = box["x"], box["y"]
        region = image.convert("L").crop((left, top, left + box["width"], top + box["height"]))
    dark = float((np.asarray(region) < 128).mean())
    assert 0.05 < dark < 0.5, f"the pad in {screenshot} is {dark:.1%} dark: no drawn digit?"


# ---- 4. a broken model file ----


def test_a_broken_model_shows_an_error_and_the_page_still_works(
    session, web_bundle: Path, tmp_path: Path, mnist
) -> None:
    broken = tmp_path / "web"
    shutil.copytree(web_bundle, broken)
    default = read_catalog(broken)["default_model"]
    (broken / default).write_bytes(b"not a model" * 10)
    good = "models/model.onnx"
    assert good != default
    # The module's Chromium with a second server: one thread can drive only one Playwright.
    with serve_in_thread(broken) as server:
        broken_session = BrowserSession(browser=session.browser, server=server, version=session.version)
        with _page(broken_session, threads=2) as opened:  # returns once `ready` resolved
            page = opened.page
            error = page.locator('[data-testid="error"]')
            shown = error.is_visible() and error.get_attribute("hidden") is None
            message = error.text_content()
            # Not a blank page: the pad, the model list and the API are all there.
            pad_visible = page.locator('canvas[data-testid="pad"]').is_visible()
            options = page.locator('[data-testid="model"] option').count()
            ready = opened.evaluate("window.mnistedge.ready.then(() => true)")

            page.locator('[data-testid="model"]').select_option(good)
            error.wait_for(state="hidden")  # hidden on change, and stays so: the good model opened
            opened.evaluate(SET_IMAGES, _b64(mnist.x_test[:4]))
            by_name, _ = _predict(opened, good)
            selected, _ = _predict(opened, None)  # no name: the model the select shows
    assert shown, f"the broken {default} shows no error"
    assert default in message, message
    assert (pad_visible, options, ready) == (True, len(WEB_MODELS), True)
    assert opened.page_errors == []
    assert by_name.tolist() == selected.tolist() == mnist.y_test[:4].tolist()


# ---- 5. the API and the DOM hooks ----


def test_the_page_api_and_hooks_keep_their_names(session, web_bundle: Path) -> None:
    catalog = read_catalog(web_bundle)
    in_order = [m["path"] for m in catalog["models"]]
    assert sorted(in_order) == sorted(PATHS)
    with _page(session, threads=2) as opened:
        api = opened.evaluate("""() => {
          const api = window.mnistedge;
          return {
            keys: Object.keys(api).sort(),
            types: Object.fromEntries(Object.entries(api).map(([k, v]) => [k, typeof v])),
            readyIsPromise: api.ready instanceof Promise,
            models: Array.isArray(api.models) ? [...api.models] : null,
          };
        }""")
        hooks = opened.evaluate("""() => {
          const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
          return {
            pad: $('pad')?.tagName, model: $('model')?.tagName, clear: $('clear')?.tagName,
            prediction: $('prediction')?.textContent,
            options: [...($('model')?.options ?? [])].map((o) => o.value),
          };
        }""")
        times = opened.evaluate(
            "(o) => window.mnistedge.bench(o)",
            {"model": catalog["default_model"], "batch": 1, "warmup": 2, "runs": 5},
        )
        rejected = opened.evaluate(REJECTIONS)
        assert opened.page_errors == []

    assert api["keys"] == ["bench", "info", "models", "predict", "ready"]
    assert api["types"] == {"ready": "object", "models": "object", "predict": "function", "bench": "function",
                            "info": "function"}  # fmt: skip
    assert api["readyIsPromise"] is True
    assert api["models"] == in_order  # models.json's order
    assert hooks == {
        "pad": "CANVAS",
        "model": "SELECT",
        "clear": "BUTTON",
        "prediction": "–",
        "options": in_order,
    }
    assert len(times) == 5 and all(isinstance(t, float | int) and t > 0 for t in times), times

    expected = {  # call -> what its message must say
        "plain_array": ["TypeError", "Float32Array"],
        "bad_length": ["785", "784"],
        "nan": ["NaN", "[0, 1]", "index 5 "],
        "above_one": ["value 2 ", "[0, 1]", "index 800 ", "image 1"],
        "unknown_model": ["models/nope.onnx", *in_order],
        "fixed_batch": ["models/model_b1.tflite", "fixed batch of 1"],
    }
    for call, needles in expected.items():
        message = rejected[call]
        assert message is not None, f"{call}: resolved, should have been rejected"
        assert all(n in message for n in needles), f"{call}: {message!r} lacks one of {needles}"


def test_a_bad_threads_parameter_shows_an_error_and_uses_one_thread(session) -> None:
    with _page(session, threads="abc") as opened:
        error = opened.page.locator('[data-testid="error"]')
        assert error.is_visible()
        assert "?threads=abc" in error.text_content() and "1 thread" in error.text_content()
        info = opened.evaluate(INFO, None)  # the default model
        assert (info["threads_asked"], info["threads"]) == (1, 1), info

"""The browser target: every model of a web bundle, run and timed inside headless Chromium.

For each thread count, each runtime's page is opened cold (a fresh context, so nothing is
cached) on one of its models: the time from navigation to the first prediction and the bytes
the page fetched are that runtime's cold start. Then, in that page, every model of the
runtime classifies the test images through ``window.mnistedge.predict`` (compared with the
Python runtime on the same file, and with Keras when its labels are given) and is timed by
``window.mnistedge.bench``, which measures inside the page, so Playwright's round trips are
not in the figures.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.bench.report import BenchRow
from mnistedge.bench.rows import edge_figures, latency_fields
from mnistedge.export.web import read_catalog

__all__ = ["SET_IMAGES", "BrowserConfig", "BrowserResult", "run_browser_bench"]

ENGINE_NAMES = {"onnxruntime-web": "onnxruntime-web {version} wasm", "litert.js": "LiteRT.js {version}"}
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BrowserConfig:
    """What the browser bench measures."""

    threads: tuple[int, ...] = (1, 2)  # wasm threads (?threads=N), one cold page per runtime each
    batch1_runs: int = 300  # timed batch-1 calls per model and thread count
    batch1_warmup: int = 30
    batch64_runs: int = 40  # timed batch-64 calls
    batch64_warmup: int = 5


@dataclass(frozen=True)
class BrowserResult:
    """Rows for the report, and the browser's part of the environment block."""

    rows: tuple[BenchRow, ...]
    env: dict[str, Any]  # {"browser", "user_agent", "cross_origin_isolated", "hardware_concurrency", ...}


# uint8 pixels as base64 -> window.__mnistedgeTest, a Float32Array in [0, 1]: one transfer per page.
SET_IMAGES = """(b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  window.__mnistedgeTest = Float32Array.from(bytes, (v) => v / 255);
  return window.__mnistedgeTest.length;
}"""
_PREDICT = """async (model) => {
  const {probabilities} = await window.mnistedge.predict(window.__mnistedgeTest, model);
  const bytes = new Uint8Array(probabilities.buffer);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}"""
_COLD = """async () => {
  const one = new Float32Array(784);
  await window.mnistedge.predict(one);
  return performance.now();
}"""


def _python_reference(bundle: Path, model: str, images: np.ndarray) -> np.ndarray:
    from mnistedge.runtime import load

    return load(bundle / model).predict_proba(images)


def _bytes_served_since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {path: after[path] - before.get(path, 0) for path in after if after[path] > before.get(path, 0)}


def _transfer(bundle: Path, served: dict[str, int], catalog: dict[str, Any]) -> tuple[int, int]:
    """Raw and gzip bytes of what a cold page fetched (the runtimes' gzip sizes from the catalog)."""
    known = {f"/{f['path']}": f["gzip_bytes"] for rt in catalog["runtimes"].values() for f in rt["files"]}
    compressed = 0
    for path, size in served.items():
        file = bundle / path.lstrip("/")
        if path in known:
            compressed += known[path]
        elif file.is_file():
            compressed += len(gzip.compress(file.read_bytes(), compresslevel=6, mtime=0))
        else:
            compressed += size
    return sum(served.values()), compressed


def run_browser_bench(
    bundle: str | Path,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    keras_labels: np.ndarray | None = None,
    config: BrowserConfig | None = None,
    progress: Progress | None = None,
) -> BrowserResult:
    """Measure every model of the web bundle in headless Chromium.

    Args:
        bundle: a folder written by ``mnistedge export --format web``.
        images, labels: uint8 test images (N, 28, 28) and their digits.
        keras_labels: the Keras model's top-1 on the same images, for agreement and Δ pp.

    Raises:
        FileNotFoundError: no bundle; RuntimeError: no Chromium (with how to install it).
    """
    from mnistedge.export.web.chromium import browser_session

    config = config or BrowserConfig()
    bundle = Path(bundle)
    catalog = read_catalog(bundle)
    models = catalog["models"]
    by_runtime: dict[str, list[dict[str, Any]]] = {}
    for entry in models:
        by_runtime.setdefault(entry["runtime"], []).append(entry)
    encoded = base64.b64encode(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).decode("ascii")
    predictions: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # path -> (browser proba, python proba)
    rows: list[BenchRow] = []
    env: dict[str, Any] = {}
    steps = len(config.threads) * len(models)
    done = 0
    with browser_session(bundle) as session:
        env["browser"] = f"Chromium {session.version}"
        for threads in config.threads:
            for entries in by_runtime.values():
                first = min(entries, key=lambda e: (e["batch"] or 0) != 1)  # a batch-1 model if any
                before = session.server.bytes_sent
                opened = session.open(threads=threads, model=first["path"])
                cold_ms = float(opened.evaluate(_COLD))
                served = _bytes_served_since(before, session.server.bytes_sent)
                raw, compressed = _transfer(bundle, served, catalog)
                info = opened.evaluate("(m) => window.mnistedge.info(m)", first["path"])
                env.update(
                    user_agent=info["user_agent"],
                    cross_origin_isolated=info["cross_origin_isolated"],
                    hardware_concurrency=opened.evaluate("navigator.hardwareConcurrency"),
                )
                if opened.blocked:
                    env.setdefault("blocked_requests", []).extend(opened.blocked)
                opened.evaluate(SET_IMAGES, encoded)
                for entry in entries:
                    if progress:
                        progress(done, steps, f"{entry['path']} in Chromium, {threads} thread(s)")
                    rows.extend(
                        _model_rows(opened, bundle, entry, threads, images, labels, keras_labels, config,
                                    predictions, cold=(cold_ms, raw, compressed) if entry is first else None)
                    )  # fmt: skip
                    done += 1
                opened.page.context.close()
    if progress:
        progress(steps, steps, "done")
    return BrowserResult(rows=tuple(rows), env=env)


def _model_rows(
    opened: Any,
    bundle: Path,
    entry: dict[str, Any],
    threads: int,
    images: np.ndarray,
    labels: np.ndarray,
    keras_labels: np.ndarray | None,
    config: BrowserConfig,
    predictions: dict[str, tuple[np.ndarray, np.ndarray]],
    cold: tuple[float, int, int] | None,
) -> list[BenchRow]:
    path = entry["path"]
    info = opened.evaluate("(m) => window.mnistedge.info(m)", path)
    if path not in predictions:  # the labels do not depend on the thread count
        raw = base64.b64decode(opened.evaluate(_PREDICT, path))
        browser = np.frombuffer(raw, dtype=np.float32).reshape(len(images), -1)
        predictions[path] = (browser, _python_reference(bundle, path, images))
    figures = edge_figures(*predictions[path], labels, keras_labels)
    engaged = None if threads == 1 else bool(info["threads"] > 1 and info["workers"] > 0)
    version = info["version"]
    common = {
        "artifact": f"web/{path}",
        "format": entry["format"],
        "quantization": entry["quantization"],
        "engine": ENGINE_NAMES[entry["runtime"]].format(version=version),
        "call": "predict",
        "provider": info["backend"],
        "threads": threads,
        "size_bytes": entry["size_bytes"],
        "target": "browser",
        "threads_engaged": engaged,
        **figures,
    }
    if cold is not None:
        common.update(cold_start_ms=cold[0], transfer_bytes=cold[1], transfer_gzip_bytes=cold[2])
    rows = []
    for batch, runs, warmup in ((1, config.batch1_runs, config.batch1_warmup),
                                (64, config.batch64_runs, config.batch64_warmup)):  # fmt: skip
        if entry["batch"] not in (None, batch):
            continue
        times = opened.evaluate(
            "(o) => window.mnistedge.bench(o)",
            {"model": path, "batch": batch, "warmup": warmup, "runs": runs},
        )
        rows.append(BenchRow(batch_size=batch, **common, **latency_fields(times, batch, warmup)))
    return rows

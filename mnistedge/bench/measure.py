"""Measure one model in this process; the parent runs each in a fresh child process.

``python -m mnistedge.bench.measure SPEC.json`` reads a :class:`MeasureSpec`, measures
(load time, cold first call, latency loops per batch size, the raw engine call at batch 1,
peak memory, predictions on the test images) and writes the result JSON and the predicted
labels where the spec says. One model per process keeps memory figures and engine thread
pools from bleeding into each other, and a crashing engine cannot take the bench down.
"""

from __future__ import annotations

import functools
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.bench.timing import LatencyStats, time_calls, time_interleaved, time_once
from mnistedge.core.formats import ENGINES, format_for_path
from mnistedge.core.io import atomic_path, atomic_write_json

__all__ = ["MeasureSpec", "main", "measure", "memory_baseline_mb", "peak_rss_mb"]


MIN_RUNS = 30  # timed calls a loop keeps however slow the call (the percentiles need a few)


@dataclass(frozen=True)
class MeasureSpec:
    """What one child process measures."""

    kind: str  # "runtime" (mnistedge.runtime.load) or "keras" (the reference model)
    model_path: str
    images_path: str  # .npy, uint8 (N, 28, 28) test images
    result_path: str  # the result JSON goes here
    predictions_path: str  # int64 (N,) predicted labels go here (.npy)
    batch_sizes: tuple[int, ...] = (1, 64)
    warmup: int = 50
    runs: int = 500
    provider: str = "auto"
    threads: int | None = None
    reference_runs: int = 100  # timed Keras model(x) calls
    predict_warmup: int = 3  # Keras model.predict costs ~60 ms a call: fewer calls
    predict_runs: int = 20
    load_options: dict[str, Any] = field(default_factory=dict)  # more load() arguments (scale, output...)
    evaluate: bool = True  # predict the whole test set (once per model is enough)
    eval_batch: int = 1000  # chunk size for predicting the whole test set
    loop_budget_s: float | None = None  # see BenchConfig.loop_budget_s

    def loop_counts(self, call_ns: int) -> tuple[int, int]:
        """(warmup, runs) for a call that took ``call_ns`` once: the configured counts, cut to the budget.

        A call slower than the budget allows keeps at least MIN_RUNS timed calls and one warm-up; every
        timed call still gives exactly one sample.
        """
        if self.loop_budget_s is None or call_ns <= 0:
            return self.warmup, self.runs
        fits = int(self.loop_budget_s * 1e9 / call_ns)
        runs = min(self.runs, max(MIN_RUNS, fits))
        warmup = min(self.warmup, max(1, fits // 10))
        return warmup, runs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeasureSpec:
        return cls(**{**data, "batch_sizes": tuple(data["batch_sizes"])})


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def peak_rss_mb() -> float | None:
    """This process's peak resident memory, in MiB (None where unknown)."""
    peak = _proc_status_mb("VmHWM")
    if peak is not None:
        return peak
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def memory_baseline_mb() -> float | None:
    """Reset the peak to now (Linux) and return the resident memory it starts from.

    Imports can leave a high-water mark above what stays resident; without the reset,
    later allocations would hide under it and the peak growth would read as zero.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")  # resets VmHWM to the current RSS
        return _proc_status_mb("VmRSS")
    except OSError:
        return peak_rss_mb()


def _batch(images: np.ndarray, size: int) -> np.ndarray:
    """The first ``size`` test images, repeated when the test set is smaller."""
    return images[:size] if len(images) >= size else np.resize(images, (size, *images.shape[1:]))


def _timing(call: str, batch_size: int, warmup: int, samples: np.ndarray) -> dict[str, Any]:
    stats = LatencyStats.from_samples(samples)
    return {"call": call, "batch_size": batch_size, "warmup": warmup, **stats.to_dict()}


def _elapsed_ms(start_ns: int) -> float:
    return (time.perf_counter_ns() - start_ns) / 1e6


def _measure_runtime(spec: MeasureSpec, images: np.ndarray) -> dict[str, Any]:
    from mnistedge.bench.raw import raw_call
    from mnistedge.runtime import load

    # The engine is imported before the memory baseline, so its import cost is not counted.
    importlib.import_module(ENGINES[format_for_path(spec.model_path).engine].module)
    baseline = memory_baseline_mb()
    start = time.perf_counter_ns()
    clf = load(spec.model_path, provider=spec.provider, threads=spec.threads, **spec.load_options)
    load_ms = _elapsed_ms(start)
    cold_ms = time_once(lambda: clf.predict(images[:1])) / 1e6
    timings, raw = [], []
    for size in spec.batch_sizes:
        batch = _batch(images, size)
        wrapped = functools.partial(clf.predict, batch)
        warmup, runs = spec.loop_counts(time_once(wrapped))
        if size == 1:  # the overhead pair, interleaved so load bursts hit both alike
            samples, engine = time_interleaved([wrapped, raw_call(clf, batch)], warmup=warmup, runs=runs)
            raw.append(_timing("raw", size, warmup, engine))
        else:
            samples = time_calls(wrapped, warmup=warmup, runs=runs)
        timings.append(_timing("predict", size, warmup, samples))
    peak = peak_rss_mb()
    predictions = None
    if spec.evaluate:
        chunks = range(0, len(images), spec.eval_batch)
        predictions = np.concatenate([clf.predict(images[i : i + spec.eval_batch]) for i in chunks])
    info = clf.info.to_dict()
    return {
        "info": info,
        "load_ms": load_ms,
        "cold_ms": cold_ms,
        "timings": timings,
        "raw": raw,
        "peak_memory_mb": None if peak is None or baseline is None else peak - baseline,
        "predictions": predictions,
    }


def _keras_device(tf: Any) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    return gpus[0].name.replace("/physical_device:", "") if gpus else "CPU"


def _measure_keras(spec: MeasureSpec, images: np.ndarray) -> dict[str, Any]:
    from mnistedge.core.deps import require

    tf = require("tensorflow", "train")
    keras = require("keras", "train")
    if spec.threads:
        tf.config.threading.set_intra_op_parallelism_threads(spec.threads)
    x = images[..., None].astype(np.float32)
    baseline = memory_baseline_mb()
    start = time.perf_counter_ns()
    model = keras.models.load_model(spec.model_path, compile=False)
    load_ms = _elapsed_ms(start)
    cold_ms = time_once(lambda: model(x[:1], training=False)) / 1e6
    timings = []
    for size in spec.batch_sizes:
        batch = _batch(x, size)
        calls: dict[str, tuple[Callable[[], Any], int, int]] = {
            "model(x)": (lambda b=batch: model(b, training=False), spec.warmup, spec.reference_runs),
            "model.predict": (
                lambda b=batch, n=size: model.predict(b, batch_size=n, verbose=0),
                spec.predict_warmup,
                spec.predict_runs,
            ),
        }
        for name, (fn, warmup, runs) in calls.items():
            timings.append(_timing(name, size, warmup, time_calls(fn, warmup=warmup, runs=runs)))
    peak = peak_rss_mb()
    probabilities = model.predict(x, batch_size=spec.eval_batch, verbose=0)
    info = {
        "format": "keras",
        "quantization": "none",
        "engine": "keras",
        "provider": _keras_device(tf),
        "threads": spec.threads,
    }
    return {
        "info": info,
        "load_ms": load_ms,
        "cold_ms": cold_ms,
        "timings": timings,
        "raw": [],
        "peak_memory_mb": None if peak is None or baseline is None else peak - baseline,
        "predictions": np.argmax(probabilities, axis=1),
    }


MEASURERS: dict[str, Callable[[MeasureSpec, np.ndarray], dict[str, Any]]] = {
    "runtime": _measure_runtime,
    "keras": _measure_keras,
}


def measure(spec: MeasureSpec) -> dict[str, Any]:
    """Measure ``spec`` in this process; write predictions and return the result dict.

    Raises:
        ValueError: unknown ``spec.kind``.
    """
    if spec.kind not in MEASURERS:
        raise ValueError(f"unknown measurement kind {spec.kind!r}; known: {sorted(MEASURERS)}.")
    images = np.load(spec.images_path, allow_pickle=False)
    result = MEASURERS[spec.kind](spec, images)
    predictions = result.pop("predictions")
    if predictions is not None:
        with atomic_path(spec.predictions_path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.asarray(predictions, dtype=np.int64))
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process: ``python -m mnistedge.bench.measure SPEC.json``."""
    import json

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mnistedge.bench.measure SPEC.json", file=sys.stderr)
        return 2
    spec = MeasureSpec.from_dict(json.loads(Path(args[0]).read_text(encoding="utf-8")))
    atomic_write_json(spec.result_path, measure(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Batch-1 overhead of the runtime over the bare engine call, measured in one process.

Calls alternate (raw, predict, predict_proba) so machine load hits all three alike;
each is timed with perf_counter_ns after a warm-up, and the p50s are compared.

    python tests/runtime_overhead.py artifacts/export/*.tflite artifacts/export/*.onnx
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnistedge.bench.raw import RAW_CALLS
from mnistedge.runtime import load


def raw_call(clf, tensor: np.ndarray) -> Callable[[], object]:
    """The bare engine call on an engine-ready tensor: the same one bench times."""
    return RAW_CALLS[clf.backend.engine](clf.backend, tensor)


def measure(path: Path, samples: int, threads: int | None) -> dict[str, float]:
    clf = load(path, threads=threads)
    image = np.random.default_rng(0).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    calls = {
        "raw": raw_call(clf, clf.backend.prepare(image.reshape(1, 28, 28, 1).astype(np.float32))),
        "predict": lambda: clf.predict(image),
        "predict_proba": lambda: clf.predict_proba(image),
    }
    times = {name: np.empty(samples, np.int64) for name in calls}
    for _ in range(samples // 10):
        for call in calls.values():
            call()
    clock = time.perf_counter_ns
    for i in range(samples):
        for name, call in calls.items():
            start = clock()
            call()
            times[name][i] = clock() - start
    p50 = {name: float(np.median(t)) / 1e3 for name, t in times.items()}
    return {
        "model": path.name,
        "engine": clf.info.engine,
        "provider": clf.info.provider,
        "raw_p50_us": round(p50["raw"], 2),
        "predict_p50_us": round(p50["predict"], 2),
        "predict_proba_p50_us": round(p50["predict_proba"], 2),
        "predict_ratio": round(p50["predict"] / p50["raw"], 3),
        "predict_proba_ratio": round(p50["predict_proba"] / p50["raw"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for path in args.models:
        print(json.dumps(measure(path, args.samples, args.threads)))


if __name__ == "__main__":
    main()

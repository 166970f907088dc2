"""Run a benchmark: one child process per model × provider × threads, then build the report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.bench.config import ArtifactEntry, BenchConfig, discover_artifacts, extra_entries
from mnistedge.bench.measure import MeasureSpec
from mnistedge.bench.report import BenchRow, Report
from mnistedge.bench.rows import artifact_rows, failed_row, keras_rows
from mnistedge.bench.summary import summarize
from mnistedge.core.env import capture_env
from mnistedge.core.images import check_labeled_images
from mnistedge.core.io import atomic_path, atomic_write_json
from mnistedge.core.targets import TARGETS

__all__ = ["ChildFailedError", "Progress", "run_bench", "run_child"]

# (jobs done, jobs total, what runs next) -> None; the CLI drives a progress bar with it.
Progress = Callable[[int, int, str], None]


class ChildFailedError(RuntimeError):
    """A measurement child process exited non-zero, timed out, or wrote no result."""


@dataclass(frozen=True)
class _Job:
    spec: MeasureSpec
    entry: ArtifactEntry | None  # None for the Keras reference
    label: str


def run_child(spec: MeasureSpec, *, timeout_s: float, workdir: Path) -> tuple[dict, np.ndarray | None]:
    """Measure ``spec`` in a fresh Python process; return (result, predicted labels or None).

    Raises:
        ChildFailedError: with the exit code and the tail of the child's stderr.
    """
    spec_path = atomic_write_json(workdir / f"{Path(spec.result_path).stem}.spec.json", spec.to_dict())
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    command = [sys.executable, "-m", "mnistedge.bench.measure", str(spec_path)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        raise ChildFailedError(
            f"measuring {spec.model_path} timed out after {timeout_s:.0f} s; "
            "lower --runs or raise the timeout."
        ) from exc
    result_path = Path(spec.result_path)
    if proc.returncode != 0 or not result_path.is_file():
        lines = proc.stderr.strip().splitlines()
        how = (
            f"crashed (signal {-proc.returncode})"
            if proc.returncode < 0
            else f"failed (exit code {proc.returncode})"
        )
        raise ChildFailedError(f"measuring {spec.model_path} {how}: {lines[-1] if lines else 'no output'}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    predictions = Path(spec.predictions_path)
    return result, np.load(predictions, allow_pickle=False) if predictions.is_file() else None


def _plan(
    entries: list[ArtifactEntry],
    model_path: Path | None,
    config: BenchConfig,
    workdir: Path,
    images_path: Path,
) -> list[_Job]:
    common = {
        "images_path": str(images_path),
        "batch_sizes": tuple(config.batch_sizes),
        "warmup": config.warmup,
        "runs": config.runs,
        "reference_runs": config.reference_runs,
        "predict_warmup": config.predict_warmup,
        "predict_runs": config.predict_runs,
        "loop_budget_s": config.loop_budget_s,
    }

    def spec(kind: str, path: Path, stem: str, **extra: Any) -> MeasureSpec:
        return MeasureSpec(
            kind=kind,
            model_path=str(path),
            result_path=str(workdir / f"{stem}.json"),
            predictions_path=str(workdir / f"{stem}.npy"),
            **common,
            **extra,
        )

    jobs = []
    threads = config.resolved_threads()
    if model_path is not None:
        # Keras picks its own thread pools; give it all the cores the artifacts get at most.
        jobs.append(_Job(spec("keras", model_path, "keras", threads=max(threads)), None, "Keras"))
    for i, entry in enumerate(entries):
        for provider in config.providers:
            for n in threads:
                stem = f"job{i}_{provider}_{n}"
                jobs.append(
                    _Job(
                        spec(
                            "runtime",
                            entry.path,
                            stem,
                            provider=provider,
                            threads=n,
                            load_options=entry.load_options,
                        ),
                        entry,
                        f"{entry.file} · {provider} · {n} thread{'s' if n > 1 else ''}",
                    )
                )
    return jobs


def _keras_model(model_path: str | Path | None, config: BenchConfig) -> Path | None:
    if not config.keras_reference or model_path is None:
        return None
    path = Path(model_path)
    if not path.is_file() or importlib.util.find_spec("tensorflow") is None:
        return None
    return path


def _measure(
    jobs: list[_Job], labels: np.ndarray, config: BenchConfig, workdir: Path, progress: Progress | None
) -> tuple[list[BenchRow], np.ndarray | None]:
    """Run each job's child process in turn; the Keras reference (first) feeds the others' deltas.

    Returns the rows and the Keras model's predicted labels (None when it was not measured).
    """
    reference: tuple[dict, np.ndarray] | None = None
    evaluated: dict[str, np.ndarray] = {}  # predictions do not depend on threads: once per model
    rows: list[BenchRow] = []
    for done, job in enumerate(jobs):
        if progress:
            progress(done, len(jobs), job.label)
        spec = dataclasses.replace(job.spec, evaluate=job.spec.model_path not in evaluated)
        try:
            result, predictions = run_child(spec, timeout_s=config.timeout_s, workdir=workdir)
        except ChildFailedError as exc:
            rows.append(failed_row(spec, job.entry, str(exc)))
            continue
        if predictions is not None:
            evaluated[spec.model_path] = predictions
        predictions = evaluated[spec.model_path]
        if job.entry is None:
            reference = (result, predictions)
            rows.extend(keras_rows(spec, result, predictions, labels))
        else:
            rows.extend(artifact_rows(spec, job.entry, result, predictions, labels, reference))
    if progress:
        progress(len(jobs), len(jobs), "done")
    return rows, (reference[1] if reference is not None else None)


def edge_sample(n_images: int, size: int | None) -> np.ndarray:
    """The test-image indices the edge targets run on: all, or a seeded sample of ``size``."""
    if size is None or size >= n_images:
        return np.arange(n_images)
    return np.sort(np.random.default_rng(0).choice(n_images, size, replace=False))


def _run_browser(
    bundle: Path,
    images: np.ndarray,
    labels: np.ndarray,
    keras_labels: np.ndarray | None,
    config: BenchConfig,
    progress: Progress | None,
) -> tuple[list[BenchRow], dict[str, Any]]:
    from mnistedge.bench.browser import BrowserConfig, run_browser_bench

    browser = BrowserConfig(threads=config.resolved_threads())
    result = run_browser_bench(
        bundle, images, labels, keras_labels=keras_labels, config=browser, progress=progress
    )
    return list(result.rows), result.env


def _with_progress(
    label: str, measure: Callable[[], tuple[list[BenchRow], dict[str, Any]]], progress: Progress | None
) -> tuple[list[BenchRow], dict[str, Any]]:
    """One progress step around a target measured in one go (TFLM, C)."""
    if progress:
        progress(0, 1, label)
    result = measure()
    if progress:
        progress(1, 1, "done")
    return result


def _run_tflm(
    bundle: Path,
    images: np.ndarray,
    labels: np.ndarray,
    keras_labels: np.ndarray | None,
    config: BenchConfig,
    progress: Progress | None,
) -> tuple[list[BenchRow], dict[str, Any]]:
    from mnistedge.bench.tflm import run_tflm_bench

    return _with_progress(
        f"TFLM on {len(images):,} images",
        lambda: run_tflm_bench(bundle, images, labels, keras_labels),
        progress,
    )


def _run_c(
    bundle: Path,
    images: np.ndarray,
    labels: np.ndarray,
    keras_labels: np.ndarray | None,
    config: BenchConfig,
    progress: Progress | None,
) -> tuple[list[BenchRow], dict[str, Any]]:
    from mnistedge.bench.c import run_c_bench

    return _with_progress(
        f"generated C on {len(images):,} images, {config.qemu_images:,} of them on the Cortex-M4",
        lambda: run_c_bench(bundle, images, labels, keras_labels, qemu_images=config.qemu_images),
        progress,
    )


# Edge targets measured from their export bundle: name -> runner(bundle, images, labels,
# keras_labels, config, progress) -> (rows, the target's env block).
EDGE_RUNNERS: dict[str, Callable[..., tuple[list[BenchRow], dict[str, Any]]]] = {
    "browser": _run_browser,
    "tflm": _run_tflm,
    "c": _run_c,
}


def _edge_rows(
    target: str,
    export_dir: Path,
    images: np.ndarray,
    labels: np.ndarray,
    keras_labels: np.ndarray | None,
    config: BenchConfig,
    progress: Progress | None,
) -> tuple[list[BenchRow], dict[str, Any]]:
    """``target``'s rows on the edge sample of the test set, and its env block (with wall time)."""
    chosen = edge_sample(len(images), config.edge_sample)
    started = time.perf_counter()
    rows, env = EDGE_RUNNERS[target](
        export_dir / str(TARGETS[target].bundle),
        images[chosen],
        labels[chosen],
        None if keras_labels is None else keras_labels[chosen],
        config,
        progress,
    )
    wall = round(time.perf_counter() - started, 1)
    return rows, {**env, "n_test": len(chosen), "wall_seconds": wall}


def model_target(model_path: str | Path | None) -> dict[str, Any] | None:
    """The accuracy target train.json (beside the Keras model) recorded for it, with its arch."""
    if model_path is None:
        return None
    record_path = Path(model_path).with_name("train.json")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    target = record.get("target") if isinstance(record, dict) else None
    if not isinstance(target, dict) or "stated" not in target:
        return None
    return {**target, "arch": record.get("arch")}


def run_bench(
    export_dir: str | Path,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    model_path: str | Path | None = None,
    config: BenchConfig | None = None,
    progress: Progress | None = None,
    data_source: str | None = None,
) -> Report:
    """Measure every artifact in ``export_dir`` (and the Keras model) on the test images.

    Args:
        export_dir: directory with the artifacts and (ideally) ``manifest.json``.
        images: uint8 test images (N, 28, 28); labels: their digits (N,).
        model_path: the Keras ``model.keras`` the artifacts came from; measured as the
            reference when TensorFlow is installed (None, missing file or no TensorFlow:
            no reference, so no deltas or speed-ups).
        config: what to measure; defaults to :class:`BenchConfig`.
        progress: called before each child process starts, and once at the end.
        data_source: where the test set came from, recorded in the report.

    Raises:
        FileNotFoundError / ValueError: no artifacts, or malformed test data.
    """
    config = config or BenchConfig()
    check_labeled_images(images, labels, "test")
    desktop = "desktop" in config.targets
    allow_empty = bool(config.extra_models) or not desktop
    entries = discover_artifacts(export_dir, config.only, allow_empty=allow_empty)
    entries += extra_entries(config.extra_models, {e.file for e in entries}, config.extra_load_options)
    keras_path = _keras_model(model_path, config)
    started = time.perf_counter()
    env = capture_env()
    with tempfile.TemporaryDirectory(prefix="mnistedge-bench-") as tmp:
        workdir = Path(tmp)
        images_path = workdir / "images.npy"
        with atomic_path(images_path) as part, open(part, "wb") as fh:
            np.save(fh, np.ascontiguousarray(images))
        jobs = _plan(entries if desktop else [], keras_path, config, workdir, images_path)
        rows, keras_labels = _measure(jobs, labels, config, workdir, progress)
    for target in (t for t in config.targets if t in EDGE_RUNNERS):
        edge_rows, env.extra[target] = _edge_rows(
            target, Path(export_dir), images, labels, keras_labels, config, progress
        )
        rows += edge_rows
    unique = {row.key: row for row in reversed(rows)}  # a fallen-back provider repeats a key
    rows = [row for row in rows if unique[row.key] is row]
    return Report(
        env=env,
        config={
            **config.to_dict(),
            "export_dir": str(export_dir),
            "model": str(keras_path or ""),
            "n_test": len(images),
            "data_source": data_source,
        },
        rows=tuple(rows),
        summary=summarize(rows, model_target(keras_path or model_path)),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        wall_seconds=round(time.perf_counter() - started, 3),
    )

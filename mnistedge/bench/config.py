"""Benchmark settings and the artifacts a run measures."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mnistedge.core.formats import format_for_path, loadable_formats
from mnistedge.core.manifest import MANIFEST_NAME, read_manifest

__all__ = ["ArtifactEntry", "BenchConfig", "discover_artifacts", "extra_entries", "usable_cores"]


def usable_cores() -> int:
    """Cores this process may run on (affinity and container limits included)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how hard."""

    batch_sizes: tuple[int, ...] = (1, 64)  # throughput is reported at the largest
    threads: tuple[int, ...] | None = None  # intra-op threads; None: 1 and all usable cores
    providers: tuple[str, ...] = ("auto",)  # passed to mnistedge.runtime.load
    warmup: int = 50  # untimed calls before each latency loop
    runs: int = 500  # timed calls per latency loop
    reference_runs: int = 100  # timed Keras model(x) calls (a reference, not the product)
    predict_warmup: int = 3  # Keras model.predict is ~60 ms a call, so it gets fewer calls
    predict_runs: int = 20
    keras_reference: bool = True  # measure the Keras model too (needs TensorFlow)
    timeout_s: float = 600.0  # per child process
    only: tuple[str, ...] | None = None  # artifact file names to keep (None: all)
    extra_models: tuple[str, ...] = ()  # your own .tflite/.onnx files, measured beside the exported ones
    # How to run the extra models (load()'s scale, mean, std, output); None values: read from the file.
    extra_load_options: dict[str, Any] = field(default_factory=dict)
    targets: tuple[str, ...] = ("desktop",)  # core.targets names to measure
    edge_sample: int | None = None  # test images for the edge targets' rows (None: all of them)
    qemu_images: int = 1000  # c target: images run on the Cortex-M4 under QEMU (0: no M4 row)
    # Seconds one artifact's latency loop may take: a call slower than loop_budget_s / runs gets
    # fewer timed calls (at least MIN_RUNS; the row's n_samples says how many). None: always `runs`.
    loop_budget_s: float | None = 30.0

    def __post_init__(self) -> None:
        checks = {
            "batch_sizes": (self.batch_sizes, 1),
            "threads": (self.threads or (1,), 1),
            "runs": ((self.runs, self.reference_runs, self.predict_runs), 1),
            "warmup": ((self.warmup, self.predict_warmup), 0),
        }
        for name, (values, low) in checks.items():
            if not values or any(int(v) != v or v < low for v in values):
                raise ValueError(f"{name} must be integers >= {low}, got {values!r}.")
        sample = self.edge_sample
        if sample is not None and (isinstance(sample, bool) or int(sample) != sample or sample < 1):
            raise ValueError(f"edge_sample must be None (all test images) or an int >= 1, got {sample!r}.")
        if (
            isinstance(self.qemu_images, bool)
            or int(self.qemu_images) != self.qemu_images
            or self.qemu_images < 0
        ):
            raise ValueError(
                f"qemu_images must be an int >= 0 (0: no Cortex-M4 row), got {self.qemu_images!r}."
            )
        if self.loop_budget_s is not None and self.loop_budget_s <= 0:
            raise ValueError(f"loop_budget_s must be > 0 seconds or None, got {self.loop_budget_s}.")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {self.timeout_s}.")

    def resolved_threads(self) -> tuple[int, ...]:
        """The thread counts to run, without duplicates, in ascending order."""
        return tuple(sorted(set(self.threads or (1, usable_cores()))))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["threads"] = list(self.resolved_threads())
        return data


@dataclass(frozen=True)
class ArtifactEntry:
    """An artifact to measure, as the export manifest (or its suffix) describes it."""

    file: str
    path: Path
    format: str
    quantization: str | None  # None without a manifest: the runtime's guess is used
    size_bytes: int
    manifest_status: str | None  # "ok" | "failed" | "unverified"; None without a manifest
    load_options: dict[str, Any] = field(default_factory=dict)  # extra load() arguments (extra models)


def _loadable(path: Path) -> bool:
    try:
        format_for_path(path)
    except ValueError:
        return False
    return path.is_file()


def _from_manifest(export_dir: Path) -> list[ArtifactEntry]:
    try:
        artifacts = read_manifest(export_dir)["artifacts"]
    except ValueError as exc:
        raise ValueError(f"{exc} Or re-run `mnistedge export --format all`.") from exc
    entries = []
    for name, meta in artifacts.items():
        path = export_dir / meta.get("file", name)
        if not _loadable(path):
            continue  # e.g. a SavedModel directory, or a file deleted since export
        entries.append(
            ArtifactEntry(
                file=path.name,
                path=path,
                format=meta.get("format") or format_for_path(path).name,
                quantization=meta.get("quantization") or "none",
                size_bytes=path.stat().st_size,
                manifest_status=meta.get("status"),
            )
        )
    return entries


def discover_artifacts(
    export_dir: str | Path, only: tuple[str, ...] | None = None, *, allow_empty: bool = False
) -> list[ArtifactEntry]:
    """The .tflite/.onnx artifacts in ``export_dir`` (manifest entries, else by suffix).

    Raises:
        FileNotFoundError: ``export_dir`` does not exist.
        ValueError: nothing to measure there, or ``only`` names files that are not there.
    """
    export_dir = Path(export_dir)
    if allow_empty and not export_dir.is_dir():
        return []
    if not export_dir.is_dir():
        raise FileNotFoundError(
            f"no export directory at {export_dir}: run `mnistedge export --format all` first, "
            "or pass --export-dir."
        )
    if (export_dir / MANIFEST_NAME).is_file():
        entries = _from_manifest(export_dir)
    else:
        entries = [
            ArtifactEntry(p.name, p, format_for_path(p).name, None, p.stat().st_size, None)
            for p in sorted(export_dir.iterdir())
            if _loadable(p)
        ]
    if only:
        unknown = sorted(set(only) - {e.file for e in entries})
        if unknown:
            raise ValueError(
                f"--only names {unknown}, not in {export_dir}; available: {[e.file for e in entries]}."
            )
        entries = [e for e in entries if e.file in only]
    if not entries and not allow_empty:
        suffixes = " or ".join(str(f.suffix) for f in loadable_formats())
        raise ValueError(f"no {suffixes} artifacts in {export_dir}: run `mnistedge export --format all`.")
    return entries


def extra_entries(
    paths: tuple[str, ...], taken: set[str], load_options: dict[str, Any]
) -> list[ArtifactEntry]:
    """``--extra-model`` files as entries (no manifest: the runtime reads what the file says).

    Raises:
        FileNotFoundError: a path is not a file.
        ValueError: not a loadable format, or a name already measured (rename the file).
    """
    entries = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise FileNotFoundError(f"--extra-model {path}: no such file.")
        fmt = format_for_path(path)
        if path.name in taken:
            raise ValueError(
                f"--extra-model {path}: a model named {path.name!r} is already measured; rename it."
            )
        taken.add(path.name)
        options = {k: v for k, v in load_options.items() if v is not None}
        entries.append(ArtifactEntry(path.name, path, fmt.name, None, path.stat().st_size, None, options))
    return entries

"""The benchmark report: one frozen ``BenchRow`` per measurement, one ``Report`` per run.

Field names here are the stable JSON schema of ``bench/report.json`` (README documents
them). Add fields, never rename them: baselines from older runs must stay readable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mnistedge.core.env import Environment
from mnistedge.core.io import atomic_write_json

__all__ = ["SCHEMA_VERSION", "BenchRow", "Report", "load_report"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class BenchRow:
    """One measurement: an artifact (or the Keras reference) × provider × threads × batch size."""

    artifact: str  # file name in the export dir, or "model.keras" for the Keras reference
    format: str  # "tflite" | "onnx" | "keras"
    quantization: str  # "none" | "fp16" | "dynamic" | "int8" | "int16x8" (from the manifest)
    engine: str  # "litert" | "onnxruntime" | "keras"
    call: str  # "predict" (mnistedge.runtime), "model(x)" or "model.predict" (Keras)
    provider: str  # provider/delegate that actually ran, e.g. "CPUExecutionProvider"
    threads: int | None  # intra-op threads asked for (None: the engine's default)
    batch_size: int
    status: str = "ok"  # "ok" | "failed"
    error: str | None = None  # why it failed, when it did
    size_bytes: int | None = None  # file size on disk
    load_ms: float | None = None  # loading the model (once, before any inference)
    cold_ms: float | None = None  # first inference after loading (batch 1)
    warmup: int = 0  # untimed calls before the timed ones
    n_samples: int = 0  # timed calls the latency figures come from
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    throughput_ips: float | None = None  # images per second = batch_size / p50 latency
    raw_p50_ms: float | None = None  # the bare engine call at this batch size (batch 1 only)
    overhead_ratio: float | None = None  # p50_ms / raw_p50_ms: what the runtime wrapper adds
    speedup_vs_keras: float | None = None  # Keras model(x) p50 / this p50, same batch size
    peak_memory_mb: float | None = None  # peak RSS growth from loading and running (child process)
    n_test: int | None = None  # test images the accuracy figures come from
    accuracy: float | None = None  # top-1 accuracy on the test set, in [0, 1]
    accuracy_delta_pp: float | None = None  # (accuracy - Keras accuracy) in percentage points
    agreement: float | None = None  # share of test images with the same top-1 as Keras
    flipped: int | None = None  # test images whose top-1 differs from Keras
    per_class_accuracy: list[float] | None = None  # accuracy of digits 0..9
    per_class_delta_pp: list[float] | None = None  # per-class (accuracy - Keras) in pp
    # Where it ran: "desktop" (mnistedge.runtime here) or an edge target ("browser", ...).
    target: str = "desktop"
    # Edge rows against the Python runtime on the same file ("native"): top-1 agreement,
    # max |Δp| and accuracy difference in pp over the same test images.
    native_agreement: float | None = None
    native_max_abs_prob_diff: float | None = None
    native_accuracy_delta_pp: float | None = None
    threads_engaged: bool | None = None  # False: threads were asked for but the runtime ran one
    cold_start_ms: float | None = None  # browser: navigation to the first prediction, empty cache
    transfer_bytes: int | None = None  # browser: bytes the page fetched to get there (raw)
    transfer_gzip_bytes: int | None = None  # ... and what they weigh gzip-compressed
    arena_bytes: int | None = None  # tflm: the tensor arena it ran with (tflm.json's recommended)
    flash_bytes: int | None = None  # tflm: the model's C array; c: code + weights (Cortex-M4 object)
    ram_bytes: int | None = None  # c: activation buffer + stack (measured on the Cortex-M4)
    bit_exact: bool | None = None  # c: int8 outputs equal LiteRT's reference kernels' (M4 row: the host's)
    instructions_per_inference: float | None = None  # c on the Cortex-M4: guest instructions (QEMU -icount)
    instructions_per_mac: float | None = None

    @property
    def key(self) -> tuple[str, str, str, int | None, int, str]:
        """What identifies the same measurement across runs (used by the baseline gate)."""
        return (self.artifact, self.call, self.provider, self.threads, self.batch_size, self.target)

    @property
    def is_reference(self) -> bool:
        return self.engine == "keras"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchRow:
        known = {f.name for f in fields(cls)}
        missing = {"artifact", "format", "engine", "batch_size"} - data.keys()
        if missing:
            raise ValueError(
                f"a report row lacks {sorted(missing)}: {data!r}. Is this a mnistedge bench "
                "report.json (schema_version 1)?"
            )
        defaults = {"quantization": "none", "call": "predict", "provider": "", "threads": None}
        return cls(**{**defaults, **{k: v for k, v in data.items() if k in known}})


@dataclass(frozen=True)
class Report:
    """A whole benchmark run: environment, settings, rows and the headline figures."""

    env: Environment
    config: dict[str, Any]  # settings the run used (batch sizes, threads, warm-up, runs, ...)
    rows: tuple[BenchRow, ...]
    summary: dict[str, Any] = field(default_factory=dict)  # headline figures (see summary.py)
    created: str = ""  # ISO-8601 UTC time the run finished
    wall_seconds: float | None = None
    schema_version: int = SCHEMA_VERSION
    # Where the time goes (``bench --profile``): ``profile.ProfileReport.to_dict()``; None: not profiled.
    # An added key, so schema_version stays 1: older readers ignore it, older reports lack it.
    profile: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "created": self.created,
            "wall_seconds": self.wall_seconds,
            "env": self.env.to_dict(),
            "config": self.config,
            "summary": self.summary,
            "rows": [row.to_dict() for row in self.rows],
            **({"profile": self.profile} if self.profile is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"report schema_version is {version!r}, this mnistedge reads {SCHEMA_VERSION}. "
                "Re-run `mnistedge bench` to write a current report."
            )
        return cls(
            env=Environment.from_dict(data.get("env") or {}),
            config=dict(data.get("config") or {}),
            rows=tuple(BenchRow.from_dict(row) for row in data.get("rows") or []),
            summary=dict(data.get("summary") or {}),
            created=str(data.get("created") or ""),
            wall_seconds=data.get("wall_seconds"),
            profile=data.get("profile") if isinstance(data.get("profile"), dict) else None,
        )

    def save(self, path: str | Path) -> Path:
        """Write ``report.json`` atomically."""
        return atomic_write_json(path, self.to_dict())

    @property
    def artifact_rows(self) -> tuple[BenchRow, ...]:
        return tuple(row for row in self.rows if not row.is_reference)


def load_report(path: str | Path) -> Report:
    """Read a ``report.json`` written by :meth:`Report.save`.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it is not JSON or not a mnistedge bench report of this schema.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no report at {path}: pass a report.json written by `mnistedge bench`.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a JSON report ({exc}).") from exc
    if not isinstance(data, dict) or "rows" not in data:
        raise ValueError(f"{path} is JSON but not a mnistedge bench report (no 'rows').")
    return Report.from_dict(data)

"""Where the time goes: per-op-type time of each artifact, and the engines' own benchmark tools.

ONNX Runtime names its kernels: ``SessionOptions.enable_profiling`` records every node's run,
summed here per op type (the profiler adds a few µs a node, so shares are the figure to read, not
absolute µs). LiteRT's Python API names none: its ``Interpreter`` has no profiler, and the C
profiler that ``libLiteRt.so`` exports (``LiteRtCompiledModelGetProfiler``) needs runtime options
neither Python wrapper sets; LiteRT's per-op figures come from truncation ablation
(``mnistedge.bench.ablation``) instead. As a second opinion each artifact is also timed by the
tool its engine's wheel ships (``litert-benchmark``, ``onnxruntime_test``) beside our figure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.bench.timing import LatencyStats, time_calls

__all__ = [
    "LITERT_PROFILER_NOTE",
    "OpProfile",
    "ProfileReport",
    "ToolFigure",
    "ort_op_profiles",
    "profile_onnx",
    "summarize_ort_trace",
    "tool_figure",
]

LITERT_PROFILER_NOTE = (
    "LiteRT exposes no per-op timings from Python (Interpreter has no profiler; the C profiler in "
    "libLiteRt.so needs runtime options the Python CompiledModel does not set), so LiteRT's per-op "
    "figures come from truncation ablation."
)
FIRST = " (first)"  # suffix of the first convolution's op type in ORT profiles
OVERHEAD = "(between kernels)"  # model_run time no kernel accounts for: the executor's own cost


@dataclass(frozen=True)
class OpProfile:
    """Per-op-type time of one artifact at one threads x batch setting, per call."""

    artifact: str
    engine: str
    threads: int
    batch_size: int
    method: str  # "ort-profiler" | "truncation-ablation"
    total_us: float  # one call, as the method measures it
    ops: dict[str, float]  # op type -> µs per call, largest first
    runs: int  # calls the figures average over

    def share(self, op: str) -> float:
        return self.ops.get(op, 0.0) / self.total_us if self.total_us else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ToolFigure:
    """An engine tool's latency beside ours for the same file, threads and batch."""

    artifact: str
    tool: str  # "litert-benchmark" | "onnxruntime_test"
    threads: int | None  # None: the tool's own default (onnxruntime_test sets none)
    batch_size: int
    tool_ms: float | None  # the tool's figure (None: it failed; see note)
    statistic: str  # "median" | "mean": what the tool reports
    ours_ms: float | None  # our bare engine call, same statistic, measured just before
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProfileReport:
    """Every profile, the tools' figures and the findings the report quotes."""

    profiles: tuple[OpProfile, ...]
    tools: tuple[ToolFigure, ...] = ()
    findings: tuple[str, ...] = ()  # sentences derived from the figures (see ablation.findings)
    ablation: dict[str, Any] = field(default_factory=dict)  # mnistedge.bench.ablation's result
    load_average: dict[str, list[float]] = field(default_factory=dict)
    notes: tuple[str, ...] = (LITERT_PROFILER_NOTE,)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profiles": [p.to_dict() for p in self.profiles],
            "tools": [t.to_dict() for t in self.tools],
            "findings": list(self.findings),
            "ablation": self.ablation,
            "load_average": self.load_average,
            "notes": list(self.notes),
        }


def _events_after_warmup(events: list[dict[str, Any]], warmup: int) -> tuple[list[dict], list[dict]]:
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    kept = runs[warmup:]
    if not kept:
        raise ValueError(f"the ORT profile holds {len(runs)} runs, none after the {warmup} warm-up runs.")
    start = kept[0]["ts"]
    nodes = [
        e
        for e in events
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start
    ]
    return kept, nodes


def summarize_ort_trace(events: list[dict[str, Any]], warmup: int) -> tuple[float, dict[str, float], int]:
    """(µs per run, µs per run by op type incl. OVERHEAD, runs) from an ORT profiler trace.

    The first convolution a run reaches counts apart, as "<op> (first)": a model's stem often
    has too few input channels for the int8 kernels (see the ablation's findings).
    """
    runs, nodes = _events_after_warmup(events, warmup)
    op_of = {e["name"]: e.get("args", {}).get("op_name", e["name"]) for e in nodes}
    first = next(
        (e["name"] for e in sorted(nodes, key=lambda e: e["ts"]) if "Conv" in op_of[e["name"]]), None
    )
    per_op: dict[str, float] = {}
    for e in nodes:
        op = op_of[e["name"]] + (FIRST if e["name"] == first else "")
        per_op[op] = per_op.get(op, 0.0) + e["dur"] / len(runs)
    total = sum(r["dur"] for r in runs) / len(runs)
    per_op[OVERHEAD] = max(0.0, total - sum(per_op.values()))
    return total, dict(sorted(per_op.items(), key=lambda kv: -kv[1])), len(runs)


def ort_op_profiles(
    paths: Sequence[Path], *, threads: int, batch_size: int, warmup: int = 20, runs: int = 200
) -> list[OpProfile]:
    """Profile ``.onnx`` artifacts with ONNX Runtime's own profiler (CPU provider), their runs
    interleaved (file 1, file 2, ..., file 1, ...) so a burst of load hits all of them alike."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="mnistedge-ortprof-") as tmp:
        sessions = []
        for i, path in enumerate(paths):
            options = ort.SessionOptions()
            options.enable_profiling = True
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            options.log_severity_level = 3
            options.profile_file_prefix = str(Path(tmp) / f"ort{i}")
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            sessions.append((session, {session.get_inputs()[0].name: _pixels(batch_size)}))
        for _ in range(warmup + runs):
            for session, feed in sessions:
                session.run(None, feed)
        traces = [json.loads(Path(s.end_profiling()).read_text(encoding="utf-8")) for s, _ in sessions]
    out = []
    for path, events in zip(paths, traces, strict=True):
        total, ops, n = summarize_ort_trace(events, warmup)
        out.append(OpProfile(path.name, "onnxruntime", threads, batch_size, "ort-profiler", total, ops, n))
    return out


def _pixels(batch: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (batch, 28, 28, 1)).astype(np.float32)


def _litert_tool(path: Path, threads: int, runs: int) -> tuple[float | None, str]:
    with tempfile.TemporaryDirectory(prefix="mnistedge-litert-bench-") as tmp:
        result = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", "--model", str(path),
                   "--num_threads", str(threads), "--num_runs", str(runs), "--warmup_runs", "50",
                   "--result_json", str(result)]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or not result.is_file():
            return None, f"litert-benchmark failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}"
        return float(
            json.loads(result.read_text())["latency"]["median_ms"]
        ), "CompiledModel API, 10 µs resolution"


def _ort_tool(path: Path, batch: int, runs: int) -> tuple[float | None, str]:
    command = [sys.executable, "-m", "onnxruntime.tools.onnxruntime_test", str(path), str(runs),
               "--symbolic_dims", f"batch={batch}"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    found = re.search(r"avg latency: ([0-9.eE+-]+) ms", proc.stdout)
    if proc.returncode != 0 or found is None:
        return None, f"onnxruntime_test failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}"
    return float(found.group(1)), "ORT default threads, random [0, 1) inputs, mean incl. the first call"


def tool_figure(path: Path, *, threads: int, batch_size: int, runs: int = 200, rounds: int = 3) -> ToolFigure:
    """The engine's own tool on ``path`` beside our bare engine call, in ``rounds`` alternating
    rounds (ours, tool, ours, tool, ...), each side's median over rounds: a load burst hits both."""
    from mnistedge.bench.raw import raw_call
    from mnistedge.runtime import load

    litert = path.suffix == ".tflite"
    tool, statistic = ("litert-benchmark", "median") if litert else ("onnxruntime_test", "mean")
    call = raw_call(load(path, threads=threads if litert else None), _pixels(batch_size).astype(np.uint8))
    ours, theirs, note = [], [], ""
    for _ in range(rounds):
        stats = LatencyStats.from_samples(time_calls(call, warmup=20, runs=runs))
        ours.append(stats.p50_ms if litert else stats.mean_ms)
        if litert and batch_size != 1:
            note = "litert-benchmark runs the file's own input shape (batch 1); it has no resize flag"
            continue
        tool_ms, note = _litert_tool(path, threads, runs) if litert else _ort_tool(path, batch_size, runs)
        if tool_ms is not None:
            theirs.append(tool_ms)
    figure = float(np.median(theirs)) if theirs else None
    note = f"{note}; median of {rounds} alternating rounds" if theirs else note
    return ToolFigure(path.name, tool, threads if litert else None, batch_size, figure, statistic,
                      float(np.median(ours)), note)  # fmt: skip


def profile_onnx(
    paths: Sequence[Path], threads: Sequence[int], batch_sizes: Sequence[int]
) -> list[OpProfile]:
    """ORT profiler figures for every ``.onnx`` in ``paths`` x threads x batch sizes."""
    onnx = [p for p in paths if p.suffix == ".onnx"]
    if not onnx:
        return []
    return [
        profile
        for t in threads
        for b in batch_sizes
        for profile in ort_op_profiles(onnx, threads=t, batch_size=b, runs=200 if b == 1 else 20)
    ]


def load_now() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]

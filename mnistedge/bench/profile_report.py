"""Run the profile for an export directory, derive its findings, and render its report section."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnistedge.bench.profile import (
    FIRST,
    OVERHEAD,
    OpProfile,
    ProfileReport,
    load_now,
    profile_onnx,
    tool_figure,
)
from mnistedge.bench.summary import fmt_ms

__all__ = ["attach_profile", "findings", "profile_artifacts", "profile_markdown"]

ARTIFACTS = {"none": "model.tflite", "dynamic": "model_dynamic.tflite", "int8": "model_int8.tflite"}
_CONV = {"onnx_int8": ("QLinearConv",), "onnx_fp32": ("Conv", "FusedConv")}  # + FIRST: the stem


def profile_artifacts(
    export_dir: str | os.PathLike[str],
    *,
    model_path: str | os.PathLike[str] | None = None,
    calibration_images: Any = None,
    threads: Sequence[int] = (1, 2),
    batch_sizes: Sequence[int] = (1, 64),
    tools: bool = True,
    ablation: bool = True,
) -> ProfileReport:
    """ORT profiler on every .onnx, LiteRT truncation ablation (needs the Keras model and
    TensorFlow), and the engines' own tools beside our figures; then the findings."""
    export = Path(export_dir)
    start = load_now()
    onnx = sorted(export.glob("*.onnx"))
    profiles = profile_onnx(onnx, threads, batch_sizes)
    notes = list(ProfileReport((), ()).notes)
    result: dict[str, Any] = {}
    if ablation and model_path is not None and Path(model_path).is_file() and calibration_images is not None:
        from mnistedge.bench.ablation import litert_profiles, run_ablation

        result = run_ablation(model_path, calibration_images, threads=threads, batch_sizes=batch_sizes)
        profiles += litert_profiles(result, ARTIFACTS)
    elif ablation:
        notes.append("No LiteRT ablation: it needs the Keras model (--model) and TensorFlow.")
    figures = []
    if tools:
        for path in [*sorted(export.glob("*.tflite")), *onnx]:
            for t in threads if path.suffix == ".tflite" else (None,):
                for b in batch_sizes if path.suffix == ".onnx" else (1,):
                    figures.append(
                        tool_figure(path, threads=t or 1, batch_size=b, runs=200 if b == 1 else 20)
                    )
    report = ProfileReport(tuple(profiles), tuple(figures), (), result, {"start": start, "end": load_now()},
                           tuple(notes))  # fmt: skip
    return ProfileReport(**{**report.__dict__, "findings": tuple(findings(report))})


def attach_profile(report: Any, profile: ProfileReport) -> Any:
    """``report`` (a bench Report) with the profile and its headline finding in the summary."""
    import dataclasses

    summary = {**report.summary, "profile_findings": list(profile.findings)}
    return dataclasses.replace(report, profile=profile.to_dict(), summary=summary)


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def _find(profiles: Sequence[OpProfile], artifact: str, threads: int, batch: int) -> OpProfile | None:
    return next(
        (p for p in profiles if p.artifact == artifact and p.threads == threads and p.batch_size == batch),
        None,
    )


def _steps(ablation: dict[str, Any], quantization: str, threads: int, batch: int) -> list[float] | None:
    """Each stage's own µs (prefix k minus prefix k-1), or None when not measured."""
    for t in ablation.get("timings", []):
        if (t["quantization"], t["threads"], t["batch_size"]) == (quantization, threads, batch):
            c = t["cumulative_us"]
            return [c[k] - (c[k - 1] if k else 0.0) for k in range(len(c))]
    return None


def _litert_gap(ablation: dict[str, Any], threads: int, batch: int) -> str | None:
    int8, dyn = _steps(ablation, "int8", threads, batch), _steps(ablation, "dynamic", threads, batch)
    if int8 is None or dyn is None:
        return None
    gaps: dict[str, float] = {}
    for k, stage in enumerate(ablation["stages"]):
        key = "+".join(dict.fromkeys(stage["ops"])) or stage["name"]
        gaps[key] = gaps.get(key, 0.0) + int8[k] - dyn[k]
    text = ", ".join(f"{op} {us:+.0f} µs" for op, us in sorted(gaps.items(), key=lambda kv: -abs(kv[1])))
    return (
        f"LiteRT, {_threads(threads)}, batch {batch}: int8 {sum(int8):.0f} µs a call against dynamic-range "
        f"{sum(dyn):.0f} µs ({sum(int8) / sum(dyn):.2f}x); by truncation the gap per op type is {text}."
    )


def _headline(ablation: dict[str, Any], threads: int = 1) -> str | None:
    """The 1-thread int8 vs dynamic-range gap in one sentence: which stage, why, and what closes it."""
    per_batch = {}
    for b in (1, 64):
        int8, dyn = _steps(ablation, "int8", threads, b), _steps(ablation, "dynamic", threads, b)
        if int8 is not None and dyn is not None:
            per_batch[b] = (int8, dyn)
    if not per_batch:
        return None
    b = max(per_batch)
    int8, dyn = per_batch[b]
    k = max(range(len(int8)), key=lambda i: int8[i] - dyn[i])
    stage = ablation["stages"][k]
    fixed = next((v["us"] for v in ablation.get("variants", []) if v["name"] == "tflite int8, stem conv float"
                  and v["threads"] == threads and v["batch_size"] == b), None)  # fmt: skip
    totals = "; ".join(f"batch {n}: {sum(i8):.0f} vs {sum(d):.0f} µs" for n, (i8, d) in per_batch.items())
    text = (
        f"With {_threads(threads)}, int8 vs dynamic-range TFLite per call: {totals}; truncation puts "
        f"{int8[k] - dyn[k]:+.0f} µs of the batch-{b} difference ({sum(int8) - sum(dyn):+.0f} µs) "
        f"in stage {k + 1} "
        f"({stage['name']}: {'+'.join(stage['ops'])}, int8 {int8[k]:.0f} µs vs dynamic-range {dyn[k]:.0f} µs)"
    )
    facts = ablation.get("facts", {})
    if k == 0 and facts.get("stem_input_channels") == 1:
        text += (
            ". That is the 1-channel stem: XNNPACK's x86 int8 convolution kernels read 8 input channels per "
            "kernel tap (AVX2 'c8' kernels, VPMADDWD on int16-widened int8; this CPU has "
            f"{'VNNI' if facts.get('vnni') else 'no VNNI'}), so 1 channel is padded to 8"
        )
        if facts.get("dynamic_stem_dtype") == "float32":
            text += ", while dynamic-range leaves that conv float (too few weights to quantize)"
    if fixed is not None:
        text += f"; keeping that one conv float and the rest int8 takes int8 to {fixed:.0f} µs at batch {b}"
    return text + "."


def _variants(ablation: dict[str, Any], threads: int, batch: int) -> str | None:
    rows = {v["name"]: v["us"] for v in ablation.get("variants", [])
            if v["threads"] == threads and v["batch_size"] == batch}  # fmt: skip
    if not rows:
        return None
    text = ", ".join(f"{name} {us:.0f} µs" for name, us in rows.items())
    return f"Same loop ({_threads(threads)}, batch {batch}), other exports and kernels: {text}."


_QDQ_ADDS = ("QuantizeLinear", "DequantizeLinear", "Transpose")  # what int8 QDQ runs that fp32 does not


def _ort_gap(profiles: Sequence[OpProfile]) -> str | None:
    int8, fp32 = _find(profiles, "model_int8.onnx", 1, 1), _find(profiles, "model.onnx", 1, 1)
    if int8 is None or fp32 is None:
        return None
    first8 = sum(int8.ops.get(op + FIRST, 0.0) for op in _CONV["onnx_int8"])
    first32 = sum(fp32.ops.get(op + FIRST, 0.0) for op in _CONV["onnx_fp32"])
    conv8 = first8 + sum(int8.ops.get(op, 0.0) for op in _CONV["onnx_int8"])
    conv32 = first32 + sum(fp32.ops.get(op, 0.0) for op in _CONV["onnx_fp32"])
    added = {op: int8.ops[op] for op in _QDQ_ADDS if op in int8.ops}
    gap8, gap32 = int8.ops.get(OVERHEAD, 0.0), fp32.ops.get(OVERHEAD, 0.0)
    return (
        f"ONNX Runtime, 1 thread, batch 1, under its profiler: int8 QDQ {int8.total_us:.0f} µs vs fp32 "
        f"{fp32.total_us:.0f} µs a run. Its convolutions run as QLinearConv (ORT turns the int8 activations "
        f"into uint8 for MLAS's U8S8 GEMM) in {conv8:.0f} µs vs {conv32:.0f} µs for fp32 Conv "
        f"(the first conv alone: {first8:.0f} vs {first32:.0f} µs), but the nodes "
        f"QDQ adds ({', '.join(added)}) take {sum(added.values()):.0f} µs and the executor {gap8:.0f} µs "
        f"between kernels (fp32: {gap32:.0f} µs): fixed costs per run that batch 1 cannot "
        "amortize (the profiler inflates them; the ablation loop times the same files without it)."
    )


def findings(report: ProfileReport) -> list[str]:
    """Sentences derived from the figures (no figure: no sentence)."""
    ablation = report.ablation or {}
    out = [h] if (h := _headline(ablation)) else []
    for t, b in ((1, 1), (1, 64), (2, 64)):
        for sentence in (_litert_gap(ablation, t, b), _variants(ablation, t, b) if t == 1 else None):
            if sentence:
                out.append(sentence)
    if (sentence := _ort_gap(report.profiles)) is not None:
        out.append(sentence)
    return out


def _ops_cell(ops: dict[str, float], total: float, top: int = 5) -> str:
    return (
        ", ".join(f"{op} {us:.0f} µs ({100 * us / total:.0f} %)" for op, us in list(ops.items())[:top])
        if total
        else ""
    )


def profile_markdown(profile: dict[str, Any]) -> list[str]:
    """The report.md section "Where the time goes" from a ``ProfileReport.to_dict()``."""
    lines = ["## Where the time goes", "", *[f"- {f}" for f in profile.get("findings", [])], ""]
    lines += [f"_{note}_" for note in profile.get("notes", [])] + [""]
    lines += [
        "| Model | Engine | Thr | Batch | Method | Total | Top op types |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for p in profile.get("profiles", []):
        total = p["total_us"]
        cells = [p["artifact"], p["engine"], p["threads"], p["batch_size"], p["method"], fmt_ms(total / 1000)]
        lines.append("| " + " | ".join(map(str, cells)) + f" | {_ops_cell(p['ops'], total)} |")
    if profile.get("tools"):
        lines += ["", "Second opinion: the engines' own tools beside our bare engine call (same statistic, "
                  "measured just before the tool ran).", "",
                  "| Model | Tool | Thr | Batch | Tool | Ours | Tool / ours | Note |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
        for t in profile["tools"]:
            tool, ours = t["tool_ms"], t["ours_ms"]
            ratio = f"{tool / ours:.2f}x" if tool and ours else "—"
            thr = t["threads"] if t["threads"] is not None else "default"
            lines.append(f"| {t['artifact']} | {t['tool']} ({t['statistic']}) | {thr} | {t['batch_size']} | "
                         f"{fmt_ms(tool)} | {fmt_ms(ours)} | {ratio} | {t['note']} |")  # fmt: skip
    return lines

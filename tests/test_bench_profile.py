"""Where the time goes: ORT trace summaries, truncation ablation maths, findings, the report section."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_fakes import fake_report

from mnistedge.bench.ablation import litert_profiles, truncations
from mnistedge.bench.profile import (
    OVERHEAD,
    ProfileReport,
    ort_op_profiles,
    summarize_ort_trace,
    tool_figure,
)
from mnistedge.bench.profile_report import attach_profile, findings, profile_markdown
from mnistedge.bench.render import render_markdown
from mnistedge.bench.report import Report


def _run(ts: int, dur: int) -> dict:
    return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur}


def _node(ts: int, op: str, dur: int, name: str = "") -> dict:
    name = name or op.lower()
    return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": op}}


def test_ort_trace_summary_drops_warmup_and_keeps_the_executor_gap() -> None:
    # run 0 is warm-up (its nodes must not count); runs 1 and 2 are timed: the stem conv 6 + 8,
    # the second conv 10 + 20, Relu 4 + 4; the first conv a run reaches counts apart.
    events = [
        *(_run(0, 1000), _node(1, "Conv", 900, "stem")),
        *(_run(100, 50), _node(101, "Conv", 6, "stem"), _node(102, "Conv", 10), _node(103, "Relu", 4)),
        *(_run(200, 60), _node(201, "Conv", 8, "stem"), _node(202, "Conv", 20), _node(203, "Relu", 4)),
    ]
    total, ops, runs = summarize_ort_trace(events, warmup=1)
    assert runs == 2 and total == 55
    assert ops == {OVERHEAD: 29, "Conv": 15, "Conv (first)": 7, "Relu": 4}  # 55 - 15 - 7 - 4
    with pytest.raises(ValueError, match="none after the 3 warm-up runs"):
        summarize_ort_trace(events, warmup=3)


def test_ort_profiler_names_the_kernels_of_a_real_model(linear_onnx: Path) -> None:
    pytest.importorskip("onnxruntime")
    (profile,) = ort_op_profiles([linear_onnx], threads=1, batch_size=4, warmup=2, runs=5)
    assert profile.runs == 5 and profile.engine == "onnxruntime" and profile.batch_size == 4
    assert profile.total_us > 0 and {"Softmax", OVERHEAD} <= set(profile.ops)
    assert sum(profile.ops.values()) == pytest.approx(profile.total_us, rel=1e-6)


def test_onnxruntime_test_is_quoted_beside_our_figure(linear_onnx: Path) -> None:
    figure = tool_figure(linear_onnx, threads=1, batch_size=2, runs=20, rounds=1)
    assert figure.tool == "onnxruntime_test" and figure.statistic == "mean"
    assert figure.tool_ms is not None and figure.tool_ms > 0, figure.note
    assert figure.ours_ms is not None and figure.ours_ms > 0


ABLATION = {
    "stages": [{"name": "conv", "ops": ["CONV_2D"]}, {"name": "head", "ops": ["FULLY_CONNECTED", "SOFTMAX"]}],
    "timings": [
        {"quantization": "int8", "threads": 1, "batch_size": 64, "cumulative_us": [300.0, 330.0]},
        {"quantization": "dynamic", "threads": 1, "batch_size": 64, "cumulative_us": [100.0, 140.0]},
    ],
    "variants": [{"name": "tflite int8, stem conv float", "threads": 1, "batch_size": 64, "us": 120.0}],
    "facts": {"stem_input_channels": 1, "dynamic_stem_dtype": "float32", "vnni": False},
}


def test_litert_profiles_split_the_prefix_times_by_op_type() -> None:
    profiles = litert_profiles(ABLATION, {"int8": "model_int8.tflite"})
    int8 = next(p for p in profiles if p.artifact == "model_int8.tflite")
    assert int8.total_us == 330 and int8.ops == {"CONV_2D": 300, "FULLY_CONNECTED+SOFTMAX": 30}
    assert int8.method == "truncation-ablation" and int8.share("CONV_2D") == pytest.approx(300 / 330)


def test_findings_name_the_stage_behind_the_gap_and_what_closes_it() -> None:
    headline, *rest = findings(ProfileReport((), ablation=ABLATION))
    assert "batch 64: 330 vs 140 µs" in headline
    assert "+200 µs of the batch-64 difference (+190 µs) in stage 1 (conv: CONV_2D" in headline
    assert "1 channel is padded to 8" in headline and "no VNNI" in headline
    assert "takes int8 to 120 µs at batch 64" in headline
    assert any("CONV_2D +200 µs, FULLY_CONNECTED+SOFTMAX -10 µs" in line for line in rest)
    # no stem fact, no kernel story: the sentence says only what was measured
    plain = findings(ProfileReport((), ablation={**ABLATION, "facts": {}}))[0]
    assert "padded" not in plain


def test_profile_rides_in_the_report_and_renders_its_section(tmp_path: Path) -> None:
    profile = ProfileReport((), ablation=ABLATION)
    profile = ProfileReport(**{**profile.__dict__, "findings": tuple(findings(profile))})
    report = attach_profile(fake_report(), profile)
    again = Report.from_dict(report.to_dict())
    assert again.profile == report.profile and again.profile["findings"][0].startswith("With 1 thread")
    text = render_markdown(again)
    assert "## Where the time goes" in text and "LiteRT exposes no per-op timings" in text
    assert "Where the time goes: With 1 thread" in text  # the headline joins "What this means"
    assert "## Where the time goes" not in render_markdown(fake_report())
    assert "profile" not in fake_report().to_dict()  # unprofiled reports keep their old shape
    assert profile_markdown({})[0] == "## Where the time goes"


def test_truncations_cut_after_each_layer_group() -> None:
    keras = pytest.importorskip("keras")
    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(2, 3),
        keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.MaxPooling2D(),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    cuts = truncations(model)
    names = [name.split("+") for name, _ in cuts]
    assert [len(n) for n in names] == [4, 1, 1, 1]  # rescale+conv+bn+relu | pool | gap | dense
    assert cuts[-1][1] is model and cuts[0][1].output_shape == (None, 26, 26, 2)

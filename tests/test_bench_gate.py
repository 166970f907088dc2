"""The baseline regression gate: passes on the same report, fails on a doctored one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from bench_fakes import doctored, fake_report
from typer.testing import CliRunner

from mnistedge.bench.gate import check_regressions
from mnistedge.cli import app

runner = CliRunner()


def test_same_report_passes() -> None:
    report = fake_report()
    assert check_regressions(report, report, max_accuracy_drop_pp=0.0, max_latency_ratio=1.0) == []


def test_accuracy_drop_beyond_the_limit_is_listed() -> None:
    baseline = fake_report()
    current = doctored(baseline, "model_int8.tflite", accuracy=0.9935 - 0.0020)  # -0.20 pp
    found = check_regressions(current, baseline, max_accuracy_drop_pp=0.1)
    assert {r.metric for r in found} == {"accuracy"}
    assert {r.key[0] for r in found} == {"model_int8.tflite"}
    assert len(found) == 4  # 2 thread counts x 2 batch sizes
    assert "accuracy 99.35 % -> 99.15 %" in found[0].describe()
    # within the allowance: no regression
    assert check_regressions(current, baseline, max_accuracy_drop_pp=0.25) == []


def test_latency_growth_beyond_the_ratio_is_listed() -> None:
    baseline = fake_report()
    slower = tuple(
        dataclasses.replace(r, p50_ms=r.p50_ms * 2) if r.artifact == "model.onnx" and r.batch_size == 1 else r
        for r in baseline.rows
    )
    current = dataclasses.replace(baseline, rows=slower)
    found = check_regressions(current, baseline, max_latency_ratio=1.5)
    assert [(r.key[0], r.key[4], r.metric) for r in found] == [("model.onnx", 1, "p50_ms")] * 2
    assert "2.00x > 1.5x" in found[0].describe()
    assert check_regressions(current, baseline, max_latency_ratio=2.5) == []


def test_a_row_missing_or_failed_now_is_a_regression() -> None:
    baseline = fake_report()
    current = doctored(baseline, "model_fp16.tflite", status="failed", error="boom")
    found = check_regressions(current, baseline, max_accuracy_drop_pp=0.1, max_latency_ratio=1.5)
    assert {r.metric for r in found} == {"missing"}
    assert "in the baseline but not measured now" in found[0].describe()


def test_bad_thresholds_are_refused() -> None:
    report = fake_report()
    with pytest.raises(ValueError, match="max accuracy drop must be >= 0"):
        check_regressions(report, report, max_accuracy_drop_pp=-1)
    with pytest.raises(ValueError, match="max latency ratio must be > 0"):
        check_regressions(report, report, max_latency_ratio=0)


def test_cli_gate_exit_codes(tmp_path: Path) -> None:
    report = fake_report()
    current = report.save(tmp_path / "report.json")
    same = runner.invoke(app, ["bench", "--report", str(current), "--baseline", str(current)])
    assert same.exit_code == 0, same.output
    assert "no regressions" in same.output

    # A baseline that claims a better past: higher accuracy and faster int8 TFLite.
    better_past = doctored(report, "model_int8.tflite", accuracy=0.9990, p50_ms=0.001)
    old = better_past.save(tmp_path / "old.json")
    gated = runner.invoke(
        app,
        [
            "bench",
            "--report",
            str(current),
            "--baseline",
            str(old),
            "--max-accuracy-drop",
            "0.1",
            "--max-latency-ratio",
            "1.5",
        ],
    )
    assert gated.exit_code == 1, gated.output
    assert "regression(s)" in gated.output
    assert "model_int8.tflite [predict, xnnpack, 1 threads, batch 1]: accuracy 99.90 % -> 99.35 %" in (
        gated.output
    )


def test_cli_bad_baseline_and_bad_lists_exit_2(tmp_path: Path) -> None:
    current = fake_report().save(tmp_path / "report.json")
    missing = runner.invoke(
        app, ["bench", "--report", str(current), "--baseline", str(tmp_path / "nope.json")]
    )
    assert missing.exit_code == 2 and "no report at" in missing.output
    bad = runner.invoke(app, ["bench", "--batch-sizes", "1,x", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "positive integers" in bad.output

"""Report schema, accuracy metrics, summary, table and Markdown, on synthetic rows."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from bench_fakes import KERAS_ACCURACY, fake_report, fake_row, fake_rows
from rich.console import Console
from runtime_fixtures import EDGE_FILES

from mnistedge.bench.goals import GOALS, check_goals
from mnistedge.bench.render import COLUMNS, best_cells, render_markdown, render_table, sort_rows
from mnistedge.bench.report import SCHEMA_VERSION, BenchRow, Report, load_report
from mnistedge.bench.runner import model_target
from mnistedge.bench.summary import explain, summarize
from mnistedge.train.archs import ARCHS

# The documented report.json row fields (README): renaming one breaks old baselines.
DOCUMENTED_ROW_FIELDS = {
    "artifact",
    "format",
    "quantization",
    "engine",
    "call",
    "provider",
    "threads",
    "batch_size",
    "status",
    "error",
    "size_bytes",
    "load_ms",
    "cold_ms",
    "warmup",
    "n_samples",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "min_ms",
    "max_ms",
    "throughput_ips",
    "raw_p50_ms",
    "overhead_ratio",
    "speedup_vs_keras",
    "peak_memory_mb",
    "n_test",
    "accuracy",
    "accuracy_delta_pp",
    "agreement",
    "flipped",
    "per_class_accuracy",
    "per_class_delta_pp",
    "target",
    "native_agreement",
    "native_max_abs_prob_diff",
    "native_accuracy_delta_pp",
    "threads_engaged",
    "cold_start_ms",
    "transfer_bytes",
    "transfer_gzip_bytes",
    "arena_bytes",
    "flash_bytes",
    "ram_bytes",
    "bit_exact",
    "instructions_per_inference",
    "instructions_per_mac",
}


def test_report_round_trips_through_json(tmp_path: Path) -> None:
    report = fake_report()
    path = report.save(tmp_path / "report.json")
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert set(data) == {"schema_version", "created", "wall_seconds", "env", "config", "summary", "rows"}
    assert set(data["rows"][0]) == DOCUMENTED_ROW_FIELDS
    loaded = load_report(path)
    assert loaded.rows == report.rows
    assert loaded.env == report.env
    assert loaded.summary == json.loads(json.dumps(report.summary))


def test_row_from_dict_tolerates_new_fields_and_names_missing_ones() -> None:
    row = fake_row()
    assert BenchRow.from_dict({**row.to_dict(), "added_in_a_later_version": 1}) == row
    with pytest.raises(ValueError, match=r"lacks \['batch_size'\]"):
        BenchRow.from_dict({"artifact": "m.tflite", "format": "tflite", "engine": "litert"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no report at"),
        ("not json {", "is not a JSON report"),
        ('{"schema_version": 1}', "not a mnistedge bench report"),
        ('{"schema_version": 99, "rows": []}', "schema_version is 99"),
    ],
)
def test_load_report_errors_say_what_is_wrong(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        load_report(path)


def test_summary_picks_the_figures_from_the_rows() -> None:
    rows = fake_rows()
    summary = summarize(rows)
    batch1 = [r for r in rows if r.batch_size == 1 and r.engine != "keras"]
    fastest = min(batch1, key=lambda r: r.p50_ms)
    assert summary["fastest_batch1"]["artifact"] == fastest.artifact == "model_int8.tflite"
    assert summary["float_accuracy"] == KERAS_ACCURACY
    int8 = summary["quantized"]["model_int8.tflite"]
    assert int8["accuracy_delta_pp"] == pytest.approx(100 * (0.9935 - KERAS_ACCURACY))
    assert int8["size_ratio"] == pytest.approx(42_000 / 140_000)
    assert summary["quantized"]["model_int8.onnx"]["size_ratio"] == pytest.approx(60_000 / 139_000)
    assert summary["overhead_ratio"] == {"litert": pytest.approx(1.08), "onnxruntime": pytest.approx(1.08)}
    largest = [r for r in rows if r.batch_size == 64 and r.engine != "keras"]
    assert summary["best_throughput"]["throughput_ips"] == max(r.throughput_ips for r in largest)
    text = explain(summary)
    assert "99.40 %" in text and "model_int8.tflite" in text and "-0.05 pp" in text
    assert "litert 1.08x" in text


def test_summary_without_keras_reference_says_so() -> None:
    rows = [r for r in fake_rows() if r.engine != "keras"]
    summary = summarize(rows)
    assert summary["float_accuracy"] is None
    assert "No Keras reference" in explain(summary)


def test_goals_read_the_summary() -> None:
    results = {g.name: g for g in check_goals(summarize(fake_rows()))}
    assert len(results) == len(GOALS) + 1  # + the model's own accuracy target
    no_target = results["float accuracy (Keras)"]  # no train.json: reported, not judged
    assert no_target.met is None and no_target.text == "99.40 %" and "no train.json" in no_target.target
    assert results["int8 TFLite accuracy delta"].met is True  # -0.05 pp
    assert results["int8 ONNX accuracy delta"].met is False  # -0.15 pp
    assert results["int8 TFLite size / fp32"].text == "0.30x"
    assert results["int8 ONNX size / fp32"].met is None  # information only
    empty = check_goals({})
    assert all(g.met is None and g.text == "n/a" for g in empty)


def _target(arch: str, value: float | None = None) -> dict:
    return {**ARCHS[arch].target.to_dict(), "arch": arch, "value": value}


@pytest.mark.parametrize(
    ("arch", "recorded", "name", "met"),
    [
        ("cnn", None, "Keras test accuracy (cnn target)", True),  # 99.40 % >= 99.4 %
        ("tiny", None, "Keras test accuracy (tiny target)", True),  # >= 99.0 %
        (
            "tutorial-dense128",
            None,
            "Keras test accuracy (tutorial-dense128 target)",
            False,
        ),  # above ~97-98 %
        ("tutorial-relu10x2", 0.9536, "Keras training accuracy (tutorial-relu10x2 target, train.json)", True),
        ("tutorial-relu10x2", 0.95, "Keras training accuracy (tutorial-relu10x2 target, train.json)", False),
    ],
)
def test_the_accuracy_goal_is_the_models_own_target(arch: str, recorded, name: str, met: bool) -> None:
    summary = summarize(fake_rows(), _target(arch, recorded))
    goal = check_goals(summary)[0]
    assert (goal.name, goal.target, goal.met) == (name, ARCHS[arch].target.stated, met)
    assert goal.value == (recorded if recorded is not None else KERAS_ACCURACY)


def test_run_bench_reads_the_target_beside_the_model(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text(json.dumps({"arch": "tiny", "target": _target("tiny", 0.993)}))
    assert model_target(tmp_path / "model.keras") == _target("tiny", 0.993)
    assert model_target(tmp_path / "elsewhere" / "model.keras") is None
    (tmp_path / "train.json").write_text("{not json")
    assert model_target(tmp_path / "model.keras") is None


def test_best_cells_compare_latency_within_a_batch_size() -> None:
    rows = sort_rows(fake_rows())
    best = best_cells(rows)
    p50_best = {rows[i].batch_size: rows[i] for i, header in best if header == "p50"}
    for batch, row in p50_best.items():
        same_batch = [r.p50_ms for r in rows if r.batch_size == batch]
        assert row.p50_ms == min(same_batch)
    size_best = [rows[i] for i, header in best if header == "Size"]
    assert {r.artifact for r in size_best} == {"model_dynamic.tflite"}
    # sorted: batch size ascending, then fastest first
    keys = [(r.batch_size, r.p50_ms) for r in rows]
    assert keys == sorted(keys)


def test_failed_rows_sort_last_and_show_their_error() -> None:
    failed = fake_row(
        artifact="broken.onnx", status="failed", error="exit code -11: boom", p50_ms=None, accuracy=None
    )
    report = fake_report([*fake_rows(), failed])
    assert sort_rows(report.rows)[-1] is failed
    console = Console(record=True, width=250)
    console.print(render_table(report))
    text = console.export_text()
    assert "failed: exit code -11: boom" in text
    assert "broken.onnx" in render_markdown(report)


def test_table_and_markdown_show_every_row() -> None:
    report = fake_report()
    console = Console(record=True, width=250)
    console.print(render_table(report))
    text = console.export_text()
    markdown = render_markdown(report, ["latency.png"])
    for name in (*EDGE_FILES, "Keras model(x)"):
        assert name in text and name in markdown
    table_lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(table_lines) == 1 + len(report.rows) + 1 + len(GOALS) + 1  # headers + rows + goals + target
    # Aligned by column kind: words left (Model .. Threads on), numbers right (Thr onwards).
    align = next(line for line in markdown.splitlines() if line.startswith("|---") and line.count("|") > 10)
    kinds = align.strip("|").split("|")
    assert kinds[:6] == ["---"] * 6 and set(kinds[6:]) == {"---:"}
    assert [c.header for c in COLUMNS][4:7] == ["Target", "Threads on", "Thr"]
    assert [c.header for c in COLUMNS][3] == "Provider"
    assert f"| {' | '.join(c.header for c in COLUMNS)} |" in markdown
    assert "## What this means" in markdown and "![latency.png](latency.png)" in markdown
    assert "**" in markdown  # best figures are bold


def test_report_and_rows_are_frozen_and_survive_json_whole() -> None:
    report = fake_report()
    row = report.rows[0]
    for obj in (report, row, report.env):
        for f in dataclasses.fields(obj):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(obj, f.name, None)
    assert isinstance(report.rows, tuple)  # a list could still be changed in place
    # Every field, nested ones included, comes back equal from the JSON text: nothing lost or retyped.
    assert Report.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    assert BenchRow.from_dict(json.loads(json.dumps(row.to_dict()))) == row


def test_public_surface_and_light_import() -> None:
    import subprocess
    import sys

    import mnistedge.bench as bench

    assert set(bench.__all__) == {
        "SCHEMA_VERSION", "BenchConfig", "BenchRow", "ChildFailedError", "Environment",
        "LatencyStats", "Regression", "Report", "capture_env", "check_goals", "check_regressions",
        "discover_artifacts", "load_report", "run_bench", "time_calls", "time_interleaved",
        "write_outputs",
    }  # fmt: skip
    assert all(hasattr(bench, name) for name in bench.__all__)
    code = (
        "import sys, mnistedge.bench, mnistedge.bench._cli, mnistedge.bench._run_cli; "
        "print([m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_c_rows_sit_beside_tflm_in_the_summary_goals_and_markdown() -> None:
    tflm = fake_row(artifact="tflm/model_int8.tflite", target="tflm", provider="reference",
                    arena_bytes=18_336, flash_bytes=77_008, native_agreement=1.0)  # fmt: skip
    c = {"artifact": "c/mnist_model.c", "format": "c", "quantization": "int8", "target": "c",
         "flash_bytes": 73_984, "ram_bytes": 10_284, "bit_exact": True}  # fmt: skip
    host = fake_row(provider="host", **c)
    m4 = fake_row(provider="cortex-m4", n_test=1000, p50_ms=None, instructions_per_inference=6_191_061.1,
                  instructions_per_mac=1.634, **c)  # fmt: skip
    report = fake_report([*fake_rows(), tflm, host, m4])
    summary = report.summary["c"]
    assert (summary["bit_exact"], summary["m4_bit_exact"], summary["m4_images"]) == (True, True, 1000)
    assert summary["instructions_per_mac"] == 1.634
    assert summary["ram_vs_tflm_arena"] == pytest.approx(10_284 / 18_336)
    goals = {g.name: g for g in check_goals(report.summary) if g.name.startswith("C:")}
    assert len(goals) == 3 and all(g.met for g in goals.values())
    text = explain(report.summary)
    assert "bit-exact with LiteRT's reference kernels" in text and "1.63 per MAC" in text
    markdown = render_markdown(report)
    assert "Instr/MAC" in markdown and "6,191,061" in markdown and "1.63" in markdown
    # A Cortex-M4 row that differs from the host is called out, and its goal fails.
    worse = fake_report(
        [*fake_rows(), tflm, host, dataclasses.replace(m4, bit_exact=False, instructions_per_mac=2.5)]
    )
    assert "DIFFER" in explain(worse.summary)
    assert not next(g for g in check_goals(worse.summary) if "per MAC" in g.name).met

"""`export --format tflm`: the folder, tflm.json, TFLM against LiteRT, refusals, and the bench row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mnistedge.cli import app
from mnistedge.core.manifest import read_manifest

pytest.importorskip("tensorflow")
pytest.importorskip("tflite_micro", reason="TFLM's interpreter: pip install 'mnistedge[micro]'")
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_tflm(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path, tiny_data) -> Path:
    """The tiny model's tflm/ folder, built from the Keras model (int8 exported first), verified."""
    from mnistedge.export.tflm import export_tflm

    out = tmp_path_factory.mktemp("tflm_export")
    export_tflm(tiny_model_path, out_dir=out, data=tiny_data, verify=False, name="digits")
    # Verified on the tiny test set too, from the int8 file now in the export root.
    export_tflm(out / "model_int8.tflite", out_dir=out, data=tiny_data, verify=True, name="digits")
    return out


def test_folder_holds_sources_record_and_the_flatbuffer(tiny_tflm: Path) -> None:
    folder = tiny_tflm / "tflm"
    assert sorted(p.name for p in folder.iterdir()) == [
        "model_data.cc", "model_data.h", "model_int8.tflite", "model_ops.h", "tflm.json",
    ]  # fmt: skip
    header = (folder / "model_data.h").read_text()
    assert "extern const unsigned char g_digits[];" in header and "g_digits_len" in header
    assert "alignas(16) const unsigned char g_digits[]" in (folder / "model_data.cc").read_text()
    assert "digits_register_ops" in (folder / "model_ops.h").read_text()
    assert (folder / "model_int8.tflite").read_bytes() == (tiny_tflm / "model_int8.tflite").read_bytes()


def test_record_has_ops_arena_boards_and_fidelity(tiny_tflm: Path, tiny_data) -> None:
    from mnistedge.export.tflm.sources import TFLM_ADD, model_ops, parse_ops_header

    folder = tiny_tflm / "tflm"
    record = json.loads((folder / "tflm.json").read_text())
    assert record["schema_version"] == 2 and record["name"] == "digits"
    assert record["ops"] == model_ops(folder / "model_int8.tflite") and record["op_count"] == len(
        record["ops"]
    )
    count, calls = parse_ops_header((folder / "model_ops.h").read_text())
    assert (count, calls) == (record["op_count"], [TFLM_ADD[op] for op in record["ops"]])
    assert record["flash_bytes"] == (folder / "model_int8.tflite").stat().st_size
    assert (record["input"]["dtype"], record["output"]["dtype"]) == ("int8", "int8")
    arena = record["arena"]
    assert arena["host_measured"] is True and arena["minimum_bytes"] % 16 == 0
    assert arena["recommended_bytes"] % 16 == 0 and arena["recommended_bytes"] > arena["minimum_bytes"]
    assert arena["estimated_32bit_bytes"] < arena["minimum_bytes"]  # smaller pointers on a Cortex-M
    boards = {b["board"]: b for b in record["boards"]}
    assert len(boards) >= 5 and all(b["fits"] for b in boards.values())  # 15 KB model, 5 KB arena
    assert record["runtime_estimate"]["estimate"] is True
    fidelity = {c["against"]: c for c in record["fidelity"]}
    assert set(fidelity) == {"reference", "cpu", "xnnpack"}
    # TFLM runs TFLite's reference kernels: bit-exact with LiteRT's BUILTIN_REF.
    assert fidelity["reference"]["outputs_differing"] == 0 and fidelity["reference"]["label_agreement"] == 1.0
    assert fidelity["reference"]["n"] == len(tiny_data.x_test)
    entry = read_manifest(tiny_tflm)["artifacts"]["tflm"]
    assert entry["format"] == "tflm" and entry["status"] == "ok" and entry["name"] == "digits"


def test_cli_writes_the_folder_and_prints_the_figures(tiny_tflm: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["export", "--format", "tflm", "--model", str(tiny_tflm / "model_int8.tflite"),
         "--out", str(tmp_path), "--no-verify", "--name", "foo"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "arena (host-measured): minimum" in text and "fits:" in text and "ops (" in text
    assert "g_foo" in (tmp_path / "tflm" / "model_data.h").read_text()


@pytest.mark.parametrize("kind", ["float", "not_tflite", "uint8_io"])
def test_wrong_model_gets_an_error_naming_the_artifact_to_use(
    kind: str, tiny_export: Path, tiny_model_path: Path, tiny_data, tmp_path: Path
) -> None:
    if kind == "float":
        model = tiny_export / "model.tflite"
    elif kind == "not_tflite":
        model = tmp_path / "model.tflite"
        model.write_bytes(b"definitely not a flatbuffer" * 10)
    else:
        from mnistedge.export import export_artifact

        model = export_artifact(tiny_model_path, "tflite", quantize="int8", io_type="uint8",
                                out_dir=tmp_path / "uint8", data=tiny_data, verify=False).path  # fmt: skip
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "--format", "tflm", "--model", str(model), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "model_int8.tflite" in result.output and "--quantize int8" in " ".join(result.output.split())
    assert not (out / "tflm").exists()


def test_bad_names_and_flags_exit_2(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["export", "--format", "tflm", "--name", "9lives", "--out", str(tmp_path)])
    assert bad.exit_code in (1, 2) and "9lives" in bad.output
    flag = runner.invoke(app, ["export", "--format", "tflm", "--quantize", "int8", "--out", str(tmp_path)])
    assert flag.exit_code == 2 and "drop --quantize" in " ".join(flag.output.split())
    elsewhere = runner.invoke(app, ["export", "--format", "onnx", "--name", "x", "--out", str(tmp_path)])
    assert elsewhere.exit_code == 2 and "--name applies to --format tflm" in " ".join(
        elsewhere.output.split()
    )
    assert not any(tmp_path.iterdir())


def test_bench_row_runs_tflm_with_the_recommended_arena(tiny_tflm: Path, tiny_data) -> None:
    from mnistedge.bench.tflm import run_tflm_bench

    rows, env = run_tflm_bench(tiny_tflm / "tflm", tiny_data.x_test, tiny_data.y_test)
    (row,) = rows
    record = json.loads((tiny_tflm / "tflm" / "tflm.json").read_text())
    assert (row.target, row.engine.split()[0], row.provider, row.batch_size) == (
        "tflm",
        "TFLM",
        "reference",
        1,
    )
    assert (
        row.arena_bytes == record["arena"]["recommended_bytes"] and row.flash_bytes == record["flash_bytes"]
    )
    assert row.native_agreement == 1.0 and row.native_max_abs_prob_diff == 0.0
    assert row.n_test == len(tiny_data.x_test) and row.n_samples == len(tiny_data.x_test) - 10
    assert 0 < row.p50_ms <= row.p99_ms and env["arena"]["minimum_bytes"] == record["arena"]["minimum_bytes"]


def test_tflm_with_less_arena_fails_clearly(tiny_tflm: Path, tiny_data) -> None:
    from mnistedge.export.tflm.arena import ArenaTooSmallError, run_with_arena
    from mnistedge.export.tflm.fidelity import quantize_images

    record = json.loads((tiny_tflm / "tflm" / "tflm.json").read_text())
    model = tiny_tflm / "tflm" / "model_int8.tflite"
    images = quantize_images(tiny_data.x_test[:5], record["input"]["scale"], record["input"]["zero_point"])
    assert run_with_arena(model, record["arena"]["recommended_bytes"], images).shape == (5, 10)
    with pytest.raises(
        ArenaTooSmallError, match=f"needs at least {record['arena']['minimum_bytes']:,} bytes"
    ):
        run_with_arena(model, record["arena"]["minimum_bytes"] - 1024, images)


@pytest.mark.integration
def test_real_mnist_tflm_agrees_with_litert_on_every_test_image(
    mnist_model: Path, mnist, tmp_path: Path
) -> None:
    """The acceptance figure: TFLM vs LiteRT's two kernel sets on the 10,000 test images."""
    from mnistedge.export.tflm import export_tflm

    bundle = export_tflm(mnist_model, out_dir=tmp_path, data=mnist, verify=True)
    fidelity = {c["against"]: c for c in bundle.record["fidelity"]}
    print({k: (v["label_agreement"], v["outputs_differing"], v["max_lsb"]) for k, v in fidelity.items()})
    assert fidelity["reference"]["n"] == 10_000
    # Measured on this model: labels 100 %; 8 of 100,000 int8 outputs differ from BUILTIN_REF (max 6
    # LSB; 0 on the default cnn), 143 from XNNPACK (max 10 LSB, one label).
    for against in ("reference", "cpu", "xnnpack"):
        assert fidelity[against]["label_agreement"] >= 0.999
        assert fidelity[against]["outputs_differing"] <= 0.005 * 10 * 10_000
    for c in fidelity.values():  # accuracies can differ by no more than the labels that differ
        assert abs(c["accuracy"] - c["litert_accuracy"]) <= c["labels_differing"] / c["n"] + 1e-12
    assert abs(fidelity["reference"]["accuracy"] - bundle.models[0].fidelity.accuracy) <= 0.001
    shutil.rmtree(tmp_path / "tflm")

"""`mnistedge predict` and `mnistedge inspect` through Typer's CliRunner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from digit_images import render_stroke_digit
from PIL import Image
from typer.testing import CliRunner

from mnistedge.cli import app
from mnistedge.runtime import load
from mnistedge.runtime.preprocess import preprocess_file

runner = CliRunner()


@pytest.fixture()
def photos(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for digit in (2, 7):
        path = tmp_path / f"photo{digit}.jpg"
        render_stroke_digit(digit, rng).save(path)
        paths.append(path)
    return paths


def test_predict_prints_digit_and_top3(artifacts, photos) -> None:
    model = artifacts["model_int8.tflite"]
    result = runner.invoke(app, ["predict", str(model), *map(str, photos)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "top-3" in line]
    assert len(lines) == 2
    expected = load(model).predict(np.stack([preprocess_file(p) for p in photos]))
    for line, photo, digit in zip(lines, photos, expected, strict=True):
        assert line.startswith(f"{photo}: {digit}   (top-3 {digit}: ")


def test_predict_json_and_show(artifacts, photos) -> None:
    model = artifacts["model.onnx"]
    result = runner.invoke(app, ["predict", str(model), str(photos[0]), "--json", "--show"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    (r,) = doc["results"]
    assert doc["info"]["engine"] == "onnxruntime" and r["image"] == str(photos[0])
    assert r["top3"][0]["digit"] == r["digit"] == int(np.argmax(r["probabilities"]))
    assert r["top3"][0]["probability"] >= r["top3"][1]["probability"] >= r["top3"][2]["probability"]
    shown = Path(r["preprocessed"])
    assert shown == photos[0].with_name("photo2.mnist.png")
    np.testing.assert_array_equal(np.asarray(Image.open(shown)), preprocess_file(photos[0]))


def test_predict_npy_batch_raw(artifacts, tiny_data, tmp_path) -> None:
    model = artifacts["model.tflite"]
    np.save(tmp_path / "batch.npy", tiny_data.x_test[:5])
    result = runner.invoke(app, ["predict", str(model), str(tmp_path / "batch.npy"), "--raw", "--json"])
    assert result.exit_code == 0, result.output
    digits = [r["digit"] for r in json.loads(result.output)["results"]]
    assert digits == load(model).predict(tiny_data.x_test[:5]).tolist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere.tflite", "x.png"], "No such file"),
        (["{model}", "{tmp}/missing.png"], "missing.png"),
        (["{model}", "{tmp}/notes.txt"], "unsupported image type"),
        (["{model}", "{tmp}/blank.png"], "blank.png: no digit found"),
        (["{model}", "{tmp}/blank.png", "--raw"], "--raw needs a 28x28 image"),
        (["{model}", "{tmp}/blank.png", "--provider", "gpu-please"], "unknown provider"),
    ],
)
def test_predict_errors_exit_1_with_the_reason(args, message, artifacts, tmp_path) -> None:
    Image.new("L", (64, 64), 255).save(tmp_path / "blank.png")
    (tmp_path / "notes.txt").write_text("hi")
    argv = [a.format(model=artifacts["model.tflite"], tmp=tmp_path) for a in args]
    result = runner.invoke(app, ["predict", *argv])
    assert result.exit_code == 1
    assert message in result.output


def test_inspect_table_and_json(artifacts) -> None:
    model = artifacts["model_int8.tflite"]
    result = runner.invoke(app, ["inspect", str(model)])
    assert result.exit_code == 0, result.output
    for text in ("tflite (int8)", "manifest", "verified", "CONV_2D", "zero-point -128", "litert"):
        assert text in result.output
    doc = json.loads(runner.invoke(app, ["inspect", str(model), "--json"]).output)
    assert doc["input"]["dtype"] == "int8" and doc["op_counts"]["CONV_2D"] >= 1
    assert doc["manifest"] == "verified" and doc["sha256"] == doc["manifest_sha256"]
    onnx_doc = json.loads(runner.invoke(app, ["inspect", str(artifacts["model.onnx"]), "--json"]).output)
    assert (
        onnx_doc["op_counts"]["Softmax"] == 1 and onnx_doc["op_counts_note"] is None
    )  # no onnx package needed


def test_inspect_reports_a_manifest_mismatch_and_refuses_non_models(artifacts, tmp_path) -> None:
    src = artifacts["model.tflite"]
    shutil.copy(src.parent / "manifest.json", tmp_path / "manifest.json")
    (tmp_path / src.name).write_bytes(src.read_bytes() + b"\0\0\0\0")
    doc = json.loads(runner.invoke(app, ["inspect", str(tmp_path / src.name), "--json"]).output)
    assert doc["manifest"] == "mismatch" and doc["manifest_sha256"] != doc["sha256"]
    (tmp_path / "junk.onnx").write_bytes(b"junk" * 10)
    result = runner.invoke(app, ["inspect", str(tmp_path / "junk.onnx")])
    assert result.exit_code == 1 and "not a valid onnx model" in result.output

"""`mnistedge export` through Typer's CliRunner: exit codes, output, files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mnistedge.cli import app


def _export(*args: str) -> object:
    return CliRunner().invoke(app, ["export", *args])


def test_export_tflite(tiny_model_path: Path, tiny_npz: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    result = _export("--format", "tflite", "--model", str(tiny_model_path), "--out", str(tmp_path),
                     "--source", str(tiny_npz))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "model.tflite" in result.output and "100.00%" in result.output and "ok" in result.output
    entry = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]["model.tflite"]
    assert entry["status"] == "ok" and entry["fidelity"]["n"] == 200
    assert (tmp_path / "model.tflite").stat().st_size == entry["size_bytes"]


def test_fidelity_miss_exits_1_with_the_figures(
    tiny_model_path: Path, tiny_npz: Path, tmp_path: Path
) -> None:
    pytest.importorskip("tensorflow")
    result = _export("--format", "tflite", "--quantize", "int8", "--max-prob-diff", "0",
                     "--min-agreement", "1", "--calibration-samples", "100", "--model", str(tiny_model_path),
                     "--out", str(tmp_path), "--source", str(tiny_npz))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "Fidelity check failed" in result.output and "max|Δp|" in result.output
    entry = json.loads((tmp_path / "manifest.json").read_text())["artifacts"]["model_int8.tflite"]
    assert entry["status"] == "failed" and (tmp_path / "model_int8.tflite").is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--format", "coreml"], ["'tflite', 'onnx', 'saved_model', 'web', 'tflm', 'c', 'all'"]),
        (["--format", "tflite", "--quantize", "int4"], ["'none', 'fp16', 'dynamic', 'int8', 'int16x8'"]),
        (
            ["--format", "onnx", "--quantize", "int16x8"],
            ["onnx does not support", "onnx: none, fp16, dynamic, int8"],
        ),
        (["--format", "saved_model", "--quantize", "int8"], ["saved_model: none"]),
        (["--format", "all", "--quantize", "int8"], ["drop --quantize"]),
        (
            ["--format", "onnx", "--io-type", "uint8"],
            ["Unknown option(s) ['io_type'] for onnx", "Valid options: opset"],
        ),
        (["--format", "tflite", "--opset", "13"], ["Unknown option(s) ['opset'] for tflite"]),
        (["--format", "onnx", "--opset", "9"], ["opset must be an integer in 13..18"]),
        (
            ["--format", "tflite", "--quantize", "int8", "--calibration-method", "entropy"],
            ["Supported for tflite: minmax."],
        ),
    ],
)
def test_bad_choices_exit_2_listing_the_valid_ones(
    args: list[str], expected: list[str], tmp_path: Path
) -> None:
    result = _export(*args, "--model", str(tmp_path / "never-read.keras"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())  # rich wraps the error box
    text = text.replace("│", "").replace("  ", " ")
    for needle in expected:
        assert " ".join(needle.split()) in " ".join(text.split()), result.output
    assert not (tmp_path / "out").exists()


def test_missing_model_exits_1(tmp_path: Path, tiny_npz: Path) -> None:
    pytest.importorskip("tensorflow")
    result = _export("--format", "onnx", "--model", str(tmp_path / "nope.keras"), "--source", str(tiny_npz))
    assert result.exit_code == 1
    assert "No Keras model at" in result.output and "mnistedge train" in result.output


def test_missing_tensorflow_exits_1_with_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # makes `import tensorflow` raise ImportError
    result = _export("--format", "tflite", "--model", str(tmp_path / "model.keras"))
    assert result.exit_code == 1
    assert "pip install 'mnistedge[export]'" in result.output
